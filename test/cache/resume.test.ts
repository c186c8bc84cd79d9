// Interrupted downloads: resume with Range/If-Range where the server allows it, restart
// cleanly where it does not, and pick up after a process killed with SIGKILL.
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { streamHash } from "../../src/cache/hasher.ts";
import { httpGet, receiveBody } from "../../src/cache/http.ts";
import { ChecksumMismatchError, DownloadError } from "../../src/cache/index.ts";
import { setup, startChild, waitFor } from "./helpers.ts";
import { bytes, etagOf, sha256 } from "./server.ts";

async function parts(cacheDir: string) {
  const dir = path.join(cacheDir, "partial");
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) =>
    n.endsWith(".part"),
  );
  return Promise.all(
    names.map(async (n) => ({ name: n, size: (await fsp.stat(path.join(dir, n))).size })),
  );
}

test("a connection reset mid-body leaves a partial; the next call resumes it with Range + If-Range", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(300_000, 11);
  const url = server.set("/big.hdf5", content);
  // Under load the reset can reach the client before it has read any byte of the body (Node
  // then drops what it had buffered, and there is nothing to keep): try again, a few times at
  // most, until a partial is left.
  let left: { name: string; size: number }[] = [];
  for (let attempt = 0; attempt < 5 && left.length === 0; attempt++) {
    server.fail("/big.hdf5", { kind: "reset", afterBytes: 120_000 });
    await assert.rejects(cache.download(url), (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.equal(err.reason, "truncated");
      assert.match(err.message, /big\.hdf5/);
      return true;
    });
    left = await parts(cache.dir);
  }
  assert.equal(left.length, 1);
  assert.equal(left[0]!.size, 120_000);
  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), content);
  const last = server.requestsFor("/big.hdf5").at(-1)!;
  assert.equal(last.headers.range, "bytes=120000-");
  assert.equal(last.headers["if-range"], etagOf(content));
  assert.equal(last.status, 206);
  assert.deepEqual(await parts(cache.dir), []);
  assert.deepEqual(await fsp.readdir(path.join(cache.dir, "partial")), [], "validators dropped");
  const report = await cache.check({ deep: true });
  assert.deepEqual(report.problems, []);
});

test("a server without Range support: the download restarts cleanly", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(200_000, 12);
  const url = server.set("/norange", { content, ranges: false });
  // As above: under load the reset can come before any byte is written; tried until a partial is
  // left (without one, the next download rightly asks for no range).
  let left: { name: string; size: number }[] = [];
  for (let attempt = 0; attempt < 5 && left.length === 0; attempt++) {
    server.fail("/norange", { kind: "reset", afterBytes: 50_000 });
    await assert.rejects(cache.download(url), DownloadError);
    left = await parts(cache.dir);
  }
  assert.equal(left.length, 1);
  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), content);
  const last = server.requestsFor("/norange").at(-1)!;
  assert.equal(last.headers.range, "bytes=50000-", "a range was asked for");
  assert.equal(last.status, 200, "and refused: full body");
  assert.deepEqual(await parts(cache.dir), []);
});

test("content changed between attempts: If-Range fails and the new version is fetched whole", async (t) => {
  const { server, cache } = await setup(t);
  const v1 = bytes(200_000, 1);
  const v2 = bytes(210_000, 2);
  const url = server.set("/moving", v1);
  server.fail("/moving", { kind: "reset", afterBytes: 100_000 });
  await assert.rejects(cache.download(url), DownloadError);
  server.set("/moving", v2);
  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), v2);
  const last = server.requestsFor("/moving").at(-1)!;
  assert.equal(last.headers["if-range"], etagOf(v1));
  assert.equal(last.status, 200);
});

test("kill -9 of a downloading process, then a clean resume from its partial file", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(1_500_000, 21);
  const url = server.set("/killed.fits", content);
  server.fail("/killed.fits", { kind: "stall", afterBytes: 600_000 });
  const { child, done } = startChild({ kind: "download", cacheDir: cache.dir, url });
  await waitFor(
    async () => (await parts(cache.dir)).some((p) => p.size === 600_000),
    "partial on disk",
  );
  child.kill("SIGKILL");
  const r = await done;
  assert.equal(r.signal, "SIGKILL");
  assert.doesNotMatch(r.stdout, /^path /m, "the child never finished");
  assert.equal(await cache.lookup(url), null, "no entry from a killed download");

  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), content);
  const last = server.requestsFor("/killed.fits").at(-1)!;
  assert.equal(last.headers.range, "bytes=600000-");
  assert.equal(last.status, 206);
  assert.deepEqual(await parts(cache.dir), []);
  const report = await cache.check({ deep: true });
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, 1);
});

test("a partial download owned by a live process is not taken over", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(800_000, 31);
  const url = server.set("/shared", content);
  server.fail("/shared", { kind: "stall", afterBytes: 300_000 });
  const { child, done } = startChild({ kind: "download", cacheDir: cache.dir, url });
  await waitFor(
    async () => (await parts(cache.dir)).some((p) => p.size === 300_000),
    "partial on disk",
  );
  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), content);
  const last = server.requestsFor("/shared").at(-1)!;
  assert.equal(last.headers.range, undefined, "the live owner's bytes were left alone");
  assert.equal((await parts(cache.dir)).length, 1, "the owner's partial is still there");
  child.kill("SIGKILL");
  await done;
  // Now its owner is gone: check sees a resumable partial, clear removes it.
  assert.equal((await cache.check()).resumable, 1);
  await cache.clear();
  assert.deepEqual(await parts(cache.dir), []);
});

test("hashing in a worker thread (used for big files) gives the same sha256, across a resume", async (t) => {
  const { server, cache } = await setup(t, { workerHashMinBytes: 0 });
  const content = bytes(3_000_000, 41);
  const url = server.set("/worker-hashed", content);
  server.fail("/worker-hashed", { kind: "reset", afterBytes: 1_100_000 });
  await assert.rejects(cache.download(url), DownloadError);
  await assert.rejects(
    cache.download(url, { sha256: "f".repeat(64) }),
    (err: unknown) => err instanceof ChecksumMismatchError && err.actual === sha256(content),
    "the resumed prefix is hashed too",
  );
  const p = await cache.download(url, { sha256: sha256(content) });
  assert.deepEqual(await fsp.readFile(p), content);
  assert.equal((await cache.lookup(url))!.sha256, sha256(content));
});

test("a body reset before it is read (the server was faster than the partial file's setup) ends the download, not a hang", async (t) => {
  const { server } = await setup(t);
  const content = bytes(300_000, 13);
  const url = server.set("/early.hdf5", content);
  server.fail("/early.hdf5", { kind: "reset", afterBytes: 100_000 });
  const ctx = { url, source: url, timeoutMs: 10_000 };
  const res = await httpGet(url, {}, ctx);
  // What a loaded machine does between the response headers and the body being read: the reset
  // arrives and the body stream is destroyed before anyone listens to it.
  res.body.destroy(new Error("socket hang up"));
  await new Promise((r) => setImmediate(r));
  assert.ok(res.body.destroyed);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "astropile-early-"));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const hash = streamHash(null);
  const failed = receiveBody(res, { path: path.join(dir, "part"), offset: 0, hash }, 300_000, ctx);
  const timeout = new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new Error("receiveBody hung on a dead body")), 5000);
    timer.unref();
  });
  await assert.rejects(Promise.race([failed, timeout]), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.equal(err.reason, "truncated");
    return true;
  });
  hash.close();
});
