// Two missive instances sharing PostgreSQL and Redis, as behind a load balancer: Alice's
// browser talks to one, Bob's to the other. Live delivery crosses between them, and a
// dropped network or a restarted instance still loses and doubles nothing.
//
// Needs TEST_DATABASE_URL and TEST_REDIS_URL (as `cargo test` does), and the `psql` client;
// without the two variables it says so and skips. The instances get a fresh PostgreSQL schema
// of their own, dropped afterwards (as `cargo test` does: crates/store/src/testing.rs), and a
// Redis key prefix unique to the run.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  RUN,
  launchBrowser,
  pairInConversation,
  send,
  showsExactly,
  startServer,
} from "./helpers.mjs";

const DATABASE = process.env.TEST_DATABASE_URL;
const REDIS = process.env.TEST_REDIS_URL;
const skip = !DATABASE || !REDIS ? "TEST_DATABASE_URL and TEST_REDIS_URL are not both set" : false;
if (skip) console.log(`NOTICE: two-instance PostgreSQL + Redis tests skipped: ${skip}`);

/** This run's schema: RUN is lower-case letters and digits, so it needs no quoting. */
const SCHEMA = `browser_${RUN}`;

/** Runs SQL statements, in order and in one session, through `psql` on TEST_DATABASE_URL. */
function psql(...statements) {
  const args = [DATABASE, "-X", "-q", "-v", "ON_ERROR_STOP=1"];
  for (const statement of statements) args.push("-c", statement);
  try {
    execFileSync("psql", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  } catch (error) {
    if (error.code === "ENOENT") throw new Error("psql not found: install the PostgreSQL client");
    throw new Error(`psql: ${error.stderr?.toString().trim() || error.message}`);
  }
}

/**
 * TEST_DATABASE_URL narrowed to the schema, in the form testing.rs uses: the search path set
 * for every connection, and the schema as the application name, so clean-up can find them.
 */
function schemaUrl(url, schema) {
  const separator = url.includes("?") ? "&" : "?";
  return `${url}${separator}options[search_path]=${schema}&application_name=${schema}`;
}

let schemaCreated = false;
function dropSchema() {
  if (!schemaCreated) return;
  schemaCreated = false;
  // Instances killed rather than stopped may leave sessions behind: end them first (found
  // by their application name), and fail rather than wait forever on a lock.
  psql(
    "SET lock_timeout = '10s'",
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
     WHERE application_name = '${SCHEMA}' AND pid <> pg_backend_pid()`,
    `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`,
  );
}
// Interrupted (Ctrl-C, a timeout): dropped on the way out all the same.
process.on("exit", () => {
  try {
    dropSchema();
  } catch (error) {
    console.error(`warning: could not drop schema ${SCHEMA}: ${error.message}`);
  }
});

describe("two instances over PostgreSQL and Redis", { skip }, () => {
  let one;
  let two;
  let browser;
  let alice;
  let bob;
  let a;
  let b;
  const expected = [];

  before(async () => {
    psql(`CREATE SCHEMA ${SCHEMA}`);
    schemaCreated = true;
    const env = {
      DATABASE_URL: schemaUrl(DATABASE, SCHEMA),
      REDIS_URL: REDIS,
      SECRET_KEY: randomBytes(32).toString("hex"), // shared: a token from one works on the other
      MISSIVE_REDIS_PREFIX: `missive-browser-${RUN}`,
    };
    browser = await launchBrowser();
    one = await startServer({ env, label: "instance-1" }); // applies the migrations
    two = await startServer({ env, label: "instance-2" });
    ({ alice, bob, a, b } = await pairInConversation(browser, one, two, "First"));
    expected.push("First");
  });

  after(async () => {
    try {
      await browser?.close();
      await one?.close();
      await two?.close();
    } finally {
      dropSchema();
    }
  });

  test("messages cross instances live, within a second each way", async () => {
    for (const [from, to, text] of [
      [a.page, b.page, "From instance one"],
      [b.page, a.page, "From instance two"],
    ]) {
      const started = Date.now();
      await send(from, text);
      expected.push(text);
      await to.locator(".message:not(.pending) .body", { hasText: text }).waitFor({ timeout: 1000 });
      assert.ok(Date.now() - started < 1000, `${text}: ${Date.now() - started} ms`);
    }
    await showsExactly(a.page, expected);
    await showsExactly(b.page, expected);
  });

  test("Bob's instance restarts while Alice writes through hers: caught up exactly once", async () => {
    await two.stop();
    await b.page.locator(".banner", { hasText: "Reconnecting" }).waitFor({ timeout: 5000 });
    for (const text of ["While two was down 1", "While two was down 2"]) {
      await send(a.page, text);
      expected.push(text);
    }
    await showsExactly(a.page, expected);
    await two.start();
    await showsExactly(b.page, expected, 30_000);
    await b.page.locator(".banner").waitFor({ state: "hidden", timeout: 15_000 });
  });

  test("Bob goes offline and back: caught up exactly once, his own send goes out", async () => {
    await b.context.setOffline(true);
    await b.page.locator(".banner", { hasText: "offline" }).waitFor();
    await send(a.page, "Are you there?");
    expected.push("Are you there?");
    await send(b.page, "Back soon");
    await b.page.locator(".message.pending", { hasText: "Back soon" }).waitFor();
    await b.context.setOffline(false);
    expected.push("Back soon");
    await showsExactly(b.page, expected);
    await showsExactly(a.page, expected);
    assert.deepEqual(a.page.problems, []);
    assert.deepEqual(b.page.problems, []);
  });
});
