// `npm run bench dataset`: iterating every row of a dataset several times larger than the
// heap limit, in a child process run with --max-old-space-size=256, sequentially and shuffled;
// h5py reading the same partition files in 256-row slices is the reference.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";

const HEAP_MB = 256;
const BANDS = 5;
const SIDE = 32;

function* rows(n: number): Generator<ColumnBatch> {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let s = 0; s < n; s += 1000) {
    const m = Math.min(1000, n - s);
    const image = new Float32Array(m * BANDS * SIDE * SIDE);
    for (let i = 0; i < image.length; i++) image[i] = rand();
    yield {
      object_id: BigInt64Array.from({ length: m }, (_, i) => BigInt(s + i)),
      // A 10 x 10 degree field, as a survey patch: ~100 partition pixels of a few hundred rows.
      ra: Float64Array.from({ length: m }, () => 150 + rand() * 10),
      dec: Float64Array.from({ length: m }, () => rand() * 10),
      image_array: image,
      mag: Float32Array.from({ length: m }, () => 18 + rand() * 6),
    };
  }
}

const SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
  { name: "image_array", dtype: "float32", shape: [BANDS, SIDE, SIDE] },
  { name: "mag", dtype: "float32", shape: [] },
];

const H5PY_ITERATE = `
import sys, json, time, glob, h5py, resource
root = sys.argv[1]
t = time.time(); rows = 0; nbytes = 0
for path in sorted(glob.glob(root + "/*/healpix=*/*.hdf5")):
    with h5py.File(path, "r") as f:
        n = f["ra"].shape[0]
        for s in range(0, n, 256):
            for name in ("object_id", "ra", "dec", "image_array", "mag", "healpix", "_healpix_29"):
                v = f[name][s:s + 256]
                nbytes += v.nbytes
            rows += min(256, n - s)
print(json.dumps({"rows": rows, "bytes": nbytes, "seconds": time.time() - t, "peakRss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const n = quick ? 10_000 : 60_000;
  const rowBytes = BANDS * SIDE * SIDE * 4 + 8 * 4 + 4;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-dataset-"));
  try {
    const root = join(dir, "ds");
    const t0 = performance.now();
    await writeDataset(root, SPECS, rows(n), {
      config: "main",
      provenance: { survey: "BENCH" },
      compression: "none",
    });
    const writeS = (performance.now() - t0) / 1000;
    const totalMB = (n * rowBytes) / 2 ** 20;
    console.log(
      `dataset: ${n} rows, ${totalMB.toFixed(0)} MiB of row data (${(totalMB / HEAP_MB).toFixed(1)}x the ${HEAP_MB} MiB heap limit), written in ${writeS.toFixed(1)} s`,
    );
    console.log("| reader | rows/s | MiB/s | peak RSS MiB | peak JS heap MiB |");
    console.log("|---|--:|--:|--:|--:|");
    const results: Record<
      string,
      { rows: number; bytes: number; seconds: number; peakRss: number; peakHeap?: number }
    > = {};
    for (const mode of ["sequential", "shuffle"]) {
      const out = execFileSync(
        process.execPath,
        [
          `--max-old-space-size=${HEAP_MB}`,
          join(import.meta.dirname, "dataset-iterate.mjs"),
          root,
          mode,
        ],
        { encoding: "utf8", maxBuffer: 1 << 20 },
      );
      results[mode] = JSON.parse(out.trim().split("\n").pop()!);
    }
    try {
      const out = execFileSync("/usr/bin/python3", ["-c", H5PY_ITERATE, root], {
        encoding: "utf8",
      });
      results.h5py = JSON.parse(out.trim());
    } catch (err) {
      console.log(`h5py reference unavailable: ${(err as Error).message.split("\n")[0]}`);
    }
    for (const [name, r] of Object.entries(results)) {
      const label =
        name === "h5py"
          ? "h5py, files in order, 256-row slices"
          : `AstroPile batches(256), ${name}, --max-old-space-size=${HEAP_MB}`;
      console.log(
        `| ${label} | ${(r.rows / r.seconds).toFixed(0)} | ${(r.bytes / 2 ** 20 / r.seconds).toFixed(0)} | ${(r.peakRss / 2 ** 20).toFixed(0)} | ${r.peakHeap ? (r.peakHeap / 2 ** 20).toFixed(0) : "-"} |`,
      );
      if (r.rows !== n) throw new Error(`${name} iterated ${r.rows} rows, expected ${n}`);
    }
    if (results.h5py) {
      console.log(
        `ratio h5py/AstroPile rows/s: sequential ${(results.sequential.rows / results.sequential.seconds / (results.h5py.rows / results.h5py.seconds)).toFixed(2)}x of h5py speed`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
