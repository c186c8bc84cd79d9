// `npm run bench xmatch`: the in-memory kernel (src/xmatch/kernel.ts) against astropy's
// match_coordinates_sky and search_around_sky (Debian's python3-astropy under
// /usr/bin/python3) on the same 1e6 x 1e6 uniform random points at 1 arcsec.
//
// Points are generated once (seeded) and written as raw little-endian float64 files that the
// Python side reads before its timer starts; each side times itself (performance.now /
// time.perf_counter), best of 3, so interpreter start-up, imports and I/O are never timed.
// Both answers are compared (pair counts and nearest separations) so a fast wrong answer
// cannot pass. `--quick` runs 1e5 x 1e5. Results: BENCHMARKS.md, section "xmatch".
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/dataset/index.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { crossMatch } from "../src/xmatch/crossmatch.ts";
import { matchAll, matchNearest, SkyIndex } from "../src/xmatch/kernel.ts";
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
  const a = uniform(n, 1);
  const b = uniform(n, 2);
  // A tenth of the right side within ~1 arcsec of left points, so there are pairs to find.
  const rand = mulberry32(3);
  for (let i = 0; i < n / 10; i++) {
    const j = Math.floor(rand() * n);
    b.dec[i] = Math.max(-90, Math.min(90, a.dec[j]! + (rand() - 0.5) / 3600));
    b.ra[i] = (a.ra[j]! + (rand() - 0.5) / 3600 + 360) % 360;
  }
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
  const nearest = best(() => matchNearest(a, b, r));
  const all = best(() => matchAll(a, b, r));
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
    console.log("| task | AstroPile | astropy | speed-up |");
    console.log("|---|---|---|---|");
    row('nearest within 1" (match_coordinates_sky + cut)', nearest.s, ap.match_s);
    row('all pairs within 1" (search_around_sky)', all.s, ap.search_s);
    console.log(
      `AstroPile detail: index build ${index.s.toFixed(3)} s, ${n} nearest queries on a built index ${query.s.toFixed(3)} s`,
    );
    console.log(
      `answers: nearest within radius ${nearest.value.left.length} (astropy ${ap.nearest_within}); pairs ${all.value.left.length} (astropy ${ap.pairs})`,
    );
    if (nearest.value.left.length !== ap.nearest_within || all.value.left.length !== ap.pairs) {
      console.log("WARNING: the answers differ");
    }
    await outOfCore(dir, a, b, nearest.value.left.length);
    console.log(
      `load average after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * crossMatch over two parent datasets holding the same points (written untimed, no
 * compression, default file caps): end-to-end time including the HDF5 reads, pixel by pixel.
 */
async function outOfCore(
  dir: string,
  a: { ra: Float64Array; dec: Float64Array },
  b: { ra: Float64Array; dec: Float64Array },
  expectNearest: number,
): Promise<void> {
  const n = a.ra.length;
  const BATCH = 100_000;
  for (const [name, p] of [
    ["left", a],
    ["right", b],
  ] as const) {
    await writeDataset(
      join(dir, name),
      [
        { name: "object_id", dtype: "int64", shape: [] },
        { name: "ra", dtype: "float64", shape: [] },
        { name: "dec", dtype: "float64", shape: [] },
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
      { config: "main", provenance: { survey: name }, compression: "none" },
    );
  }
  const left = await openDataset(join(dir, "left"));
  const right = await openDataset(join(dir, "right"));
  const rss0 = process.memoryUsage().rss;
  const t = performance.now();
  const { catalog, stats } = await crossMatch(left, right, { radiusArcsec: RADIUS_ARCSEC });
  const s = (performance.now() - t) / 1000;
  console.log(
    `out of core: crossMatch(left, right, { radiusArcsec: ${RADIUS_ARCSEC} }) over ${left.manifest.files.length} + ${right.manifest.files.length} files: ${s.toFixed(2)} s, ${((2 * n) / s / 1e6).toFixed(2)}M rows/s (both sides), ${stats.pixels} pixels, ${stats.leftFilesRead} left + ${stats.rightFilesRead} right file reads, ${catalog.length} matches (kernel ${expectNearest}), RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
}
