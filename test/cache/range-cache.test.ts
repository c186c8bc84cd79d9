// The byte-range cache: blocks keyed by URL, version and block size; a size cap with the least
// recently used blocks evicted first; a new version drops the old one's blocks.
import assert from "node:assert/strict";
import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { RangeCache } from "../../src/cache/range-cache.ts";
import { tempDir } from "../helpers/tmp.ts";

const v1 = { url: "https://example.org/a.hdf5", size: 1 << 20, etag: '"1"' };

test("blocks come back as stored, per version and block size", () => {
  const cache = new RangeCache(tempDir(), 1 << 30);
  const block = Uint8Array.from({ length: 4096 }, (_, i) => i % 251);
  cache.setVersion(v1);
  cache.putBlock({ version: v1, blockBytes: 4096 }, 3, block);
  assert.deepEqual(cache.getBlock({ version: v1, blockBytes: 4096 }, 3, 4096), block);
  assert.equal(cache.getBlock({ version: v1, blockBytes: 8192 }, 3, 8192), undefined);
  const v2 = { ...v1, etag: '"2"' };
  assert.equal(cache.getBlock({ version: v2, blockBytes: 4096 }, 3, 4096), undefined);
  // The server's file changed: recording the new version drops the old one's blocks.
  cache.setVersion(v2);
  assert.deepEqual(cache.version(v1.url), v2);
  assert.equal(cache.getBlock({ version: v1, blockBytes: 4096 }, 3, 4096), undefined);
});

test("the size cap evicts the least recently used blocks", () => {
  const cache = new RangeCache(tempDir(), 10 * 4096);
  const set = { version: v1, blockBytes: 4096 };
  for (let i = 0; i < 8; i++) cache.putBlock(set, i, new Uint8Array(4096).fill(i));
  // Blocks 0..7 last used long ago (a block's modification time is its last use) ...
  const old = Date.now() / 1000 - 1000;
  for (const f of readdirSync(cache.dir, { recursive: true, encoding: "utf8" }))
    if (/4096-\d+$/.test(f)) utimesSync(join(cache.dir, f), old, old);
  // ... then block 0 read again: it is the most recently used of them.
  assert.ok(cache.getBlock(set, 0, 4096));
  for (let i = 8; i < 16; i++) cache.putBlock(set, i, new Uint8Array(4096).fill(i));
  assert.ok(cache.measure() <= 10 * 4096, `${cache.measure()} bytes over a cap of ${10 * 4096}`);
  assert.deepEqual(cache.getBlock(set, 15, 4096), new Uint8Array(4096).fill(15));
  assert.deepEqual(cache.getBlock(set, 0, 4096), new Uint8Array(4096).fill(0));
  assert.equal(cache.getBlock(set, 1, 4096), undefined, "an old block is evicted");
});
