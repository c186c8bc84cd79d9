// downloadFile behaviour against a real loopback server: cache modes, revalidation,
// checksums, mirrors, offline mode, stale-if-error, timeouts and wrong lengths.
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  CacheConfigError,
  CacheMissOfflineError,
  type CacheWarning,
  ChecksumMismatchError,
  DownloadCache,
  DownloadError,
  type DownloadProgress,
  keyForUrl,
} from "../../src/cache/index.ts";
import { setup, snapshot } from "./helpers.ts";
import { bytes, etagOf, sha256, TestServer } from "./server.ts";

test("a miss downloads, a hit returns the cached file without asking the server", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(100_000, 7);
  const url = server.set("/survey/tile_001.fits", content);
  const p1 = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p1), content);
  assert.ok(p1.startsWith(path.join(cache.dir, "entries", keyForUrl(url))), p1);
  assert.ok(p1.endsWith("-tile_001.fits"), "the data file keeps the URL's base name");
  const p2 = await cache.download(url);
  assert.equal(p2, p1);
  assert.equal(server.requestsFor("/survey/tile_001.fits").length, 1, "hit made no request");
  const entry = await cache.lookup(url);
  assert.equal(entry?.sha256, sha256(content));
  assert.equal(entry?.etag, etagOf(content));
  assert.equal(entry?.size, content.length);
});

test("cache: false downloads to a temp file and leaves the cache untouched", async (t) => {
  const { server, cache, root } = await setup(t);
  const content = bytes(5000, 2);
  const url = server.set("/a.bin", content);
  await cache.download(server.set("/other", bytes(10, 1)));
  const before = await snapshot(path.join(root, "cache"));
  const p = await cache.download(url, { cache: false });
  t.after(() => fsp.rm(path.dirname(p), { recursive: true, force: true }));
  assert.deepEqual(await fsp.readFile(p), content);
  assert.ok(!p.startsWith(cache.dir));
  assert.deepEqual(await snapshot(path.join(root, "cache")), before);
  assert.equal(await cache.lookup(url), null);
});

test("update downloads again; a reader holding the old path still reads the old version", async (t) => {
  const { server, cache } = await setup(t);
  const v1 = bytes(3000, 1);
  const v2 = bytes(4000, 2);
  const url = server.set("/f", v1);
  const p1 = await cache.download(url);
  server.set("/f", v2);
  assert.equal(await cache.download(url), p1, "cache: true does not notice the change");
  const p2 = await cache.download(url, { cache: "update" });
  assert.notEqual(p2, p1);
  assert.deepEqual(await fsp.readFile(p2), v2);
  assert.deepEqual(await fsp.readFile(p1), v1, "old version kept for its readers");
  const req = server.requestsFor("/f").at(-1)!;
  assert.equal(req.headers["if-none-match"], undefined, "update is unconditional");
  assert.equal((await cache.lookup(url))?.sha256, sha256(v2));
});

test("maxAgeSeconds: a stale entry is revalidated with If-None-Match/If-Modified-Since and kept on 304", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(2000, 3);
  const url = server.set("/cat.csv", content);
  const p1 = await cache.download(url);
  const before = await cache.lookup(url);
  await cache.download(url, { maxAgeSeconds: 3600 });
  assert.equal(server.requestsFor("/cat.csv").length, 1, "fresh enough: no request");
  await new Promise((r) => setTimeout(r, 5)); // let the clock move past validatedAt
  const p2 = await cache.download(url, { maxAgeSeconds: 0 });
  assert.equal(p2, p1);
  const reqs = server.requestsFor("/cat.csv");
  assert.equal(reqs.length, 2);
  assert.equal(reqs[1]!.headers["if-none-match"], etagOf(content));
  assert.ok(reqs[1]!.headers["if-modified-since"]);
  assert.equal(reqs[1]!.status, 304);
  const after = await cache.lookup(url);
  assert.ok(
    after!.validatedAt.getTime() > before!.validatedAt.getTime(),
    "304 refreshes validatedAt",
  );
  assert.equal(after!.fetchedAt.getTime(), before!.fetchedAt.getTime());
});

test("revalidate fetches the new content when the remote changed", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/x", bytes(1000, 1));
  await cache.download(url);
  const v2 = bytes(1200, 9);
  server.set("/x", v2);
  const p = await cache.download(url, { cache: "revalidate" });
  assert.deepEqual(await fsp.readFile(p), v2);
  assert.equal(server.requestsFor("/x").at(-1)!.status, 200);
});

test("revalidation works with Last-Modified alone (no ETag)", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/lm", { content: bytes(800, 4), etag: false });
  const p1 = await cache.download(url);
  const p2 = await cache.download(url, { cache: "revalidate" });
  assert.equal(p2, p1);
  const last = server.requestsFor("/lm").at(-1)!;
  assert.equal(last.headers["if-none-match"], undefined);
  assert.ok(last.headers["if-modified-since"]);
  assert.equal(last.status, 304);
});

test("sha256: a match is kept, a mismatch is a ChecksumMismatchError and nothing is kept", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(50_000, 5);
  const url = server.set("/data.h5", content);
  const wrong = "0".repeat(64);
  await assert.rejects(cache.download(url, { sha256: wrong }), (err: unknown) => {
    assert.ok(err instanceof ChecksumMismatchError);
    assert.match(err.message, /data\.h5/);
    assert.equal(err.actual, sha256(content));
    return true;
  });
  assert.equal(await cache.lookup(url), null);
  assert.deepEqual(
    await fsp
      .readdir(path.join(cache.dir, "partial"))
      .then((n) => n.filter((x) => x.endsWith(".part"))),
    [],
  );
  assert.deepEqual(await fsp.readdir(path.join(cache.dir, "tmp")), []);
  const p = await cache.download(url, { sha256: sha256(content).toUpperCase() });
  assert.deepEqual(await fsp.readFile(p), content);
});

test("sha256 of a newer version than the cached one triggers a new download", async (t) => {
  const { server, cache } = await setup(t);
  const v1 = bytes(1000, 1);
  const v2 = bytes(1000, 2);
  const url = server.set("/m", v1);
  await cache.download(url);
  server.set("/m", v2);
  const p = await cache.download(url, { sha256: sha256(v2) });
  assert.deepEqual(await fsp.readFile(p), v2);
  assert.equal(server.requestsFor("/m").length, 2);
});

test("sources: mirrors are tried in order and the file is cached under the URL", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(3000, 6);
  server.set("/mirror1/f", content);
  server.fail("/mirror1/f", { kind: "status", status: 503 });
  server.set("/mirror2/f", content);
  const url = server.url("/canonical/f");
  const p = await cache.download(url, {
    sources: [server.url("/mirror1/f"), server.url("/mirror2/f")],
  });
  assert.deepEqual(await fsp.readFile(p), content);
  assert.equal(server.requestsFor("/canonical/f").length, 0, "url itself is not in sources");
  assert.equal((await cache.lookup(url))?.source, server.url("/mirror2/f"));
  // All sources failing: one error listing each attempt.
  server.fail("/mirror1/f", { kind: "status", status: 500 });
  server.fail("/mirror2/f", { kind: "status", status: 502 });
  await assert.rejects(
    cache.download(server.url("/other"), {
      sources: [server.url("/mirror1/f"), server.url("/mirror2/f")],
    }),
    (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.equal(err.reason, "all-sources-failed");
      assert.equal(err.attempts?.length, 2);
      assert.match(err.message, /HTTP 500.*HTTP 502/);
      return true;
    },
  );
});

test("a sha256 mismatch on one mirror moves on to the next", async (t) => {
  const { server, cache } = await setup(t);
  const good = bytes(2000, 1);
  server.set("/bad/f", bytes(2000, 99));
  server.set("/good/f", good);
  const p = await cache.download(server.url("/f"), {
    sha256: sha256(good),
    sources: [server.url("/bad/f"), server.url("/good/f")],
  });
  assert.deepEqual(await fsp.readFile(p), good);
});

test("offline (option or ASTROPILE_OFFLINE=1): hits work, a miss is CacheMissOfflineError", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/o", bytes(500, 1));
  const p = await cache.download(url);
  const n = server.requests.length;
  assert.equal(await cache.download(url, { offline: true, cache: "update" }), p);
  await assert.rejects(
    cache.download(server.url("/missing"), { offline: true }),
    (err: unknown) => {
      assert.ok(err instanceof CacheMissOfflineError);
      assert.match(err.message, /\/missing/);
      assert.match(err.message, /offline/);
      return true;
    },
  );
  const saved = process.env.ASTROPILE_OFFLINE;
  process.env.ASTROPILE_OFFLINE = "1";
  t.after(() => {
    if (saved === undefined) delete process.env.ASTROPILE_OFFLINE;
    else process.env.ASTROPILE_OFFLINE = saved;
  });
  const envCache = new DownloadCache({ dir: cache.dir });
  assert.equal(await envCache.download(url, { cache: "revalidate" }), p);
  await assert.rejects(envCache.download(server.url("/nope")), CacheMissOfflineError);
  assert.equal(server.requests.length, n, "offline made no request");
});

test("stale-if-error: a failing or unreachable server returns the cached copy with a warning", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(1500, 8);
  const url = server.set("/s", content);
  const p = await cache.download(url);
  const warnings: CacheWarning[] = [];
  const onWarning = (w: CacheWarning) => warnings.push(w);

  server.fail("/s", { kind: "status", status: 500 });
  assert.equal(await cache.download(url, { cache: "revalidate", onWarning }), p);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.code, "ASTROPILE_STALE_CACHE");
  assert.match(warnings[0]!.message, /HTTP 500.*cached copy/);

  server.fail("/s", { kind: "status", status: 500 });
  await assert.rejects(
    cache.download(url, { cache: "revalidate", staleIfError: false, onWarning }),
    (err: unknown) => err instanceof DownloadError && err.status === 500 && err.url === url,
  );
  server.fail("/s", { kind: "status", status: 404 });
  await assert.rejects(
    cache.download(url, { cache: "revalidate", onWarning }),
    (err: unknown) => err instanceof DownloadError && err.status === 404,
    "a 404 is an answer, not a failure: no stale copy",
  );
  server.fail("/s", { kind: "reset", afterBytes: 100 });
  assert.equal(await cache.download(url, { cache: "update", onWarning }), p);
  assert.equal(warnings.length, 2);

  await server.close();
  assert.equal(await cache.download(url, { cache: "revalidate", onWarning }), p);
  assert.equal(warnings.length, 3);
  assert.match(warnings[2]!.message, /ECONNREFUSED/);
  await assert.rejects(
    cache.download(server.url("/never-cached"), { onWarning }),
    (err: unknown) => err instanceof DownloadError && err.reason === "network",
  );
  const configured = new DownloadCache({ dir: cache.dir, staleIfError: false, offline: false });
  await assert.rejects(configured.download(url, { cache: "revalidate" }), DownloadError);
});

test("timeoutMs: a server that does not answer gives a DownloadError naming the URL", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/slow", bytes(100, 1));
  server.fail("/slow", { kind: "slow", delayMs: 5000 });
  await assert.rejects(cache.download(url, { timeoutMs: 100 }), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    assert.equal(err.reason, "timeout");
    assert.match(err.message, /\/slow/);
    return true;
  });
  const stall = server.set("/stall", bytes(100_000, 1));
  server.fail("/stall", { kind: "stall", afterBytes: 20_000 });
  await assert.rejects(
    cache.download(stall, { timeoutMs: 100 }),
    (err: unknown) => err instanceof DownloadError && err.reason === "timeout",
  );
});

test("a body shorter or longer than Content-Length is an error and is not cached", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/len", bytes(3000, 1));
  server.fail("/len", { kind: "short", missing: 500 });
  await assert.rejects(cache.download(url), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    assert.equal(err.reason, "truncated");
    assert.equal(err.bytesExpected, 3000);
    assert.equal(err.bytesReceived, 2500);
    return true;
  });
  assert.equal(await cache.lookup(url), null);
  server.fail("/len", { kind: "long", extra: 200 });
  // This attempt resumes the short one (Range), and the 206 body overruns its length.
  await assert.rejects(cache.download(url), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.equal(err.reason, "too-long");
    assert.match(err.message, /more bytes than/);
    return true;
  });
  assert.equal(await cache.lookup(url), null);
  // Expected size from a manifest catches what HTTP framing cannot.
  await assert.rejects(
    cache.download(url, { size: 2999 }),
    (err: unknown) => err instanceof DownloadError && err.reason === "size-mismatch",
  );
  const p = await cache.download(url, { size: 3000 });
  assert.equal((await fsp.stat(p)).size, 3000);
});

test("redirects are followed; progress is reported up to the total", async (t) => {
  const { server, cache } = await setup(t);
  const content = bytes(200_000, 3);
  server.set("/real", content);
  const url = server.redirect("/short-link", "/real");
  const seen: DownloadProgress[] = [];
  const p = await cache.download(url, { onProgress: (e) => seen.push(e) });
  assert.deepEqual(await fsp.readFile(p), content);
  const last = seen.at(-1)!;
  assert.equal(last.done, true);
  assert.equal(last.receivedBytes, content.length);
  assert.equal(last.totalBytes, content.length);
  assert.equal((await cache.lookup(url))?.url, url);
});

test("at most 8 redirects are followed; credentials are not sent to another origin", async (t) => {
  const { server, cache } = await setup(t);
  const other = await TestServer.start();
  t.after(() => other.close());
  for (let i = 0; i < 9; i++) server.redirect(`/hop${i}`, `/hop${i + 1}`);
  server.set("/hop9", bytes(100, 1));
  const eight = await cache.download(server.url("/hop1"));
  assert.deepEqual(await fsp.readFile(eight), bytes(100, 1));
  await assert.rejects(cache.download(server.url("/hop0")), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.equal(err.reason, "protocol");
    assert.match(err.message, /\/hop0.*more than 8 redirects/);
    return true;
  });
  assert.equal(server.requestsFor("/hop9").length, 1, "the 9th redirect was not followed");
  server.redirect("/loop", "/loop");
  await assert.rejects(
    cache.download(server.url("/loop")),
    (err: unknown) =>
      err instanceof DownloadError && err.reason === "protocol" && /redirect/.test(err.message),
  );
  server.redirect("/ftp", "ftp://127.0.0.1/x");
  await assert.rejects(
    cache.download(server.url("/ftp")),
    (err: unknown) => err instanceof DownloadError && err.reason === "protocol",
  );

  const headers = { authorization: "Bearer secret", cookie: "s=1", "x-survey-token": "t" };
  server.set("/same", bytes(10, 2));
  await cache.download(server.redirect("/to-same", "/same"), { headers });
  const same = server.requestsFor("/same")[0]!.headers;
  assert.equal(same.authorization, "Bearer secret", "same origin keeps credentials");
  assert.equal(same.cookie, "s=1");
  other.set("/elsewhere", bytes(10, 3));
  const away = server.redirect("/to-other", other.url("/elsewhere"));
  assert.deepEqual(await fsp.readFile(await cache.download(away, { headers })), bytes(10, 3));
  const there = other.requestsFor("/elsewhere")[0]!.headers;
  assert.equal(there.authorization, undefined, "no Authorization to another origin");
  assert.equal(there.cookie, undefined, "no Cookie to another origin");
  assert.equal(there["x-survey-token"], "t", "other custom headers are kept");
  assert.equal(there["user-agent"], "astropile-cache");
});

test("an aborted download rejects with AbortError and caches nothing", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/ab", bytes(100_000, 1));
  server.fail("/ab", { kind: "stall", afterBytes: 10_000 });
  const ac = new AbortController();
  const p = cache.download(url, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (err: unknown) => (err as Error).name === "AbortError");
  assert.equal(await cache.lookup(url), null);
});

test("an invalid URL is a CacheConfigError naming it", async (t) => {
  const { cache } = await setup(t);
  await assert.rejects(cache.download("not a url"), (err: unknown) => {
    assert.ok(err instanceof CacheConfigError);
    assert.match(err.message, /not a url/);
    return true;
  });
});
