// `npm run bench xmatch-out`: `astropile xmatch --out` (MatchedDataset.saveToDisk) in a child
// process, on synthetic datasets with image-sized rows, for output sizes of 1e3, 1e4 and 1e5
// rows (and 1e6 catalog-only rows), printing the child's peak RSS (/usr/bin/time -f %M) per
// size. saveToDisk reads and writes in batches sized by bytes within --memory, so the peak RSS
// must stay flat whatever the output size (before: 4096 rows a batch whatever their size, 2.8 GB
// for 2,620 image rows and 4.4 GB for 6,616).
//
// Each case is `--mode all` on two clusters of points within the radius of each other, so the
// output has left rows x right rows rows while the inputs stay small: the output is what grows.
// Rows as HSC stamps: image_array, image_ivar float32 and image_mask bool, 5 bands of 64 x 64
// (184,320 bytes a side, 368,640 a saved row); the 1e5 case uses 16 x 16 stamps (11,520 bytes a
// side) so that it fits the disk of a small machine (the sorter spills runs uncompressed).
// `--quick`: 1e3 and 1e4 only. Inputs are kept in bench/data/xmatch-out (ignored by git).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import type { ColumnSpec } from "../src/core/columns.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { mulberry32 } from "../test/helpers/sky-points.ts";

const ROOT = join(import.meta.dirname, "..");
const DATA = join(ROOT, "bench", "data", "xmatch-out");
const MEMORY = "512MiB";
const RADIUS_ARCSEC = 3600;

interface Case {
  name: string;
  leftRows: number;
  rightRows: number;
  /** Stamp side (pixels), 5 bands; 0 = catalog-only rows. */
  stamp: number;
}

const CASES: Case[] = [
  { name: "1e3", leftRows: 100, rightRows: 10, stamp: 64 },
  { name: "1e4", leftRows: 1000, rightRows: 10, stamp: 64 },
  { name: "1e5", leftRows: 1000, rightRows: 100, stamp: 16 },
  { name: "1e6", leftRows: 10_000, rightRows: 100, stamp: 0 },
];

function columns(stamp: number): ColumnSpec[] {
  const cols: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [], unit: "deg" },
    { name: "dec", dtype: "float64", shape: [], unit: "deg" },
    { name: "mag", dtype: "float32", shape: [] },
  ];
  if (stamp > 0) {
    const shape = [5, stamp, stamp];
    cols.push(
      { name: "image_array", dtype: "float32", shape },
      { name: "image_ivar", dtype: "float32", shape },
      { name: "image_mask", dtype: "bool", shape },
    );
  }
  return cols;
}

function rowBytes(stamp: number): number {
  return 8 + 8 + 8 + 4 + 5 * stamp * stamp * 9;
}

/** A dataset of `rows` points within ~0.2 deg of (150, 2), written in batches of ~64 MB. */
async function makeSide(root: string, rows: number, stamp: number, seed: number): Promise<void> {
  if (existsSync(join(root, "astropile.json"))) return;
  const rand = mulberry32(seed);
  const per = 5 * stamp * stamp;
  const batchRows = Math.max(1, Math.min(rows, Math.floor((64 << 20) / rowBytes(stamp))));
  async function* batches() {
    for (let s = 0; s < rows; s += batchRows) {
      const n = Math.min(batchRows, rows - s);
      const batch: Record<string, Float64Array | Float32Array | BigInt64Array | Uint8Array> = {
        object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(seed * 1e7 + s + i)),
        ra: Float64Array.from({ length: n }, () => 150 + (rand() - 0.5) * 0.4),
        dec: Float64Array.from({ length: n }, () => 2 + (rand() - 0.5) * 0.4),
        mag: Float32Array.from({ length: n }, () => 18 + rand() * 6),
      };
      if (stamp > 0) {
        // Smooth, compressible stamps (gzip files stay small), different per row.
        batch.image_array = Float32Array.from({ length: n * per }, (_, k) => (k % 251) * 0.01 + s);
        batch.image_ivar = new Float32Array(n * per).fill(4);
        batch.image_mask = new Uint8Array(n * per).fill(1);
      }
      yield batch;
    }
  }
  await writeDataset(root, columns(stamp), batches(), {
    config: "c",
    provenance: { survey: `S${seed}` },
  });
}

interface Measured {
  name: string;
  outRows: number;
  savedRowBytes: number;
  seconds: number;
  maxRssMiB: number;
}

function runCase(c: Case, left: string, right: string, out: string): Measured {
  const t = performance.now();
  const r = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "%M",
      process.execPath,
      "--import",
      "h5wasm/node",
      "--import",
      "tsx",
      join(ROOT, "src", "cli", "bin.ts"),
      "xmatch",
      left,
      right,
      "--radius",
      String(RADIUS_ARCSEC),
      "--mode",
      "all",
      "--out",
      out,
      "--memory",
      MEMORY,
      "--threads",
      "0",
      "--json",
      "--quiet",
    ],
    { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 26 },
  );
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`xmatch --out failed (${r.status}): ${r.stderr}`);
  const kib = Number(r.stderr.trim().split("\n").pop());
  const summary = JSON.parse(r.stdout) as { rows: number };
  return {
    name: c.name,
    outRows: summary.rows,
    savedRowBytes: 2 * rowBytes(c.stamp) - 8 + 8 + 1 + 16,
    seconds,
    maxRssMiB: kib / 1024,
  };
}

export async function run(options: { quick: boolean }): Promise<void> {
  const cases = options.quick ? CASES.slice(0, 2) : CASES;
  console.log(
    `xmatch --out --memory ${MEMORY}, --mode all within ${RADIUS_ARCSEC}", one thread; peak RSS of the child (load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" / ")})`,
  );
  console.log("| output rows | bytes per saved row | output (uncompressed) | wall | peak RSS |");
  console.log("|---|---|---|---|---|");
  for (const c of cases) {
    const left = join(DATA, `left-${c.leftRows}-${c.stamp}`);
    const right = join(DATA, `right-${c.rightRows}-${c.stamp}`);
    await makeSide(left, c.leftRows, c.stamp, 1);
    await makeSide(right, c.rightRows, c.stamp, 2);
    const out = join(DATA, `out-${c.name}`);
    await rm(out, { recursive: true, force: true });
    try {
      const m = runCase(c, left, right, out);
      const total = (m.outRows * m.savedRowBytes) / 2 ** 30;
      console.log(
        `| ${m.outRows.toLocaleString("en-US")} | ${m.savedRowBytes.toLocaleString("en-US")} | ${total.toFixed(2)} GiB | ${m.seconds.toFixed(1)} s | ${m.maxRssMiB.toFixed(0)} MiB |`,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
}
