// Shared by the browser tests: start and stop missive, launch Chromium, make users, and
// drive the web client the way a person would (by labels and roles, not CSS internals).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));

export const MISSIVE_BIN = process.env.MISSIVE_BIN
  ? resolve(process.env.MISSIVE_BIN)
  : resolve(here, "../../target/release/missive");

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Without these flags Debian's Chromium tries to reach Google's services and can hang. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const PASSWORD = "correct-horse-battery";

/** A prefix unique to this run: its PostgreSQL schema, Redis keys and usernames never collide. */
export const RUN = `t${Date.now().toString(36)}${randomBytes(2).toString("hex")}`;
let userCount = 0;
export function uniqueName(label) {
  userCount += 1;
  return `${RUN}_${label}${userCount}`;
}

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

async function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// Servers still running when this process ends (a failed hook, a timeout, Ctrl-C) are
// killed with it rather than left listening.
const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => process.exit(130));
}

/**
 * A missive instance on a free port. SQLite in a fresh temporary directory unless `env`
 * names another database. Rate limits are off: the tests register and send faster than a
 * person. `stop()` and `start()` again keep the port, the database and the key, so a restart
 * looks to the browser like a real one.
 */
export async function startServer({ env = {}, label = "missive" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "missive-browser-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const fullEnv = {
    ...process.env,
    DATABASE_URL: `sqlite://${join(dir, "missive.db")}`,
    SECRET_KEY: randomBytes(32).toString("hex"),
    MISSIVE_BIND: `127.0.0.1:${port}`,
    MISSIVE_RATE_LIMITS: "off",
    MISSIVE_SHUTDOWN_GRACE_SECS: "2",
    MISSIVE_LOG: process.env.TEST_LOG ? "info,sqlx=warn" : "warn",
    ...env,
  };
  let child = null;
  let output = "";

  async function start() {
    child = spawn(MISSIVE_BIN, ["serve"], { cwd: dir, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
    const spawned = child;
    children.add(spawned);
    spawned.once("exit", () => children.delete(spawned));
    const collect = (chunk) => {
      output = (output + chunk).slice(-20_000);
      if (process.env.TEST_LOG) process.stderr.write(`[${label}] ${chunk}`);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const exited = new Promise((done) => child.once("exit", (code) => done(code)));
    child.exited = exited;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const code = await Promise.race([exited, sleep(100).then(() => undefined)]);
      if (code !== undefined) throw new Error(`${label} exited with ${code}:\n${output}`);
      try {
        const response = await fetch(`${url}/readyz`);
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
    }
    throw new Error(`${label} did not become ready:\n${output}`);
  }

  async function stop() {
    if (!child) return;
    const running = child;
    child = null;
    running.kill("SIGTERM");
    // A graceful stop takes well under a second here; past 10 s, something is wrong.
    const killer = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await running.exited;
    clearTimeout(killer);
  }

  await start();
  return {
    url,
    start,
    stop,
    get logs() {
      return output;
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers a user through the API (fast, no browser); returns `{ id, username }`. */
export async function registerUser(server, label) {
  const username = uniqueName(label);
  const response = await fetch(`${server.url}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
  });
  if (response.status !== 201)
    throw new Error(`register ${username}: ${response.status} ${await response.text()}`);
  const body = await response.json();
  return { id: body.user.id, username, token: body.access_token };
}

/** Calls the API as a user (for setting up state the test is not about). */
export async function apiCall(server, user, method, path, body, headers = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${user.token}`,
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * A browser context signed in as `user` on `server` through the login form. Page errors
 * and CSP violations fail loudly: they would be bugs.
 */
export async function openAs(
  browser,
  server,
  user,
  { viewport = { width: 1100, height: 720 }, colorScheme } = {},
) {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Uncaught/.test(message.text())) {
      page.problems.push(`console: ${message.text()}`);
    }
  });
  await page.goto(`${server.url}/`);
  await logIn(page, user.username);
  return { context, page };
}

export async function logIn(page, username) {
  await page.getByLabel("Username or e-mail").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "New chat" }).waitFor();
}

/** Opens the conversation titled `title` from the list. */
export async function openConversation(page, title) {
  await page.locator(".conversation-item a", { hasText: title }).first().click();
  await page.locator("#conversation-title", { hasText: title }).waitFor();
}

export function composer(page) {
  return page.getByRole("textbox", { name: "Message", exact: true });
}

/** Types and sends with Enter, as a person would. */
export async function send(page, text) {
  const box = composer(page);
  await box.fill(text);
  await box.press("Enter");
}

/** The confirmed messages' texts in the open conversation, in order (pending ones left out). */
export function shownMessages(page) {
  return page.locator(".messages .message:not(.pending) .body").allTextContents();
}

/** Every message line in the open conversation, pending included. */
export function allMessageBodies(page) {
  return page.locator(".messages .message .body").allTextContents();
}

/** Waits until the open conversation shows exactly `list`, all confirmed: none pending, none twice. */
export async function showsExactly(page, list, timeout = 15_000) {
  const want = JSON.stringify({ all: list, confirmed: list });
  await eventually(
    async () => ({ all: await allMessageBodies(page), confirmed: await shownMessages(page) }),
    (shown) => JSON.stringify(shown) === want,
    { timeout, message: "messages shown exactly once, in order, confirmed" },
  );
}

/** Waits until `predicate(value)` holds for `probe()`, polling; returns the last value. */
export async function eventually(probe, predicate, { timeout = 10_000, interval = 50, message } = {}) {
  const deadline = Date.now() + timeout;
  let value;
  for (;;) {
    value = await probe();
    if (predicate(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `${message ?? "condition"} not met within ${timeout} ms; last value: ${JSON.stringify(value)}`,
      );
    }
    await sleep(interval);
  }
}

export { sleep };

/**
 * Alice (registered on `serverA`) and bob (on `serverB`) in a direct conversation holding one
 * message from alice, `first`, each with it open in a page of `browser`.
 */
export async function pairInConversation(browser, serverA, serverB, first) {
  const [alice, bob] = await Promise.all([registerUser(serverA, "alice"), registerUser(serverB, "bob")]);
  const direct = await apiCall(serverA, alice, "POST", "/v1/conversations", { peer_id: bob.id });
  const path = `/v1/conversations/${direct.id}/messages`;
  await apiCall(serverA, alice, "POST", path, { content: first }, { "idempotency-key": "first" });
  const [a, b] = await Promise.all([openAs(browser, serverA, alice), openAs(browser, serverB, bob)]);
  await Promise.all([openConversation(a.page, bob.username), openConversation(b.page, alice.username)]);
  return { alice, bob, a, b };
}
