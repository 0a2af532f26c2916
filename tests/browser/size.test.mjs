// The whole client stays small: at most 100 KB compressed (the budget), counted as
// gzip of every file in web/.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

const WEB = new URL("../../web/", import.meta.url).pathname;
const BUDGET = 100 * 1024;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

test("the web client is at most 100 KB compressed", () => {
  const all = files(WEB);
  assert.ok(all.some((path) => path.endsWith("index.html")), `no client in ${WEB}`);
  const size = all.reduce((sum, path) => sum + gzipSync(readFileSync(path), { level: 9 }).length, 0);
  console.log(`web client: ${all.length} files, ${(size / 1024).toFixed(1)} KB compressed`);
  assert.ok(size <= BUDGET, `${size} bytes compressed, over the ${BUDGET}-byte budget`);
});
