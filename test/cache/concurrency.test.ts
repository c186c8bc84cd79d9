// Several real processes share one cache directory. Every file they are handed must be
// whole, and the cache must be consistent afterwards, without any lock file.
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { setup, startChild, waitFor } from "./helpers.ts";
import { isWhole, selfChecking, sha256 } from "./server.ts";

const PROCESSES = 8;

test(`${PROCESSES} processes fetch one URL at the same moment, then mix hits, revalidations and updates`, async (t) => {
  const { server, cache, root } = await setup(t);
  const coldContent = selfChecking(2_000_000, 42);
  const cold = server.set("/same.fits", coldContent);
  server.set("/c/fixed1", selfChecking(300_000, 1));
  server.set("/c/fixed2", selfChecking(40_000, 2));
  // A file that changes every third request, with a different size each time.
  server.set("/c/changing", {
    content: (n) => selfChecking(100_000 + (Math.floor(n / 3) % 7) * 997, 100 + Math.floor(n / 3)),
  });
  server.set("/c/big", selfChecking(1_200_000, 3));
  const urls = ["/c/fixed1", "/c/fixed2", "/c/changing", "/c/big"].map((p) => server.url(p));
  const goFile = path.join(root, "go");
  const iterations = 20;
  let ready = 0;
  const runs = Array.from({ length: PROCESSES }, (_, i) =>
    startChild(
      { kind: "hammer", cacheDir: cache.dir, cold, goFile, urls, iterations, seed: 17 + i * 31 },
      (line) => {
        if (line === "ready") ready++;
      },
    ),
  );
  await waitFor(() => ready === PROCESSES, "all processes ready", 60_000);
  await fsp.writeFile(goFile, "");
  const results = await Promise.all(runs.map((r) => r.done));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      ok: number;
      bad: string[];
    };
    assert.deepEqual(summary.bad, [], "every path handed out held a whole file");
    assert.equal(summary.ok, iterations);
  }
  const coldFetches = server.requestsFor("/same.fits").length;
  assert.ok(coldFetches >= 1 && coldFetches <= PROCESSES);
  assert.ok(server.requestsFor("/c/changing").length > 1, "the mix did reach the server");

  // Afterwards: one sound entry per URL, nothing damaged, no temp or partial files.
  const entries = await cache.contents();
  assert.deepEqual(entries.map((e) => e.url).sort(), [cold, ...urls].sort());
  assert.equal(entries.find((e) => e.url === cold)!.sha256, sha256(coldContent));
  const report = await cache.check({ deep: true });
  assert.deepEqual(report.problems, [], "check finds nothing wrong");
  for (const e of entries) {
    const buf = await fsp.readFile(e.path);
    assert.ok(isWhole(buf), `${e.url} is whole`);
    assert.equal(sha256(buf), e.sha256);
  }
  assert.deepEqual(await fsp.readdir(path.join(cache.dir, "tmp")), [], "no temp files left");
  const partials = await fsp.readdir(path.join(cache.dir, "partial"));
  assert.deepEqual(partials, [], "no partial files or validators left");
});
