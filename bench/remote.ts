// Remote reads (issue 16): bytes over the wire for get(i) of one ~80 kB image row from a large
// remote partition against a whole-file fetch, and a ~100-row cone search on the remote dataset
// cold (empty range cache) and warm, as ratios to the same query on local disk; and a
// cross-match of two remote 1e6-row catalogs (2e5 with --quick), which reads their positions
// sidecars over the wire, against the same cross-match on local disk. The server is
// test/helpers/range-server.mjs (Node's http, Range/ETag) in a child process on 127.0.0.1.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { openDataset } from "../src/dataset/dataset.ts";
import { remoteStats } from "../src/remote/index.ts";
import { clearRemoteMemory } from "../src/remote/remote-file.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { crossMatch } from "../src/xmatch/crossmatch.ts";
import { startRangeServer } from "../test/helpers/range-server.ts";
import { lcg } from "./random.ts";

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [5, 64, 64] },
  { name: "mag", dtype: "float32", shape: [] },
];

function* rows(n: number): Generator<ColumnBatch> {
  const per = 5 * 64 * 64;
  const rnd = lcg(1);
  for (let s = 0; s < n; s += 100) {
    const k = Math.min(100, n - s);
    const img = new Float32Array(k * per);
    for (let i = 0; i < img.length; i++) img[i] = rnd();
    yield {
      object_id: BigInt64Array.from({ length: k }, (_, i) => BigInt(s + i)),
      // One small patch of sky (one partition file): ~0.5 deg across.
      ra: Float64Array.from({ length: k }, () => 150 + rnd() * 0.5),
      dec: Float64Array.from({ length: k }, () => 2 + rnd() * 0.5),
      image_array: img,
      mag: Float32Array.from({ length: k }, () => 18 + rnd() * 6),
    };
  }
}

const CATALOG_COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "mag", dtype: "float32", shape: [] },
];

/** An all-sky catalog: row i at the same place in every call; `keep` of them, moved by jitter. */
function* catalogRows(n: number, keep: number, jitterArcsec: number): Generator<ColumnBatch> {
  const rnd = lcg(5);
  for (let s = 0; s < n; s += 50_000) {
    const k = Math.min(50_000, n - s);
    const ids: bigint[] = [];
    const ra: number[] = [];
    const dec: number[] = [];
    for (let i = 0; i < k; i++) {
      const r = rnd() * 360;
      const d = Math.asin(2 * rnd() - 1) * (180 / Math.PI);
      const jr = (rnd() - 0.5) * 2 * (jitterArcsec / 3600);
      const jd = (rnd() - 0.5) * 2 * (jitterArcsec / 3600);
      if (rnd() >= keep) continue;
      ids.push(BigInt(s + i));
      ra.push((r + jr / Math.max(0.01, Math.cos((d * Math.PI) / 180)) + 360) % 360);
      dec.push(Math.max(-90, Math.min(90, d + jd)));
    }
    yield {
      object_id: BigInt64Array.from(ids),
      ra: Float64Array.from(ra),
      dec: Float64Array.from(dec),
      mag: Float32Array.from(ra, (_, i) => 16 + ((i * 7) % 80) / 10),
    };
  }
}

async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const n = quick ? 600 : 2600;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-remote-"));
  const cache = mkdtempSync(join(tmpdir(), "astropile-bench-remote-cache-"));
  const server = await startRangeServer(dir);
  try {
    const manifest = await writeDataset(join(dir, "big"), COLUMNS, rows(n), {
      config: "c",
      provenance: { project: "bench", survey: "BENCH", release: "1" },
      compression: "none",
      maxRowsPerFile: 1_000_000,
    });
    const fileBytes = manifest.files.reduce((s, f) => s + f.bytes, 0);
    console.log(
      `dataset: ${n} rows of 80 kB images, ${manifest.files.length} file(s), ${(fileBytes / 1e6).toFixed(1)} MB`,
    );
    const url = `${server.url}/big`;
    const local = await openDataset(join(dir, "big"));

    // get(i): bytes over the wire (server count, every byte of every response).
    const middle = Math.floor(n / 2);
    const expected = await local.get(middle);
    for (const [label, options] of [
      ["whole chunks (Fletcher32 verified)", {}],
      ["partialChunks", { partialChunks: true }],
      ["partialChunks, 8 KiB blocks", { partialChunks: true, blockBytes: 8192 }],
    ] as const) {
      clearRemoteMemory();
      const remote = await openDataset(url, { remote: { maxCacheBytes: 0, ...options } });
      await server.reset();
      const got = await time(() => remote.get(middle));
      assert.deepEqual(got.value, expected, "remote row differs from the local one");
      const wire = await server.stats();
      console.log(
        `get(i) remote, ${label}: ${(wire.bytes / 1e3).toFixed(0)} kB over the wire in ${wire.requests} requests, ${got.ms.toFixed(0)} ms; whole-file fetch: ${(fileBytes / 1e6).toFixed(1)} MB; ratio ${(wire.bytes / fileBytes).toFixed(4)}`,
      );
    }
    await server.reset();
    const whole = await time(() =>
      openDataset(url, { prefetch: "files", remote: { cacheDir: mkdtempSync(join(cache, "w")) } }),
    );
    console.log(
      `prefetch files: ${((await server.stats()).bytes / 1e6).toFixed(1)} MB in ${whole.ms.toFixed(0)} ms`,
    );

    // Cone search of ~100 rows, all columns.
    const ra = 150.25;
    const dec = 2.25;
    const radius = 3600 * Math.sqrt(((100 / n) * 0.25) / Math.PI);
    const cone = async (d: typeof local) => {
      let k = 0;
      for await (const b of d.coneSearch(ra, dec, radius).batches({ size: 128 })) k += b.length;
      return k;
    };
    const l1 = await time(() => cone(local));
    // Best of five on both sides (the first runs pay V8 compiling the cone's code paths).
    const localRuns = [];
    for (let i = 0; i < 5; i++) localRuns.push(await time(() => cone(local)));
    clearRemoteMemory();
    await server.reset();
    remoteStats(true);
    const cold = await openDataset(url, { remote: { cacheDir: mkdtempSync(join(cache, "c")) } });
    const c1 = await time(() => cone(cold));
    const coldBytes = (await server.stats()).bytes;
    const warmRuns = [];
    for (let i = 0; i < 5; i++) warmRuns.push(await time(() => cone(cold)));
    const c2 = { ms: Math.min(...warmRuns.map((r) => r.ms)) };
    const localMs = Math.min(...localRuns.map((r) => r.ms));
    console.log(
      `cone ${l1.value} rows: local ${localMs.toFixed(1)} ms; remote cold ${c1.ms.toFixed(1)} ms (${(c1.ms / localMs).toFixed(2)}x, ${(coldBytes / 1e6).toFixed(2)} MB over the wire), warm ${c2.ms.toFixed(1)} ms (${(c2.ms / localMs).toFixed(2)}x; target <= 1.2x)`,
    );
    if (c1.value !== l1.value)
      throw new Error(`remote cone found ${c1.value} rows, local ${l1.value}`);

    // Cross-match of two catalogs: all-sky, the second a jittered copy of 80% of the first.
    const rowsEach = quick ? 200_000 : 1_000_000;
    const catalog = (name: string, keep: number, jitterArcsec: number) =>
      writeDataset(join(dir, name), CATALOG_COLUMNS, catalogRows(rowsEach, keep, jitterArcsec), {
        config: "c",
        provenance: { survey: name.toUpperCase() },
      });
    await catalog("left", 1, 0);
    await catalog("right", 0.8, 0.5);
    const match = async (left: string, right: string, remote?: { cacheDir: string }) => {
      const options = remote ? { remote } : {};
      const l = await openDataset(left, options);
      const r = await openDataset(right, options);
      const res = await time(() => crossMatch(l, r, { radiusArcsec: 2 }));
      return { ms: res.ms, pairs: res.value.catalog.length };
    };
    const localMatch = await match(join(dir, "left"), join(dir, "right"));
    clearRemoteMemory();
    await server.reset();
    const xcache = mkdtempSync(join(cache, "x"));
    const coldMatch = await match(`${server.url}/left`, `${server.url}/right`, {
      cacheDir: xcache,
    });
    const xBytes = (await server.stats()).bytes;
    const warmMatch = await match(`${server.url}/left`, `${server.url}/right`, {
      cacheDir: xcache,
    });
    assert.equal(coldMatch.pairs, localMatch.pairs, "remote cross-match differs from local");
    assert.equal(warmMatch.pairs, localMatch.pairs);
    console.log(
      `cross-match ${rowsEach} x ${rowsEach} rows at 2 arcsec, ${localMatch.pairs} pairs: local ${(localMatch.ms / 1000).toFixed(2)} s; remote cold ${(coldMatch.ms / 1000).toFixed(2)} s (${(coldMatch.ms / localMatch.ms).toFixed(2)}x, ${(xBytes / 1e6).toFixed(1)} MB over the wire), warm (range cache on disk) ${(warmMatch.ms / 1000).toFixed(2)} s (${(warmMatch.ms / localMatch.ms).toFixed(2)}x)`,
    );
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
}
