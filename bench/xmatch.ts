// `npm run bench xmatch`: the in-memory kernel (src/xmatch/kernel.ts) against astropy's
// match_coordinates_sky and search_around_sky (Debian's python3-astropy under
// /usr/bin/python3) on the same 1e6 x 1e6 uniform random points at 1 arcsec.
//
// Points are generated once (seeded) and written as raw little-endian float64 files that the
// Python side reads before its timer starts; each side times itself (performance.now /
// time.perf_counter), best of 3, so interpreter start-up, imports and I/O are never timed.
// Both answers are compared (pair counts and nearest separations) so a fast wrong answer
// cannot pass. Then end to end from disk on 1e7 x 1e7 rows (bench/xmatch-out-of-core.ts, in a
// child process for its peak RSS). `--quick` runs 1e5 x 1e5. Results: BENCHMARKS.md, "xmatch".
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/dataset/index.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { matchAll, matchNearest, SkyIndex } from "../src/xmatch/kernel.ts";
import { startSortThread, stopSortThread } from "../src/xmatch/sort-thread.ts";
import { mulberry32 } from "../test/helpers/sky-points.ts";

const PYTHON = "/usr/bin/python3";
const RADIUS_ARCSEC = 1;
const ROUNDS = 3;

const ASTROPY = `
import sys, time, json
import numpy as np
import astropy, astropy.units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky
d, n, r, rounds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ra1, dec1, ra2, dec2 = (np.fromfile(f"{d}/{k}.f64", dtype="<f8") for k in ("ra1", "dec1", "ra2", "dec2"))
c1 = SkyCoord(ra1 * u.deg, dec1 * u.deg)
c2 = SkyCoord(ra2 * u.deg, dec2 * u.deg)
best = {"match": 1e9, "search": 1e9}
for _ in range(rounds):
    t = time.perf_counter()
    idx, sep, _ = match_coordinates_sky(c1, c2)  # builds its k-d tree each time (no cache)
    within = int((sep.to_value(u.arcsec) <= r).sum())
    best["match"] = min(best["match"], time.perf_counter() - t)
    t = time.perf_counter()
    i1, i2, s, _ = search_around_sky(c1, c2, r * u.arcsec)
    best["search"] = min(best["search"], time.perf_counter() - t)
print(json.dumps({"astropy": astropy.__version__, "match_s": best["match"], "search_s": best["search"],
  "nearest_within": within, "pairs": int(i1.size)}))
`;

function uniform(n: number, seed: number): { ra: Float64Array; dec: Float64Array } {
  const rand = mulberry32(seed);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ra[i] = rand() * 360;
    dec[i] = (Math.asin(2 * rand() - 1) * 180) / Math.PI;
  }
  return { ra, dec };
}

function best<T>(fn: () => T): { s: number; value: T } {
  let s = Number.POSITIVE_INFINITY;
  let value: T | undefined;
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    value = fn();
    s = Math.min(s, (performance.now() - t) / 1000);
  }
  return { s, value: value as T };
}

export async function run(options: { quick: boolean }): Promise<void> {
  const n = options.quick ? 100_000 : 1_000_000;
  const { a, b } = benchPoints(n);
  const r = RADIUS_ARCSEC / 3600;
  console.log(
    `points: ${n} x ${n} uniform (a tenth of the right side near left points), radius ${RADIUS_ARCSEC}"`,
  );
  console.log(
    `load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  const index = best(() => new SkyIndex(b, r));
  // One thread first, then the default: the right side sorted on the kernel's helper thread.
  const nearest1 = best(() => matchNearest(a, b, r, { threads: 1 }));
  const all1 = best(() => matchAll(a, b, r, { threads: 1 }));
  const helper = await startSortThread();
  const nearest = best(() => matchNearest(a, b, r));
  const all = best(() => matchAll(a, b, r));
  await stopSortThread();
  const query = best(() => matchNearest(a, index.value, r));
  const dir = await mkdtemp(join(tmpdir(), "astropile-bench-xmatch-"));
  try {
    await writeFile(join(dir, "ra1.f64"), a.ra);
    await writeFile(join(dir, "dec1.f64"), a.dec);
    await writeFile(join(dir, "ra2.f64"), b.ra);
    await writeFile(join(dir, "dec2.f64"), b.dec);
    const py = spawnSync(
      PYTHON,
      ["-c", ASTROPY, dir, String(n), String(RADIUS_ARCSEC), String(ROUNDS)],
      {
        encoding: "utf8",
        maxBuffer: 1 << 26,
      },
    );
    if (py.status !== 0) {
      console.log(`astropy side failed or missing: ${py.stderr.trim().split("\n").pop()}`);
      return;
    }
    const ap = JSON.parse(py.stdout) as {
      astropy: string;
      match_s: number;
      search_s: number;
      nearest_within: number;
      pairs: number;
    };
    const row = (name: string, ours: number, theirs: number) =>
      console.log(
        `| ${name} | ${ours.toFixed(3)} s | ${theirs.toFixed(3)} s | ${(theirs / ours).toFixed(2)}x |`,
      );
    console.log(`astropy ${ap.astropy}; best of ${ROUNDS}; ratio = astropy time / AstroPile time`);
    console.log(
      `AstroPile: the default (right side sorted on the kernel's helper thread: ${helper ? "running" : "NOT available, one thread"}) and threads: 1`,
    );
    console.log("| task | AstroPile | astropy | speed-up |");
    console.log("|---|---|---|---|");
    row('nearest within 1" (match_coordinates_sky + cut)', nearest.s, ap.match_s);
    row('all pairs within 1" (search_around_sky)', all.s, ap.search_s);
    row('nearest within 1", threads: 1', nearest1.s, ap.match_s);
    row('all pairs within 1", threads: 1', all1.s, ap.search_s);
    console.log(
      `AstroPile detail: index build ${index.s.toFixed(3)} s, ${n} nearest queries on a built index ${query.s.toFixed(3)} s`,
    );
    console.log(
      `answers: nearest within radius ${nearest.value.left.length} (astropy ${ap.nearest_within}); pairs ${all.value.left.length} (astropy ${ap.pairs})`,
    );
    if (
      nearest.value.left.length !== ap.nearest_within ||
      all.value.left.length !== ap.pairs ||
      nearest1.value.left.length !== ap.nearest_within ||
      all1.value.left.length !== ap.pairs
    ) {
      console.log("WARNING: the answers differ");
    }
    await outOfCore(options.quick ? 100_000 : 10_000_000);
    console.log(
      `load average after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The out-of-core datasets are kept between runs (bench/data is ignored by git). */
const DATA = join(import.meta.dirname, "data");

/** Same points as the kernel part: a uniform, b uniform with a tenth moved near a. */
function benchPoints(n: number) {
  const a = uniform(n, 1);
  const b = uniform(n, 2);
  const rand = mulberry32(3);
  for (let i = 0; i < n / 10; i++) {
    const j = Math.floor(rand() * n);
    b.dec[i] = Math.max(-90, Math.min(90, a.dec[j]! + (rand() - 0.5) / 3600));
    b.ra[i] = (a.ra[j]! + (rand() - 0.5) / 3600 + 360) % 360;
  }
  return { a, b };
}

/** Writes (once) the two parent datasets of n rows each; returns their directories. */
async function outOfCoreData(n: number): Promise<{ left: string; right: string; wrote: boolean }> {
  const root = join(DATA, `xmatch-${n}`);
  const left = join(root, "left");
  const right = join(root, "right");
  const ready = async (d: string) => {
    try {
      const ds = await openDataset(d);
      return ds.length === n && ds.manifest.configs.main?.positions !== undefined;
    } catch {
      return false;
    }
  };
  if ((await ready(left)) && (await ready(right))) return { left, right, wrote: false };
  await rm(root, { recursive: true, force: true });
  const { a, b } = benchPoints(n);
  const BATCH = 1_000_000;
  for (const [dir, p] of [
    [left, a],
    [right, b],
  ] as const) {
    const t = performance.now();
    await writeDataset(
      dir,
      [
        { name: "object_id", dtype: "int64", shape: [] },
        { name: "ra", dtype: "float64", shape: [], unit: "deg" },
        { name: "dec", dtype: "float64", shape: [], unit: "deg" },
      ],
      (function* () {
        for (let s = 0; s < n; s += BATCH) {
          const e = Math.min(n, s + BATCH);
          yield {
            object_id: BigInt64Array.from({ length: e - s }, (_, i) => BigInt(s + i)),
            ra: p.ra.subarray(s, e),
            dec: p.dec.subarray(s, e),
          };
        }
      })(),
      { config: "main", provenance: { survey: dir.endsWith("left") ? "left" : "right" } },
    );
    console.log(`  wrote ${dir} in ${((performance.now() - t) / 1000).toFixed(0)} s (untimed)`);
  }
  return { left, right, wrote: true };
}

/**
 * End to end from disk: crossMatch of two parent datasets of n rows each (the kernel part's
 * points; gzip partition files, positions sidecars), in a child process so its peak RSS is
 * the match's alone. Checked against the in-memory kernel's count on the same points.
 */
async function outOfCore(n: number): Promise<void> {
  const { left, right } = await outOfCoreData(n);
  const child = spawnSync(
    process.execPath,
    [
      "--import",
      join(import.meta.dirname, "..", "test", "helpers", "preload.mjs"),
      "--import",
      "tsx",
      join(import.meta.dirname, "xmatch-out-of-core.ts"),
      left,
      right,
      String(RADIUS_ARCSEC),
    ],
    { encoding: "utf8", maxBuffer: 1 << 26 },
  );
  if (child.status !== 0) throw new Error(`out-of-core run failed: ${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
    seconds: number[];
    cpuSeconds: number[];
    rows: number;
    units: number;
    threads: number;
    rightRowsRead: number;
    maxRssMiB: number;
  };
  const { a, b } = benchPoints(n);
  const expect = matchNearest(a, b, RADIUS_ARCSEC / 3600).left.length;
  const best = Math.min(...r.seconds);
  console.log(
    `out of core, ${n} x ${n} rows (gzip partition files + positions sidecars), radius ${RADIUS_ARCSEC}", nearest: ` +
      `${r.seconds.map((x) => x.toFixed(2)).join(" / ")} s (best ${best.toFixed(2)} s) = ${(n / best / 1e6).toFixed(2)}M left rows/s; ` +
      `CPU ${r.cpuSeconds.map((x) => x.toFixed(2)).join(" / ")} s; ` +
      `${r.units} units on ${r.threads} threads, ${r.rightRowsRead} right rows read; peak RSS ${r.maxRssMiB.toFixed(0)} MiB; ` +
      `${r.rows} matches (in-memory kernel: ${expect})${r.rows === expect ? "" : " WARNING: differ"}`,
  );
}
