// Saves screenshots of the web client's main screens to docs/screenshots/: the login, the
// conversation list beside an open conversation, a group, the dark theme, and phone width.
// Starts its own missive on a fresh SQLite file and fills it with a small, believable world.
//
//   node screenshots.mjs            (MISSIVE_BIN as for the tests)

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PASSWORD, launchBrowser, logIn, openConversation, startServer } from "./helpers.mjs";

const out = resolve(dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");
mkdirSync(out, { recursive: true });

const server = await startServer({ label: "screenshots" });
const browser = await launchBrowser();

async function call(token, method, path, body, headers = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

let keys = 0;
async function say(user, conversation, content) {
  keys += 1;
  return call(
    user.token,
    "POST",
    `/v1/conversations/${conversation.id}/messages`,
    { content },
    { "idempotency-key": `s${keys}` },
  );
}

async function person(username, full_name) {
  const body = await call(null, "POST", "/v1/auth/register", {
    username,
    full_name,
    email: `${username}@example.com`,
    password: PASSWORD,
  });
  return { id: body.user.id, username, token: body.access_token };
}

try {
  const alice = await person("alice", "Alice Martin");
  const bob = await person("bob", "Bob Chen");
  const carol = await person("carol", "Carol Díaz");
  const dave = await person("dave", "Dave Okafor");

  const withDave = await call(alice.token, "POST", "/v1/conversations", { peer_id: dave.id });
  await say(dave, withDave, "Thanks for the notes from Monday!");
  await say(alice, withDave, "Any time, good luck with the launch");
  await call(alice.token, "POST", `/v1/conversations/${withDave.id}/read`, { seq: 99 });

  const hike = await call(bob.token, "POST", "/v1/conversations", {
    kind: "group",
    title: "Weekend hike",
    member_ids: [alice.id, carol.id],
  });
  await say(bob, hike, "Saturday, 8:00 at the trailhead?");
  await say(carol, hike, "Works for me. Forecast says sunny: https://weather.example.com/trail");
  const mine = await say(alice, hike, "I'm in! I'll bring the map and some snacks.");
  for (const reader of [bob, carol]) {
    await call(reader.token, "POST", `/v1/conversations/${hike.id}/read`, { seq: mine.seq });
  }
  await call(bob.token, "POST", `/v1/conversations/${hike.id}/members`, { user_id: dave.id });
  await say(dave, hike, "Can I join? I have a spare tent.");
  await say(bob, hike, "Welcome Dave! The more the merrier.");

  const withBob = await call(alice.token, "POST", "/v1/conversations", { peer_id: bob.id });
  await say(bob, withBob, "Hey Alice! Did you get the tickets for Friday?");
  await say(alice, withBob, "Yes, two seats in row F.\nDoors open at 7.");
  const edited = await say(bob, withBob, "Perfect, see you there at 6:30");
  await call(bob.token, "PATCH", `/v1/messages/${edited.id}`, { content: "Perfect, see you there at 6:45" });
  await say(alice, withBob, "Great. Here is the venue: https://example.com/venue");
  await call(bob.token, "POST", `/v1/conversations/${withBob.id}/read`, { seq: 99 });

  const withCarol = await call(carol.token, "POST", "/v1/conversations", { peer_id: alice.id });
  await say(carol, withCarol, "Are you free for lunch tomorrow?");
  await say(carol, withCarol, "There's a new ramen place near the office.");

  const shoot = async (page, name) => {
    await page.waitForTimeout(300); // fonts and the last live events settle
    await page.screenshot({ path: `${out}/${name}.png` });
    console.log(`saved docs/screenshots/${name}.png`);
  };

  // Login, light.
  const desktop = { viewport: { width: 1200, height: 760 }, colorScheme: "light" };
  let context = await browser.newContext(desktop);
  let page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByLabel("Username or e-mail").waitFor();
  await shoot(page, "login");

  // The list beside a direct conversation, light.
  await logIn(page, "alice");
  await openConversation(page, "Bob Chen");
  await page.locator(".seen").waitFor();
  await page.locator(".conversation-item", { hasText: "Carol" }).locator(".badge").waitFor();
  await shoot(page, "conversation");

  // A group: notices as system lines, names on others' messages.
  await openConversation(page, "Weekend hike");
  await page.locator(".notice").first().waitFor();
  await shoot(page, "group");
  await context.close();

  // Dark theme.
  context = await browser.newContext({ ...desktop, colorScheme: "dark" });
  page = await context.newPage();
  await page.goto(`${server.url}/`);
  await logIn(page, "alice");
  await openConversation(page, "Weekend hike");
  await page.locator(".notice").first().waitFor();
  await shoot(page, "dark");
  await context.close();

  // Phone width: the list, then a conversation (one pane at a time).
  context = await browser.newContext({
    viewport: { width: 375, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    colorScheme: "light",
  });
  page = await context.newPage();
  await page.goto(`${server.url}/`);
  await logIn(page, "alice");
  await page.locator(".conversation-item").nth(3).waitFor();
  await shoot(page, "phone-list");
  await openConversation(page, "Bob Chen");
  await page.locator(".seen").waitFor();
  await shoot(page, "phone-conversation");
  await context.close();
} finally {
  await browser.close();
  await server.close();
}
