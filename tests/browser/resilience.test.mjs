// The connection goes away mid-conversation (the browser goes offline; the server restarts)
// while the other side keeps writing. Afterwards every message is shown exactly once, in
// order, on both sides, and what was written meanwhile has been sent.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  launchBrowser,
  pairInConversation,
  send,
  shownMessages,
  showsExactly,
  sleep,
  startServer,
} from "./helpers.mjs";

let server;
let browser;
let alice;
let bob;
let a;
let b;
const expected = [];

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  ({ alice, bob, a, b } = await pairInConversation(browser, server, server, "Before"));
  expected.push("Before");
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Both sides show exactly `list`, all confirmed: nothing pending, nothing twice. */
async function bothShowExactly(list, timeout = 15_000) {
  for (const page of [a.page, b.page]) await showsExactly(page, list, timeout);
}

test("the network drops: the other side's messages arrive once, in order, and ours go out", async () => {
  await bothShowExactly(expected);
  await a.context.setOffline(true);
  await a.page.locator(".banner", { hasText: "offline" }).waitFor({ timeout: 2000 });

  for (const text of ["While you were away 1", "While you were away 2", "While you were away 3"]) {
    await send(b.page, text);
    expected.push(text);
  }
  await b.page.locator(".message.pending").first().waitFor({ state: "detached" });

  // Alice writes while offline: shown pending, sent once the network is back.
  await send(a.page, "Written offline");
  await a.page.locator(".message.pending", { hasText: "Written offline" }).waitFor();
  await sleep(1200); // a failed attempt or two, retried with the same key
  assert.equal(await a.page.locator(".message .body", { hasText: "While you were away" }).count(), 0);

  await a.context.setOffline(false);
  expected.push("Written offline");
  await bothShowExactly(expected);
  await a.page.locator(".banner").waitFor({ state: "hidden" });
});

test("the server restarts: nothing is lost or doubled, sends made meanwhile go through", async () => {
  await server.stop();
  await a.page.locator(".banner", { hasText: "Reconnecting" }).waitFor({ timeout: 5000 });
  // Bob writes while the server is down: pending, retried with the same keys.
  for (const text of ["During the restart 1", "During the restart 2"]) {
    await send(b.page, text);
    expected.push(text);
  }
  await b.page.locator(".message.pending", { hasText: "During the restart 2" }).waitFor();
  await sleep(1000);
  await server.start();

  await bothShowExactly(expected, 30_000);
  for (const page of [a.page, b.page])
    await page.locator(".banner").waitFor({ state: "hidden", timeout: 15_000 });

  // And the conversation goes on, live.
  const started = Date.now();
  await send(a.page, "Back to normal");
  expected.push("Back to normal");
  await b.page
    .locator(".message:not(.pending) .body", { hasText: "Back to normal" })
    .waitFor({ timeout: 1000 });
  assert.ok(Date.now() - started < 1000);
  await bothShowExactly(expected);

  // A reload after all this shows the same history (the server's truth, not the client's).
  await a.page.reload();
  await a.page.locator(".message .body", { hasText: "Back to normal" }).waitFor();
  assert.deepEqual(await shownMessages(a.page), expected);
  assert.deepEqual(a.page.problems, []);
  assert.deepEqual(b.page.problems, []);
});
