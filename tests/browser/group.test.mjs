// A group of three, made and managed from the web client: live messages for everyone,
// notices as system lines, "seen by", adding, removing and renaming.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  launchBrowser,
  openAs,
  openConversation,
  registerUser,
  send,
  shownMessages,
  startServer,
  uniqueName,
} from "./helpers.mjs";

let server;
let browser;
let people; // { alice, bob, carol, dave }: users
let pages; // the same keys: { context, page }
const title = uniqueName("Trip");

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  const [alice, bob, carol, dave] = await Promise.all(
    ["alice", "bob", "carol", "dave"].map((label) => registerUser(server, label)),
  );
  people = { alice, bob, carol, dave };
  const [a, b, c] = await Promise.all([alice, bob, carol].map((user) => openAs(browser, server, user)));
  pages = { alice: a, bob: b, carol: c };
});

after(async () => {
  for (const { page } of Object.values(pages)) assert.deepEqual(page.problems, []);
  await browser?.close();
  await server?.close();
});

async function pickPerson(dialog, user) {
  await dialog.getByLabel(/Add (people|someone)/).fill(user.username);
  await dialog.getByRole("button", { name: new RegExp(user.username) }).click();
}

test("create a group of three; everyone chats live; notices are system lines", async () => {
  const { alice, bob, carol } = people;
  const a = pages.alice.page;
  await a.getByRole("button", { name: "New group" }).click();
  const dialog = a.getByRole("dialog", { name: "New group" });
  await dialog.getByLabel("Group name").fill(title);
  await pickPerson(dialog, bob);
  await pickPerson(dialog, carol);
  await dialog.getByRole("list", { name: "Members to add" }).getByText(carol.username).waitFor();
  await dialog.getByRole("button", { name: "Create group" }).click();
  await a.locator("#conversation-title", { hasText: title }).waitFor();
  await a.locator(".subtitle", { hasText: "3 members" }).waitFor();
  await a.locator(".notice", { hasText: "You created the group" }).waitFor();

  for (const name of ["bob", "carol"]) {
    const page = pages[name].page;
    await page.locator(".conversation-item", { hasText: title }).waitFor({ timeout: 2000 });
    await openConversation(page, title);
    await page.locator(".notice", { hasText: `${alice.username} created the group` }).waitFor();
  }

  const lines = [];
  for (const [name, text] of [
    ["alice", "Who is bringing the tent?"],
    ["bob", "I have one"],
    ["carol", "I will bring food"],
  ]) {
    const started = Date.now();
    await send(pages[name].page, text);
    lines.push(text);
    for (const other of Object.keys(pages)) {
      await pages[other].page
        .locator(".message:not(.pending) .body", { hasText: text })
        .waitFor({ timeout: 1000 });
    }
    assert.ok(Date.now() - started < 1000, `${text} reached everyone within a second`);
  }
  for (const { page } of Object.values(pages)) assert.deepEqual(await shownMessages(page), lines);

  // In a group, others' messages carry their sender's name.
  await pages.alice.page.locator(".message.theirs .sender", { hasText: bob.username }).waitFor();
  // Everyone has the group open, so Alice's message has been seen by both.
  await a.locator(".seen", { hasText: "Seen by" }).waitFor();
  const seen = await a.locator(".seen").textContent();
  assert.ok(seen.includes(bob.username) && seen.includes(carol.username), seen);
});

test("remove a member, add another, rename: live for everyone", async () => {
  const { alice, carol, dave } = people;
  const a = pages.alice.page;
  await a.getByRole("button", { name: "Members" }).click();
  const dialog = a.getByRole("dialog", { name: "Group members" });
  await dialog.getByRole("button", { name: `Remove ${carol.username} from the group` }).click();
  await dialog
    .getByRole("list", { name: "Members" })
    .getByText(carol.username)
    .waitFor({ state: "detached" });

  // Carol loses the group; the others see a notice.
  const c = pages.carol.page;
  await c.locator(".conversation-item", { hasText: title }).waitFor({ state: "detached" });
  await c.locator(".placeholder").waitFor();
  await pages.bob.page
    .locator(".notice", { hasText: `${alice.username} removed ${carol.username}` })
    .waitFor();

  // Dave is added and finds the group with its history.
  await pickPerson(dialog, dave);
  await dialog.getByRole("list", { name: "Members" }).getByText(dave.username).waitFor();
  const d = await openAs(browser, server, dave);
  pages.dave = d;
  await openConversation(d.page, title);
  await d.page.locator(".notice", { hasText: `${alice.username} added you` }).waitFor();
  await pages.bob.page.locator(".notice", { hasText: `${alice.username} added ${dave.username}` }).waitFor();
  assert.deepEqual((await shownMessages(d.page)).slice(0, 3), [
    "Who is bringing the tent?",
    "I have one",
    "I will bring food",
  ]);

  await dialog.getByLabel("Group name").fill(`${title} 2026`);
  await dialog.getByRole("button", { name: "Rename" }).click();
  await dialog.getByRole("button", { name: "Close" }).click();
  for (const name of ["alice", "bob", "dave"]) {
    await pages[name].page.locator("#conversation-title", { hasText: `${title} 2026` }).waitFor();
  }
  await pages.bob.page.locator(".notice", { hasText: `renamed the group to “${title} 2026”` }).waitFor();
  await pages.bob.page.locator(".subtitle", { hasText: "3 members" }).waitFor();
});

test("a group whose creation answer is lost is made once when the user tries again", async () => {
  const { bob } = people;
  const a = pages.alice.page;
  const name = uniqueName("Lost");
  const keys = [];
  let dropped = false;
  await a.route("**/v1/conversations", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    keys.push(route.request().headers()["idempotency-key"]);
    if (dropped) return route.continue();
    // The server makes the group, but the answer never reaches the browser.
    dropped = true;
    const response = await route.fetch();
    assert.equal(response.status(), 201);
    return route.abort("connectionreset");
  });
  await a.getByRole("button", { name: "New group" }).click();
  const dialog = a.getByRole("dialog", { name: "New group" });
  await dialog.getByLabel("Group name").fill(name);
  await pickPerson(dialog, bob);
  await dialog.getByRole("list", { name: "Members to add" }).getByText(bob.username).waitFor();
  await dialog.getByRole("button", { name: "Create group" }).click();
  await dialog.getByRole("alert").filter({ hasText: "Could not create the group" }).waitFor();
  await dialog.getByRole("button", { name: "Create group" }).click();
  await a.locator("#conversation-title", { hasText: name }).waitFor();
  await a.unroute("**/v1/conversations");

  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "the second attempt reuses the Idempotency-Key");
  await a.reload();
  await a.locator(".conversation-item", { hasText: name }).first().waitFor();
  assert.equal(await a.locator(".conversation-item", { hasText: name }).count(), 1, "one group");
});
