// Size cap with LRU eviction and pins, configuration from the environment, and the
// management operations: contents, size, clear, verify, check / repair.
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  CacheConfigError,
  CacheEntryNotFoundError,
  type CacheWarning,
  ChecksumMismatchError,
  cacheContents,
  cacheDir,
  cacheSize,
  clearCache,
  DEFAULT_MAX_BYTES,
  DownloadCache,
  defaultCacheDir,
  downloadFile,
  formatBytes,
  openCache,
  parseBytes,
} from "../../src/cache/index.ts";
import { setup, snapshot, tempDir } from "./helpers.ts";
import { bytes } from "./server.ts";

const HOUR = 3600;

async function setAtime(p: string, secondsAgo: number) {
  const st = await fsp.stat(p);
  await fsp.utimes(p, Date.now() / 1000 - secondsAgo, st.mtime);
}

test("size cap: least recently used entries go first, a hit counts as a use, pins stay", async (t) => {
  const { server, cache } = await setup(t, { maxBytes: 250_000, touchIntervalSeconds: 0 });
  const url = (n: string) => server.set(`/${n}`, bytes(100_000, n.charCodeAt(0)));
  const [a, b, c, d] = [url("a"), url("b"), url("c"), url("d")];
  const pa = await cache.download(a);
  const pb = await cache.download(b);
  await setAtime(pa, 3 * HOUR);
  await setAtime(pb, 2 * HOUR);
  assert.equal(await cache.download(a), pa, "hit on a");
  const la = (await cache.lookup(a))!.lastUsed.getTime();
  assert.ok(la > Date.now() - 60_000, "the hit recorded a use");
  await cache.download(c); // 300 kB > 250 kB: evict the least recently used (b)
  assert.equal(await cache.lookup(b), null, "b was least recently used");
  assert.ok(await cache.lookup(a));
  assert.ok(await cache.lookup(c));
  await fsp.access(pb).then(
    () => assert.fail("evicted data is deleted"),
    () => undefined,
  );

  await cache.setPinned(a, true);
  await setAtime(pa, 10 * HOUR);
  await setAtime((await cache.lookup(c))!.path, 5 * HOUR);
  await cache.download(d);
  assert.ok(await cache.lookup(a), "pinned a survives though it is the oldest");
  assert.equal(await cache.lookup(c), null);
  assert.ok(await cache.lookup(d));
  const size = await cache.size();
  assert.ok(size.bytes <= 250_000);
  assert.equal(size.pinnedBytes, 100_000);

  // Only pinned and just-fetched entries left over the cap: kept, with a warning.
  await cache.setPinned(d, true);
  const warnings: CacheWarning[] = [];
  await cache.download(url("e"), { onWarning: (w) => warnings.push(w) });
  assert.equal(warnings[0]?.code, "ASTROPILE_CACHE_OVER_CAP");
  assert.equal((await cache.contents()).length, 3);
});

test("last use is written at most once per touch interval, so a hit stays one read and one stat", async (t) => {
  const { server, cache } = await setup(t); // default interval: 60 s
  const url = server.set("/t", bytes(1000, 1));
  const p = await cache.download(url);
  await setAtime(p, 30);
  const before = (await fsp.stat(p)).atimeMs;
  await cache.download(url);
  assert.equal((await fsp.stat(p)).atimeMs, before, "within the interval: not written");
  await setAtime(p, 120);
  const old = (await fsp.stat(p)).atimeMs;
  await cache.download(url);
  assert.ok((await fsp.stat(p)).atimeMs > old + 60_000, "after the interval: written");
});

test("ASTROPILE_CACHE_DIR, XDG_CACHE_HOME and ASTROPILE_CACHE_MAX_BYTES configure the cache", async (t) => {
  const root = await tempDir(t, "env");
  const saved = { ...process.env };
  t.after(() => {
    for (const k of ["ASTROPILE_CACHE_DIR", "XDG_CACHE_HOME", "ASTROPILE_CACHE_MAX_BYTES"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  delete process.env.ASTROPILE_CACHE_DIR;
  delete process.env.ASTROPILE_CACHE_MAX_BYTES;
  process.env.XDG_CACHE_HOME = path.join(root, "xdg");
  assert.equal(defaultCacheDir(), path.join(root, "xdg", "astropile"));
  assert.equal(openCache().maxBytes, DEFAULT_MAX_BYTES);
  process.env.ASTROPILE_CACHE_DIR = path.join(root, "mine");
  process.env.ASTROPILE_CACHE_MAX_BYTES = "1.5GiB";
  assert.equal(cacheDir(), path.join(root, "mine"));
  assert.equal(openCache().maxBytes, 1.5 * 2 ** 30);
  process.env.ASTROPILE_CACHE_MAX_BYTES = "lots";
  assert.throws(
    () => openCache(),
    (err: unknown) => {
      assert.ok(err instanceof CacheConfigError);
      assert.match(err.message, /ASTROPILE_CACHE_MAX_BYTES.*lots/);
      return true;
    },
  );
  assert.equal(parseBytes("20G"), 20e9);
  assert.equal(parseBytes("500 MiB"), 500 * 2 ** 20);
  assert.equal(parseBytes("123"), 123);
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(5 * 2 ** 30), "5.00 GiB");
});

test("cacheContents, cacheSize and clearCache (one URL or everything)", async (t) => {
  const { server, cache } = await setup(t);
  const loc = { cacheDir: cache.dir };
  const u1 = server.set("/one", bytes(1000, 1));
  const u2 = server.set("/two", bytes(2000, 2));
  await downloadFile(u1, { ...loc });
  await downloadFile(u2, { ...loc, pin: true });
  const list = await cacheContents(loc);
  assert.deepEqual(list.map((e) => e.url).sort(), [u1, u2]);
  assert.equal(list.find((e) => e.url === u2)!.pinned, true);
  const size = await cacheSize(loc);
  assert.equal(size.entries, 2);
  assert.equal(size.bytes, 3000);
  assert.equal(size.dir, cache.dir);
  assert.deepEqual(await clearCache(u1, loc), { entries: 1, bytes: 1000 });
  assert.deepEqual(
    (await cacheContents(loc)).map((e) => e.url),
    [u2],
  );
  await assert.rejects(clearCache(u1, loc), (err: unknown) => {
    assert.ok(err instanceof CacheEntryNotFoundError);
    assert.match(err.message, /\/one/);
    return true;
  });
  await clearCache(undefined, loc);
  assert.deepEqual(await cacheContents(loc), []);
  assert.equal((await cacheSize(loc)).bytes, 0);
});

test("a reader that opened a file keeps reading it after the entry is removed", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(500_000, 4);
  const url = server.set("/open", content);
  const p = await cache.download(url);
  const fh = await fsp.open(p, "r");
  t.after(() => fh.close());
  await cache.clear(url);
  assert.equal(await cache.lookup(url), null);
  const buf = Buffer.alloc(content.length);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  assert.equal(bytesRead, content.length);
  assert.deepEqual(buf, content);
});

test("verify re-hashes on demand; a damaged entry is removed and fetched again", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(10_000, 5);
  const url = server.set("/v", content);
  const p = await cache.download(url);
  assert.equal((await cache.verify(url)).path, p);
  const fh = await fsp.open(p, "r+");
  await fh.write(Buffer.from([content[100]! ^ 0xff]), 0, 1, 100);
  await fh.close();
  assert.equal(await cache.download(url), p, "a plain hit does not re-hash");
  await assert.rejects(cache.verify(url), ChecksumMismatchError);
  assert.equal(await cache.lookup(url), null, "damaged entry removed");
  const p2 = await cache.download(url);
  const fh2 = await fsp.open(p2, "r+");
  await fh2.write(Buffer.from([0]), 0, 1, 5);
  await fh2.close();
  const p3 = await cache.download(url, { verify: true });
  assert.deepEqual(await fsp.readFile(p3), content, "verify: true re-downloads a damaged copy");
});

test("check finds damaged and stray entries without changing anything; repair removes them", async (t) => {
  const { server, cache } = await setup(t);
  const urls = ["/e1", "/e2", "/e3", "/e4", "/e5"].map((p, i) => server.set(p, bytes(4000, i + 1)));
  const paths: string[] = [];
  for (const u of urls) paths.push(await cache.download(u));
  const entryDir = (i: number) => path.dirname(paths[i]!);
  await fsp.truncate(paths[0]!, 100); // size-mismatch
  await fsp.writeFile(path.join(entryDir(1), "meta.json"), "{not json"); // bad-meta
  await fsp.rm(paths[2]!); // missing-data
  const fh = await fsp.open(paths[3]!, "r+"); // same size, other bytes: deep only
  await fh.write(Buffer.from("XYZ"), 0, 3, 10);
  await fh.close();
  const old = Date.now() / 1000 - 2 * HOUR;
  const orphan = path.join(entryDir(4), "0123456789ab-old_version");
  await fsp.writeFile(orphan, "old");
  await fsp.utimes(orphan, old, old);
  await fsp.writeFile(path.join(cache.dir, "junk.txt"), "x");
  await fsp.mkdir(path.join(cache.dir, "entries", "not-a-key"));
  const staleTmp = path.join(cache.dir, "tmp", "otherhost~4242~deadbeef.download");
  await fsp.writeFile(staleTmp, "half");
  await fsp.utimes(staleTmp, old, old);
  const stray = path.join(cache.dir, "partial", `${"a".repeat(64)}.${"b".repeat(16)}.free~1.part`);
  await fsp.writeFile(stray, "no validators");

  const before = await snapshot(cache.dir);
  const shallow = await cache.check();
  const kinds = (r: typeof shallow) => r.problems.map((p) => p.kind).sort();
  assert.deepEqual(kinds(shallow), [
    "abandoned-partial",
    "bad-meta",
    "missing-data",
    "orphan-data",
    "size-mismatch",
    "stale-temp",
    "stray-file",
    "stray-file",
  ]);
  assert.equal(shallow.entries, 5);
  assert.equal(shallow.ok, 2);
  assert.ok(shallow.problems.every((p) => !p.repaired));
  assert.deepEqual(await snapshot(cache.dir), before, "check alone changes nothing");
  const deep = await cache.check({ deep: true });
  assert.ok(deep.problems.some((p) => p.kind === "checksum-mismatch" && p.url === urls[3]));

  const repaired = await cache.check({ deep: true, repair: true });
  assert.ok(repaired.problems.every((p) => p.repaired));
  const after = await cache.check({ deep: true });
  assert.deepEqual(after.problems, []);
  assert.equal(after.ok, 1);
  assert.deepEqual(
    (await cache.contents()).map((e) => e.url),
    [urls[4]],
  );
  assert.deepEqual(await fsp.readFile(paths[4]!), bytes(4000, 5), "the sound entry is intact");
  // Damaged URLs are simply downloaded again.
  assert.deepEqual(await fsp.readFile(await cache.download(urls[0]!)), bytes(4000, 1));
});

test("a cache instance only sees its own directory", async (t) => {
  const { server, cache } = await setup(t);
  const other = new DownloadCache({ dir: path.join(cache.dir, "..", "other"), offline: false });
  const url = server.set("/iso", bytes(10, 1));
  await cache.download(url);
  assert.equal(await other.lookup(url), null);
});
