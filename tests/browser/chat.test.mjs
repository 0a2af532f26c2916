// Two people chatting in two browsers on one missive (SQLite): accounts and sessions, live
// delivery, hostile text, sending under a slow network, and what one can do to a message.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  PASSWORD,
  apiCall,
  composer,
  eventually,
  launchBrowser,
  logIn,
  openAs,
  openConversation,
  registerUser,
  send,
  shownMessages,
  showsExactly,
  sleep,
  startServer,
  uniqueName,
} from "./helpers.mjs";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

describe("accounts", () => {
  test("register, reload keeps the session, log out, log back in", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`${server.url}/`);
    await page.getByRole("button", { name: "Create an account" }).waitFor();
    assert.ok(Date.now() - started < 1000, `first screen in ${Date.now() - started} ms`);
    await page.getByRole("button", { name: "Create an account" }).click();
    const username = uniqueName("reg");
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("E-mail").fill(`${username}@example.com`);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("button", { name: "New chat" }).waitFor();
    await assert.doesNotReject(page.getByText(username).first().waitFor());

    // The access token lives in memory only; the refresh token survives the reload.
    const stored = await page.evaluate(() => Object.keys(localStorage));
    assert.deepEqual(stored, ["missive.refresh_token"]);
    await page.reload();
    await page.getByRole("button", { name: "New chat" }).waitFor();
    const rotated = await page.evaluate(() => localStorage.getItem("missive.refresh_token"));
    await page.reload();
    await page.getByRole("button", { name: "New chat" }).waitFor();
    assert.notEqual(
      await page.evaluate(() => localStorage.getItem("missive.refresh_token")),
      rotated,
      "refresh token rotates",
    );

    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("Username or e-mail").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("missive.refresh_token")), null);
    await page.reload();
    await page.getByLabel("Username or e-mail").fill(username);
    await page.getByLabel("Password").fill("wrong-password-1");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "not right" }).waitFor();
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("button", { name: "New chat" }).waitFor();
    await context.close();
  });

  test("refused tokens: one refresh for concurrent requests, each retried", async () => {
    const [alice, peer] = await Promise.all([registerUser(server, "exp"), registerUser(server, "peer")]);
    const direct = await apiCall(server, peer, "POST", "/v1/conversations", { peer_id: alice.id });
    await apiCall(
      server,
      peer,
      "POST",
      `/v1/conversations/${direct.id}/messages`,
      { content: "ping" },
      { "idempotency-key": "p1" },
    );
    const { context, page } = await openAs(browser, server, alice);
    let refreshes = 0;
    await page.route("**/v1/auth/refresh", (route) => {
      refreshes += 1;
      return route.continue();
    });
    // Opening a conversation loads its messages and members at once: refuse both, as the
    // server does once the access token has expired. (A token refreshed within the same
    // second can be byte-identical, so the refusals are counted, not matched on the token.)
    let refusals = 0;
    await page.route(/\/v1\/conversations\/\d+\/(messages|members)/, (route) => {
      if (refusals < 2) {
        refusals += 1;
        return route.fulfill({
          status: 401,
          contentType: "application/json",
          body: '{"detail":"Invalid token","code":"invalid_token"}',
        });
      }
      return route.continue();
    });
    await openConversation(page, peer.username);
    await page.locator(".message .body", { hasText: "ping" }).waitFor();
    assert.equal(refusals, 2);
    assert.equal(refreshes, 1, "one refresh serves both refused requests");
    await context.close();
  });
});

describe("live state", () => {
  test("logging out in one tab logs out the others", async () => {
    const user = await registerUser(server, "tabs");
    const { context, page } = await openAs(browser, server, user);
    const other = await context.newPage();
    await other.goto(`${server.url}/`);
    await other.getByRole("button", { name: "New chat" }).waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await other.getByLabel("Username or e-mail").waitFor();
    await context.close();
  });

  test("a reset from the stream makes the client refetch what it missed", async () => {
    const [reader, writer] = await Promise.all([
      registerUser(server, "reader"),
      registerUser(server, "writer"),
    ]);
    const direct = await apiCall(server, writer, "POST", "/v1/conversations", { peer_id: reader.id });
    await apiCall(
      server,
      writer,
      "POST",
      `/v1/conversations/${direct.id}/messages`,
      { content: "Seen live" },
      { "idempotency-key": "r1" },
    );
    const context = await browser.newContext();
    const page = await context.newPage();
    // Stand between the page and the server's WebSocket, able to lose events and say "reset".
    let socket = null;
    let losing = false;
    await page.routeWebSocket(/\/v1\/events\/ws/, (ws) => {
      socket = ws;
      const upstream = ws.connectToServer();
      ws.onMessage((message) => upstream.send(message));
      upstream.onMessage((message) => {
        if (losing && JSON.parse(message).type === "message.created") return;
        ws.send(message);
      });
    });
    await page.goto(`${server.url}/`);
    await logIn(page, reader.username);
    await openConversation(page, writer.username);
    await page.locator(".message .body", { hasText: "Seen live" }).waitFor();

    losing = true;
    await apiCall(
      server,
      writer,
      "POST",
      `/v1/conversations/${direct.id}/messages`,
      { content: "Lost on the way" },
      { "idempotency-key": "r2" },
    );
    await sleep(500);
    assert.equal(await page.locator(".message .body", { hasText: "Lost on the way" }).count(), 0);

    const { head } = await apiCall(server, reader, "GET", "/v1/events");
    losing = false;
    socket.send(JSON.stringify({ type: "reset", head, floor: 0 }));
    await page.locator(".message .body", { hasText: "Lost on the way" }).waitFor();
    assert.deepEqual(await shownMessages(page), ["Seen live", "Lost on the way"]);
    await page.locator(".conversation-item", { hasText: "Lost on the way" }).waitFor();
    await context.close();
  });
});

describe("two people", () => {
  let alice;
  let bob;
  let a;
  let b;

  before(async () => {
    [alice, bob] = await Promise.all([registerUser(server, "alice"), registerUser(server, "bob")]);
    [a, b] = await Promise.all([openAs(browser, server, alice), openAs(browser, server, bob)]);
  });

  after(async () => {
    assert.deepEqual(a.page.problems, []);
    assert.deepEqual(b.page.problems, []);
    await a.context.close();
    await b.context.close();
  });

  test("find a user, start a chat, each sees the other's message live within a second", async () => {
    await a.page.getByRole("button", { name: "New chat" }).click();
    await a.page.getByLabel("Find people by username").fill(bob.username.slice(0, -1));
    await a.page.getByRole("button", { name: new RegExp(bob.username) }).click();
    await a.page.locator("#conversation-title", { hasText: bob.username }).waitFor();

    // Bob's list gets the conversation live, with its unread badge.
    await send(a.page, "Hello Bob");
    const item = b.page.locator(".conversation-item", { hasText: alice.username });
    await item.waitFor({ timeout: 1000 });
    await assert.doesNotReject(item.locator(".badge", { hasText: "1" }).waitFor({ timeout: 1000 }));
    await openConversation(b.page, alice.username);
    await b.page.locator(".message .body", { hasText: "Hello Bob" }).waitFor();
    await item.locator(".badge").waitFor({ state: "detached" });

    for (const [from, to, text] of [
      [b.page, a.page, "Hi Alice, how are you?"],
      [a.page, b.page, "Fine, thanks!"],
      [b.page, a.page, "Great"],
    ]) {
      const started = Date.now();
      await send(from, text);
      await to.locator(".message:not(.pending) .body", { hasText: text }).waitFor({ timeout: 1000 });
      assert.ok(Date.now() - started < 1000, `"${text}" arrived in ${Date.now() - started} ms`);
    }
    const expected = ["Hello Bob", "Hi Alice, how are you?", "Fine, thanks!", "Great"];
    assert.deepEqual(await shownMessages(a.page), expected);
    assert.deepEqual(await shownMessages(b.page), expected);

    // Both have read everything, so each sees "Seen" under their latest message.
    await a.page.locator(".seen", { hasText: "Seen" }).waitFor();
    await b.page.locator(".seen", { hasText: "Seen" }).waitFor();
  });

  test("new messages are announced to screen readers", async () => {
    await send(b.page, "Announce me");
    await eventually(
      () => a.page.locator("#announcer").textContent(),
      (text) => text.includes(`${bob.username}: Announce me`),
      { message: "the announcement" },
    );
  });

  test("Shift+Enter starts a new line, Enter sends", async () => {
    const box = composer(a.page);
    await box.fill("");
    await box.pressSequentially("Line one");
    await box.press("Shift+Enter");
    await box.pressSequentially("Line two");
    assert.equal(await box.inputValue(), "Line one\nLine two");
    await box.press("Enter");
    await b.page.locator(".message:not(.pending) .body", { hasText: "Line two" }).waitFor();
    const shown = await b.page
      .locator(".message .body", { hasText: "Line two" })
      .evaluate((el) => el.innerText);
    assert.equal(shown, "Line one\nLine two");
    assert.equal(await box.inputValue(), "");
  });

  test("phone width: one pane at a time, nothing wider than the screen", async () => {
    const phone = await openAs(browser, server, bob, { viewport: { width: 375, height: 700 } });
    const page = phone.page;
    const list = page.getByRole("navigation", { name: "Conversations" });
    await list.getByText(alice.username).waitFor();
    assert.equal(await page.locator(".conversation-pane").isVisible(), false);
    await openConversation(page, alice.username);
    assert.equal(await list.isVisible(), false);
    await send(page, "Sent from my phone");
    await a.page.locator(".message:not(.pending) .body", { hasText: "Sent from my phone" }).waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `page is ${width}px wide`);
    await page.getByRole("link", { name: "Back to conversations" }).click();
    await list.waitFor();
    // Focus returns to the conversation the user came from.
    assert.equal(
      await page.evaluate(() => document.activeElement?.closest(".conversation-item") !== null),
      true,
    );
    assert.deepEqual(page.problems, []);
    await phone.context.close();
  });

  test("typing shows on the other side", async () => {
    // The server passes on one typing notice per person every 3 s: type for longer than that.
    const typed = composer(a.page).pressSequentially("I am typing something long", { delay: 130 });
    await b.page
      .locator(".typing-line", { hasText: `${alice.username} is typing…` })
      .waitFor({ timeout: 5000 });
    await typed;
    await composer(a.page).fill("");
  });

  test("hostile text is shown as text, never as markup", async () => {
    const hostile = [
      `<script>window.__pwned = 1</script>`,
      `<img src=x onerror="window.__pwned = 2">`,
      `"><svg onload=window.__pwned=3> javascript:alert(1) <a href="javascript:alert(1)">x</a>`,
    ];
    for (const text of hostile) await send(a.page, text);
    for (const page of [a.page, b.page]) {
      for (const text of hostile) {
        await page.locator(".message:not(.pending) .body", { hasText: text }).waitFor();
      }
      const bodies = await shownMessages(page);
      assert.deepEqual(bodies.slice(-3), hostile);
      const injected = await page.evaluate(() => ({
        scripts: document.querySelectorAll(".messages script").length,
        images: document.querySelectorAll(".messages img, .messages svg").length,
        links: [...document.querySelectorAll(".messages a")].map((link) => link.href),
        pwned: window.__pwned ?? null,
      }));
      assert.deepEqual(injected, { scripts: 0, images: 0, links: [], pwned: null });
    }
  });

  test("links are clickable, safely", async () => {
    await send(b.page, "see https://example.com/path?q=1, and (http://example.org/x)");
    const links = a.page.locator(".message:not(.pending) .body a");
    await links.nth(1).waitFor();
    const attributes = await links.evaluateAll((all) =>
      all.map((link) => [link.getAttribute("href"), link.target, link.rel, link.textContent]),
    );
    assert.deepEqual(attributes, [
      ["https://example.com/path?q=1", "_blank", "noopener noreferrer", "https://example.com/path?q=1"],
      ["http://example.org/x", "_blank", "noopener noreferrer", "http://example.org/x"],
    ]);
  });

  test("a slow send is shown pending, then confirmed, exactly once", async () => {
    let posts = 0;
    await a.page.route("**/v1/conversations/*/messages", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      posts += 1;
      await new Promise((done) => setTimeout(done, 1500));
      return route.continue();
    });
    await send(a.page, "Through molasses");
    const pending = a.page.locator(".message.pending", { hasText: "Through molasses" });
    await pending.waitFor({ timeout: 500 });
    assert.match(await pending.locator(".status").textContent(), /Sending/);
    // Bob may see it before Alice's answer comes (the live event is faster): still once.
    await b.page.locator(".message .body", { hasText: "Through molasses" }).waitFor();
    await pending.waitFor({ state: "detached", timeout: 5000 });
    const confirmed = a.page.locator(".message:not(.pending) .body", { hasText: "Through molasses" });
    assert.equal(await confirmed.count(), 1);
    assert.equal(await a.page.locator(".message .body", { hasText: "Through molasses" }).count(), 1);
    assert.equal(await b.page.locator(".message .body", { hasText: "Through molasses" }).count(), 1);
    assert.equal(posts, 1);
    await a.page.unroute("**/v1/conversations/*/messages");
  });

  test("a send whose answer is lost is retried with the same key and stored once", async () => {
    const keys = [];
    let dropped = false;
    await a.page.route("**/v1/conversations/*/messages", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      keys.push(route.request().headers()["idempotency-key"]);
      if (!dropped) {
        // The server stores it, but the answer never reaches the browser.
        dropped = true;
        const response = await route.fetch();
        assert.equal(response.status(), 201);
        return route.abort("connectionreset");
      }
      return route.continue();
    });
    await send(a.page, "Said once");
    await eventually(
      () => keys.length,
      (n) => n >= 2,
      { message: "a retry" },
    );
    await a.page.locator(".message:not(.pending) .body", { hasText: "Said once" }).waitFor();
    await a.page.locator(".message.pending").waitFor({ state: "detached" });
    assert.equal(keys[0], keys[1], "the retry reuses the Idempotency-Key");
    for (const page of [a.page, b.page]) {
      await page.locator(".message .body", { hasText: "Said once" }).waitFor();
      assert.equal(await page.locator(".message .body", { hasText: "Said once" }).count(), 1);
    }
    await a.page.unroute("**/v1/conversations/*/messages");
  });

  test("a reload in the middle of a send sends it once, under the same key", async () => {
    const keys = [];
    await a.page.route("**/v1/conversations/*/messages", (route) => {
      if (route.request().method() !== "POST") return route.continue();
      keys.push(route.request().headers()["idempotency-key"]);
      return route.abort("connectionrefused");
    });
    await send(a.page, "Survives a reload");
    await a.page.locator(".message.pending", { hasText: "Survives a reload" }).waitFor();
    await eventually(
      () => keys.length,
      (n) => n >= 1,
    );
    await a.page.unroute("**/v1/conversations/*/messages");
    await a.page.route("**/v1/conversations/*/messages", (route) => {
      if (route.request().method() === "POST") keys.push(route.request().headers()["idempotency-key"]);
      return route.continue();
    });
    await a.page.reload();
    for (const page of [a.page, b.page]) {
      await page.locator(".message:not(.pending) .body", { hasText: "Survives a reload" }).waitFor();
      assert.equal(await page.locator(".message .body", { hasText: "Survives a reload" }).count(), 1);
    }
    assert.ok(keys.length >= 2 && keys.every((key) => key === keys[0]), `keys: ${keys}`);
    await a.page.unroute("**/v1/conversations/*/messages");
  });

  test("edit, edit history, delete for everyone, hide for me", async () => {
    await send(a.page, "Typo hree");
    const mine = a.page.locator(".message.mine:not(.pending)", { hasText: "Typo hree" });
    await mine.waitFor();
    await mine.hover();
    await mine.getByRole("button", { name: /Actions for your message/ }).click();
    await a.page
      .getByRole("dialog", { name: "Message" })
      .getByRole("button", { name: "Edit", exact: true })
      .click();
    await a.page.getByText("Editing message").waitFor();
    await composer(a.page).fill("Typo here");
    await composer(a.page).press("Enter");
    const edited = b.page.locator(".message", { hasText: "Typo here" });
    await edited.getByRole("button", { name: /Edited/ }).waitFor();
    await edited.getByRole("button", { name: /Edited/ }).click();
    const history = b.page.getByRole("dialog", { name: "Edit history" });
    await history.getByText("Typo hree").waitFor();
    await history.getByText("Typo here").waitFor();
    await history.getByRole("button", { name: "Close" }).click();

    // Delete for everyone: a tombstone on both sides.
    const target = a.page.locator(".message.mine", { hasText: "Typo here" });
    await target.hover();
    await target.getByRole("button", { name: /Actions/ }).click();
    await a.page.getByRole("button", { name: "Delete for everyone" }).click();
    await a.page
      .getByRole("dialog", { name: "Delete for everyone?" })
      .getByRole("button", { name: "Delete" })
      .click();
    await b.page.locator(".message.deleted .tombstone").last().waitFor();
    assert.equal(await b.page.locator(".message .body", { hasText: "Typo here" }).count(), 0);

    // Hide for me: gone for Bob only.
    const hideMe = b.page.locator(".message.theirs", { hasText: "Fine, thanks!" });
    await hideMe.hover();
    await hideMe.getByRole("button", { name: /Actions/ }).click();
    await b.page.getByRole("button", { name: "Hide for me" }).click();
    await hideMe.waitFor({ state: "detached" });
    assert.equal(await a.page.locator(".message .body", { hasText: "Fine, thanks!" }).count(), 1);
  });

  test("scrolling back loads older pages without gaps or repeats", async () => {
    const carol = await registerUser(server, "carol");
    const direct = await apiCall(server, carol, "POST", "/v1/conversations", { peer_id: bob.id });
    const texts = Array.from({ length: 130 }, (_, i) => `old message ${i + 1}`);
    for (const [i, content] of texts.entries()) {
      await apiCall(
        server,
        carol,
        "POST",
        `/v1/conversations/${direct.id}/messages`,
        { content },
        { "idempotency-key": `k${i}` },
      );
    }
    await openConversation(b.page, carol.username);
    await b.page.locator(".message .body", { hasText: "old message 130" }).waitFor();
    const scroller = b.page.locator(".scroller");
    await eventually(
      async () => {
        await scroller.evaluate((el) => {
          el.scrollTop = 0;
        });
        return b.page.locator(".history-start").isVisible();
      },
      Boolean,
      { message: "the beginning of the conversation", interval: 200 },
    );
    assert.deepEqual(await shownMessages(b.page), texts);
    // Back at the bottom, everything has been on screen: nothing is unread any more.
    await scroller.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await b.page
      .locator(".conversation-item", { hasText: carol.username })
      .locator(".badge")
      .waitFor({ state: "detached" });
  });
});

describe("a deleted account", () => {
  /** Deletes the account through the API, as `DELETE /v1/users/me` with its password. */
  async function deleteAccount(user) {
    const response = await fetch(`${server.url}/v1/users/me`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
      body: JSON.stringify({ password: PASSWORD }),
    });
    assert.equal(response.status, 204, await response.text());
  }

  const closedNotice = "This person deleted their account; you can read but not send.";
  let alice;
  let a;

  before(async () => {
    alice = await registerUser(server, "alice");
    a = await openAs(browser, server, alice);
  });

  after(async () => {
    assert.deepEqual(a.page.problems, []);
    await a.context.close();
  });

  /** The raw `deleted:<id>` name, or the account's old one, is shown nowhere. */
  async function noTraceOf(page, user) {
    const shown = await page.locator("body").innerText();
    assert.ok(!shown.includes("deleted:"), "the raw deleted:<id> name is not shown");
    assert.ok(!shown.includes(user.username), "nor the deleted account's old name");
  }

  test("a direct conversation closes: history kept, “Deleted user”, no composer", async () => {
    const bob = await registerUser(server, "bob");
    await apiCall(server, bob, "POST", "/v1/conversations", { peer_id: alice.id });
    const b = await openAs(browser, server, bob);
    await a.page.locator(".conversation-item", { hasText: bob.username }).waitFor();
    await Promise.all([openConversation(a.page, bob.username), openConversation(b.page, alice.username)]);
    await send(a.page, "Hello Bob");
    await b.page.locator(".message:not(.pending) .body", { hasText: "Hello Bob" }).waitFor();
    await send(b.page, "Goodbye, Alice");
    await a.page.locator(".message:not(.pending) .body", { hasText: "Goodbye, Alice" }).waitFor();

    await deleteAccount(bob);
    // Every session of his ends at once: his browser is back at the login screen.
    await b.page.getByLabel("Username or e-mail").waitFor({ timeout: 5000 });
    assert.deepEqual(b.page.problems, []);
    await b.context.close();

    // Alice hears nothing of it live: her next send is refused (409), shown as not sent, and
    // the conversation refetched, which shows it closed.
    await send(a.page, "Are you still there?");
    const refused = a.page.locator(".message.pending.failed", { hasText: "Are you still there?" });
    await refused.locator(".status", { hasText: "Not sent: this person deleted their account" }).waitFor();
    await a.page.getByText(closedNotice).waitFor();
    await composer(a.page).waitFor({ state: "hidden" });
    await a.page.locator("#conversation-title", { hasText: "Deleted user" }).waitFor();
    await refused.getByRole("button", { name: "Discard" }).click();
    await refused.waitFor({ state: "detached" });

    // After a reload it opens closed: the history, "Deleted user", the notice, no composer.
    await a.page.reload();
    await a.page.locator("#conversation-title", { hasText: "Deleted user" }).waitFor();
    await showsExactly(a.page, ["Hello Bob", "Goodbye, Alice"]);
    await a.page.getByText(closedNotice).waitFor();
    assert.equal(await composer(a.page).isVisible(), false);
    assert.equal(await a.page.getByRole("button", { name: "Send" }).isVisible(), false);
    await a.page.locator(".conversation-item", { hasText: "Deleted user" }).waitFor();
    // Nothing new goes in, edits included; deleting and hiding still work.
    const mine = a.page.locator(".message.mine", { hasText: "Hello Bob" });
    await mine.hover();
    await mine.getByRole("button", { name: /Actions for your message/ }).click();
    const actions = a.page.getByRole("dialog", { name: "Message" });
    await actions.getByRole("button", { name: "Delete for everyone" }).waitFor();
    assert.equal(await actions.getByRole("button", { name: "Edit", exact: true }).count(), 0);
    await a.page.keyboard.press("Escape");
    await actions.waitFor({ state: "hidden" });
    await noTraceOf(a.page, bob);
  });

  test("in a group, a deleted member's messages stay, from “Deleted user”", async () => {
    const [carol, dave] = await Promise.all([registerUser(server, "carol"), registerUser(server, "dave")]);
    const title = uniqueName("Club");
    const group = await apiCall(server, alice, "POST", "/v1/conversations", {
      kind: "group",
      title,
      member_ids: [carol.id, dave.id],
    });
    await apiCall(server, dave, "POST", "/v1/conversations", { peer_id: alice.id });
    await apiCall(
      server,
      dave,
      "POST",
      `/v1/conversations/${group.id}/messages`,
      { content: "Dave in the group" },
      { "idempotency-key": "g1" },
    );
    await openConversation(a.page, title);
    await a.page.locator(".message.theirs .sender", { hasText: dave.username }).waitFor();

    await deleteAccount(dave);
    // Live: he leaves the group, his name goes, and the direct chat with him closes.
    await a.page.locator(".notice", { hasText: "Deleted user left the group" }).waitFor();
    await a.page.locator(".message.theirs .sender", { hasText: "Deleted user" }).waitFor();
    await a.page.locator(".subtitle", { hasText: "2 members" }).waitFor();
    await a.page.locator(".conversation-item", { hasText: dave.username }).waitFor({ state: "detached" });

    // After a reload, his profile answers 404: still "Deleted user".
    await a.page.reload();
    await a.page.locator("#conversation-title", { hasText: title }).waitFor();
    await a.page.locator(".message.theirs .sender", { hasText: "Deleted user" }).waitFor();
    await a.page.locator(".notice", { hasText: "Deleted user left the group" }).waitFor();
    assert.deepEqual(await shownMessages(a.page), ["Dave in the group"]);
    await noTraceOf(a.page, dave);
    // The direct conversation with him is closed too.
    const deletedPeers = a.page.locator(".conversation-item .conversation-title", {
      hasText: /^Deleted user$/,
    });
    await deletedPeers.first().waitFor();
    assert.equal(await deletedPeers.count(), 2, "Bob's and Dave's");
  });
});
