// `npm run bench export`: exporting a 1e6-row catalog dataset (object_id, ra, dec, healpix, five
// float32 magnitudes, an int32 and a 12-byte string) to CSV and FITS with exportDataset, against
// astropy writing the same table (Table.write, data already in memory; its h5py read is timed
// apart). astropy checks that both AstroPile exports hold the same rows and values. Best of 2.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";

const SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  ...["g", "r", "i", "z", "y"].map(
    (b): ColumnSpec => ({ name: `${b}_mag`, dtype: "float32", shape: [], unit: "mag" }),
  ),
  { name: "tract", dtype: "int32", shape: [] },
  { name: "name", dtype: "string", shape: [], stringLength: 12 },
];

function* rows(n: number): Generator<ColumnBatch> {
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let s = 0; s < n; s += 100_000) {
    const m = Math.min(100_000, n - s);
    const b: ColumnBatch = {
      object_id: BigInt64Array.from(
        { length: m },
        (_, i) => 40_000_000_000_000_000n + BigInt(s + i) * 7919n,
      ),
      ra: Float64Array.from({ length: m }, () => rand() * 360),
      dec: Float64Array.from({ length: m }, () => (Math.asin(2 * rand() - 1) * 180) / Math.PI),
      tract: Int32Array.from({ length: m }, (_, i) => 9000 + ((s + i) % 977)),
      name: Array.from({ length: m }, (_, i) => `obj_${s + i}`),
    };
    for (const band of ["g", "r", "i", "z", "y"])
      b[`${band}_mag`] = Float32Array.from({ length: m }, () => 18 + rand() * 8);
    yield b;
  }
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const n = quick ? 100_000 : 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-export-"));
  try {
    const root = join(dir, "cat");
    await writeDataset(root, SPECS, rows(n), {
      config: "main",
      provenance: { survey: "BENCH" },
      compression: "gzip",
    });
    // The exports run in a child process: its peak RSS is theirs alone.
    const child = JSON.parse(
      execFileSync(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "export-child.ts"), root, dir],
        { encoding: "utf8" },
      ),
    ) as { rows: number; best: Record<string, number>; maxRssBytes: number };
    if (child.rows !== n) throw new Error(`${child.rows} rows exported, not ${n}`);
    const best = child.best;
    const ref = JSON.parse(
      execFileSync(
        "/usr/bin/python3",
        [
          join(import.meta.dirname, "export_astropy.py"),
          root,
          "main",
          join(dir, "ours.csv"),
          join(dir, "ours.fits"),
          dir,
        ],
        { encoding: "utf8", maxBuffer: 1 << 26 },
      ),
    ) as {
      rows: number;
      read_s: number;
      csv_s: number;
      fits_s: number;
      fits_same: boolean;
      csv_same: boolean;
    };
    console.log(
      `rows ${n}, ${SPECS.length + 1} columns (healpix included); astropy read (h5py + vstack) ${ref.read_s.toFixed(2)} s; export process peak RSS ${(child.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    console.log(
      "| output | AstroPile exportDataset (read HDF5 + write) | astropy Table.write (in memory) | ratio | bytes (ours) | same values (astropy reads ours) |",
    );
    console.log(
      "| ------ | ------------------------------------------ | ------------------------------- | ----- | ------------ | -------------------------------- |",
    );
    for (const [to, theirs, same] of [
      ["csv", ref.csv_s, ref.csv_same],
      ["fits", ref.fits_s, ref.fits_same],
    ] as const) {
      const bytes = statSync(join(dir, `ours.${to}`)).size;
      console.log(
        `| ${to} | ${best[to].toFixed(2)} s (${(n / best[to] / 1e6).toFixed(2)}M rows/s) | ${theirs.toFixed(2)} s | ${(best[to] / theirs).toFixed(2)}x | ${bytes} | ${same} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
