// `npm run bench storage`: AstroPile's HDF5 storage (h5wasm through PartitionWriter /
// PartitionFile) against h5py (Debian's python3-h5py under /usr/bin/python3), in one run, on
// the same bytes and the same chunking.
//
//  1. write ~2 GiB of float32 image rows [5, 64, 64] in batches of 256, chunks [1, 5, 64, 64],
//     compression none and gzip 4; timed from file creation to close + fsync (both tools);
//  2. read 1000 random rows (fixed seed, same list) from the gzip and the uncompressed file:
//     one row per call (a data loader) and all rows in one call (h5py: ds[sorted_list]);
//  3. read two float64 columns (ra, dec) of 10M rows fully, gzip and none;
//  4. diagnostics of what limits AstroPile: per-row read cost below PartitionFile, zlib speeds.
//
// Reads use the same warm files for both tools (page cache not dropped: one untimed pass, then
// best of 3). Image data comes from a pool of pre-generated rows written once to a .bin file that
// the Python side reads before its timer starts, so generation is never timed. Results and their
// reading: BENCHMARKS.md, section "storage".
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, inflateSync } from "node:zlib";
import type { ColumnBatch } from "../src/core/columns.ts";
import { type Dataset, h5wasm, hdf5Ready } from "../src/storage/hdf5.ts";
import { PartitionFile } from "../src/storage/partition-file.ts";
import { chunkRows, PartitionWriter } from "../src/storage/partition-writer.ts";

const PYTHON = "/usr/bin/python3";
const H5PY_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "storage_h5py.py");
const H5WASM_VERSION = (
  JSON.parse(
    readFileSync(join(dirname(H5PY_SCRIPT), "../node_modules/h5wasm/package.json"), "utf8"),
  ) as { version: string }
).version;

const IMAGE_SHAPE = [5, 64, 64];
const IMAGE_VALUES = IMAGE_SHAPE.reduce((a, b) => a * b, 1);
const IMAGE_ROW_BYTES = IMAGE_VALUES * 4;
const BATCH_ROWS = 256;
const GZIP_LEVEL = 4;
const REPEATS = 3;
const SEED = 20240611;

const WRITE_TARGET = 2;
const READ_TARGET = 1.5;

interface Sizes {
  imageRows: number;
  poolBatches: number;
  randomRows: number;
  catalogRows: number;
}

function sizes(quick: boolean): Sizes {
  const full: Sizes = {
    imageRows: Math.floor(2 ** 31 / IMAGE_ROW_BYTES), // 26,214 rows = 2 GiB
    poolBatches: 4,
    randomRows: 1000,
    catalogRows: 10_000_000,
  };
  if (!quick) return full;
  return {
    imageRows: Math.floor(full.imageRows / 20),
    poolBatches: 2,
    randomRows: full.randomRows / 20,
    catalogRows: full.catalogRows / 20,
  };
}

// ---------------------------------------------------------------------------------------------
// Deterministic data

/** mulberry32: small, fast, seedable; good enough for benchmark data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Pool of galaxy-like cutouts: a Sérsic profile (random index, size, ellipticity, angle, centre)
 * scaled by a per-band SED, a couple of point sources, plus Gaussian sky noise per band. Raw
 * float32 as survey cutouts are stored, so gzip has structure to find but the noise resists it.
 */
export function imagePool(rows: number): Float32Array {
  const [bands, h, w] = IMAGE_SHAPE;
  const next = rng(SEED);
  const normal = gaussian(next);
  const out = new Float32Array(rows * IMAGE_VALUES);
  const profile = new Float64Array(h * w);
  for (let row = 0; row < rows; row++) {
    const n = 0.5 + 3.5 * next();
    const bn = 2 * n - 1 / 3;
    const re = 2 + 8 * next();
    const q = 0.3 + 0.7 * next();
    const theta = Math.PI * next();
    const cx = w / 2 + 2 * (next() - 0.5);
    const cy = h / 2 + 2 * (next() - 0.5);
    const [c, s] = [Math.cos(theta), Math.sin(theta)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const u = dx * c + dy * s;
        const v = (-dx * s + dy * c) / q;
        const r = Math.sqrt(u * u + v * v);
        profile[y * w + x] = Math.exp(-bn * ((r / re) ** (1 / n) - 1));
      }
    }
    const stars = Array.from({ length: 2 }, () => ({
      x: w * next(),
      y: h * next(),
      flux: 5 * next(),
    }));
    const brightness = 0.5 + 20 * next() ** 2;
    for (let b = 0; b < bands; b++) {
      const sed = 0.4 + 0.3 * b + 0.2 * next();
      const sigma = 0.05 + 0.05 * next();
      const base = (row * bands + b) * h * w;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let value = brightness * sed * profile[y * w + x];
          for (const star of stars) {
            const d2 = (x - star.x) ** 2 + (y - star.y) ** 2;
            value += star.flux * sed * Math.exp(-d2 / 3);
          }
          out[base + y * w + x] = value + sigma * normal();
        }
      }
    }
  }
  return out;
}

/** ra uniform in [0, 360), dec uniform on the sphere, as a full-sky catalogue. */
function catalogue(rows: number): { ra: Float64Array; dec: Float64Array } {
  const next = rng(SEED + 1);
  const ra = new Float64Array(rows);
  const dec = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    ra[i] = 360 * next();
    dec[i] = (Math.asin(2 * next() - 1) * 180) / Math.PI;
  }
  return { ra, dec };
}

/** `count` distinct rows in [0, total), random order, fixed seed (partial Fisher-Yates). */
export function randomRows(total: number, count: number): number[] {
  const next = rng(SEED + 2);
  const all = Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(next() * (total - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function h5py<T>(command: string, args: Record<string, unknown> = {}): T {
  const r = spawnSync(PYTHON, [H5PY_SCRIPT, command, JSON.stringify(args)], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} ${H5PY_SCRIPT} ${command} failed: ${r.stderr || r.error}`);
  }
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as T;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

interface Timed<T> {
  /** Best wall-clock seconds. */
  seconds: number;
  /** Best user + sys CPU seconds of the process (less sensitive to other load on the machine). */
  cpu: number;
  result: T;
}

/** One untimed warm-up call, then the best of REPEATS. */
function bestOf<T>(fn: () => T): Timed<T> {
  let result = fn();
  let best = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < REPEATS; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    result = fn();
    best = Math.min(best, seconds(t0));
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  return { seconds: best, cpu, result };
}

function sha256(...arrays: ArrayBufferView[]): string {
  const hash = createHash("sha256");
  for (const a of arrays) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest("hex");
}

async function hashFile(path: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 }))
    hash.update(chunk as Buffer);
  hash.digest("hex");
  return seconds(t0);
}

const MiB = 2 ** 20;

interface Row {
  case: string;
  bytes: number;
  ours: number;
  theirs: number;
  /** CPU seconds (user + sys) of each tool's process over the same region. */
  oursCpu: number;
  theirsCpu: number;
  target: number;
}

/** What one run collects: the comparison rows, notes under the table, diagnostic tables. */
interface Report {
  rows: Row[];
  notes: string[];
  diagnostics: { title: string; header: string[]; lines: string[][] }[];
}

function record(report: Report, row: Row): void {
  report.rows.push(row);
  console.log(
    `  ${row.case}: AstroPile ${row.ours.toFixed(3)} s, h5py ${row.theirs.toFixed(3)} s, ratio ${(row.ours / row.theirs).toFixed(2)} (target <= ${row.target})`,
  );
}

/** A Markdown table, first column left-aligned, the others right-aligned. */
function markdownTable(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  const rule = widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`));
  return [fmt(header), `|${rule.join("|")}|`, ...lines.map(fmt)].join("\n");
}

function printReport(report: Report): void {
  const lines = report.rows.map((r) => {
    const mb = r.bytes / 1e6;
    const ratio = r.ours / r.theirs;
    return [
      r.case,
      mb.toFixed(1),
      r.ours.toFixed(3),
      (mb / r.ours).toFixed(0),
      r.theirs.toFixed(3),
      (mb / r.theirs).toFixed(0),
      ratio.toFixed(2),
      `<= ${r.target}`,
      ratio <= r.target ? "ok" : "MISS",
      `${r.oursCpu.toFixed(3)} / ${r.theirsCpu.toFixed(3)}`,
      (r.oursCpu / r.theirsCpu).toFixed(2),
    ];
  });
  const header = ["case", "MB", "AstroPile s", "AstroPile MB/s", "h5py s", "h5py MB/s"];
  console.log();
  console.log(
    markdownTable([...header, "ratio", "target", "", "CPU s (AP / h5py)", "CPU ratio"], lines),
  );
  console.log();
  console.log(
    "- ratio = AstroPile wall time / h5py wall time (the targets apply to it); CPU s = user + sys CPU seconds of each process over the same region (best of 3 for reads), shown because other jobs shared this machine during the run",
  );
  for (const n of report.notes) console.log(`- ${n}`);
  for (const d of report.diagnostics) {
    console.log(`\n${d.title}\n`);
    console.log(markdownTable(d.header, d.lines));
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Writing image rows

interface WriteResult {
  seconds: number;
  /** user + sys CPU seconds of the process over the same region (less sensitive to other load). */
  cpuSeconds: number;
  closeSeconds: number;
  bytes: number;
  peakRss: number;
  baseRss: number;
}

/** Writes `rows` rows cycling through the pool's batches; times create .. close() resolved. */
async function writeImages(
  path: string,
  pool: Float32Array,
  rows: number,
  compression: "none" | "gzip",
  durable = true,
): Promise<WriteResult> {
  const poolBatches = pool.length / IMAGE_VALUES / BATCH_ROWS;
  const batches = Array.from({ length: poolBatches }, (_, k) =>
    pool.subarray(k * BATCH_ROWS * IMAGE_VALUES, (k + 1) * BATCH_ROWS * IMAGE_VALUES),
  );
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  // The append loop is synchronous, so it samples itself; the timer covers the async close().
  const timer = setInterval(sample, 20);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const writer = await PartitionWriter.create(
      path,
      [{ name: "image", dtype: "float32", shape: IMAGE_SHAPE }],
      { compression, gzipLevel: GZIP_LEVEL, chunkBytes: IMAGE_ROW_BYTES, durable },
    );
    for (let start = 0, k = 0; start < rows; start += BATCH_ROWS, k++) {
      const n = Math.min(BATCH_ROWS, rows - start);
      writer.append({ image: batches[k % poolBatches].subarray(0, n * IMAGE_VALUES) });
      sample();
    }
    const t1 = process.hrtime.bigint();
    const written = await writer.close();
    const total = seconds(t0);
    const closeSeconds = seconds(t1);
    const cpu = process.cpuUsage(cpu0);
    sample();
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return { seconds: total, cpuSeconds, closeSeconds, bytes: written.bytes, peakRss, baseRss };
  } finally {
    clearInterval(timer);
  }
}

interface H5pyWrite {
  seconds: number;
  cpu_seconds: number;
  close_seconds: number;
  fsync_seconds: number;
  bytes: number;
  max_rss: number;
}

type Files = Record<"none" | "gzip", string>;

async function benchWrites(
  report: Report,
  dir: string,
  poolPath: string,
  pool: Float32Array,
  rows: number,
): Promise<Files> {
  const imageBytes = rows * IMAGE_ROW_BYTES;
  console.log(
    `  writing ${rows} rows of float32 [${IMAGE_SHAPE.join(", ")}] = ${(imageBytes / MiB).toFixed(0)} MiB, batches of ${BATCH_ROWS}, chunks [1, ${IMAGE_SHAPE.join(", ")}]`,
  );
  const files: Files = { none: "", gzip: "" };
  for (const compression of ["none", "gzip"] as const) {
    const label = compression === "gzip" ? `gzip ${GZIP_LEVEL}` : "none";
    const ours = join(dir, `images-${compression}.hdf5`);
    const theirs = join(dir, `images-${compression}-h5py.hdf5`);
    const a = await writeImages(ours, pool, rows, compression);
    // The same read-back the writer's close() does, timed alone on the now-warm file.
    const hashSeconds = await hashFile(ours);
    const h = h5py<H5pyWrite>("write", {
      path: theirs,
      pool: poolPath,
      shape: IMAGE_SHAPE,
      chunks: [1, ...IMAGE_SHAPE],
      rows,
      batch: BATCH_ROWS,
      compression,
      level: GZIP_LEVEL,
    });
    record(report, {
      case: `write images, ${label}`,
      bytes: imageBytes,
      ours: a.seconds,
      theirs: h.seconds,
      oursCpu: a.cpuSeconds,
      theirsCpu: h.cpu_seconds,
      target: WRITE_TARGET,
    });
    report.notes.push(
      `write ${label}: files ${(a.bytes / MiB).toFixed(0)} MiB (AstroPile) and ${(h.bytes / MiB).toFixed(0)} MiB (h5py), compression ratio ${(imageBytes / a.bytes).toFixed(2)}. ` +
        `AstroPile close() took ${a.closeSeconds.toFixed(2)} s of ${a.seconds.toFixed(2)} s (metadata + sha256 read-back + fsync + rename); ` +
        `the sha256 read-back alone, timed on the warm file, ${hashSeconds.toFixed(2)} s: without it the ratio would be ~${((a.seconds - hashSeconds) / h.seconds).toFixed(2)}. ` +
        `h5py: f.close() ${h.close_seconds.toFixed(2)} s + fsync ${h.fsync_seconds.toFixed(2)} s. ` +
        `CPU time (user + sys, less sensitive to other load on the machine): AstroPile ${a.cpuSeconds.toFixed(2)} s, h5py ${h.cpu_seconds.toFixed(2)} s, ratio ${(a.cpuSeconds / h.cpu_seconds).toFixed(2)}`,
    );
    report.notes.push(
      `write ${label}: Node RSS peak ${(a.peakRss / MiB).toFixed(0)} MiB, ${((a.peakRss - a.baseRss) / MiB).toFixed(0)} MiB above the ${(a.baseRss / MiB).toFixed(0)} MiB before the write ` +
        `(the baseline holds the ${(pool.byteLength / MiB).toFixed(0)} MiB row pool, and under tsx several hundred MiB from loading h5wasm's 4 MB module, which GC later releases); ` +
        `h5py process max RSS ${(h.max_rss / MiB).toFixed(0)} MiB`,
    );
    await rm(theirs, { force: true });
    files[compression] = ours;
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// 2. Random rows

interface H5pyRows {
  single_seconds: number;
  single_cpu: number;
  fancy_seconds: number;
  fancy_cpu: number;
  sha256: string;
  fancy_sha256: string;
}

async function benchRandomRows(
  report: Report,
  dir: string,
  files: Files,
  imageRows: number,
  count: number,
) {
  const list = randomRows(imageRows, count);
  const rowsFile = join(dir, "rows.json");
  await writeFile(rowsFile, JSON.stringify(list));
  const bytes = list.length * IMAGE_ROW_BYTES;
  console.log(`  ${list.length} distinct random rows (seed ${SEED + 2}) of ${imageRows}`);
  const perRow: string[][] = [];
  for (const compression of ["none", "gzip"] as const) {
    const label = compression === "gzip" ? `gzip ${GZIP_LEVEL}` : "none";
    const path = files[compression];
    const file = await PartitionFile.open(path);
    let single: Timed<Float32Array>;
    let all: Timed<Float32Array>;
    let range: Timed<Float32Array>;
    try {
      const chunks = file.column("image").chunks;
      if (chunks?.[0] !== 1) throw new Error(`unexpected chunks ${chunks}`);
      single = bestOf(() => {
        const out = new Float32Array(list.length * IMAGE_VALUES);
        for (let i = 0; i < list.length; i++) {
          const got = file.readRows(["image"], [list[i]]).image as Float32Array;
          out.set(got, i * IMAGE_VALUES);
        }
        return out;
      });
      all = bestOf(() => file.readRows(["image"], list).image as Float32Array);
      range = bestOf(() => {
        const out = new Float32Array(list.length * IMAGE_VALUES);
        for (let i = 0; i < list.length; i++) {
          const got = file.readRange(["image"], list[i], list[i] + 1).image as Float32Array;
          out.set(got, i * IMAGE_VALUES);
        }
        return out;
      });
    } finally {
      file.close();
    }
    const h = h5py<H5pyRows>("read_rows", {
      path,
      column: "image",
      rows_file: rowsFile,
      repeats: REPEATS,
    });
    const ok =
      sha256(single.result) === h.sha256 &&
      sha256(all.result) === h.sha256 &&
      h.fancy_sha256 === h.sha256;
    if (!ok) throw new Error(`random rows from ${path}: AstroPile and h5py read different bytes`);
    record(report, {
      case: `${list.length} random rows one per call, ${label}`,
      bytes,
      ours: single.seconds,
      theirs: h.single_seconds,
      oursCpu: single.cpu,
      theirsCpu: h.single_cpu,
      target: READ_TARGET,
    });
    record(report, {
      case: `${list.length} random rows in one call, ${label}`,
      bytes,
      ours: all.seconds,
      theirs: h.fancy_seconds,
      oursCpu: all.cpu,
      theirsCpu: h.fancy_cpu,
      target: READ_TARGET,
    });
    const floor = await h5wasmFloor(path, list);
    const us = (s: number) => ((s / list.length) * 1e6).toFixed(0);
    perRow.push([
      label,
      us(single.cpu),
      us(range.cpu),
      us(floor.slice),
      us(floor.raw),
      us(h.single_cpu),
    ]);
  }
  report.notes.push(
    `random rows: AstroPile readRows([row]) per row vs h5py ds[i] (both in the same random order); readRows(all ${list.length}) vs h5py ds[sorted_list]; all reads checked byte-identical (sha256)`,
  );
  report.diagnostics.push({
    title: `Per-row read cost in CPU µs (user + sys) per 80 KiB row (${list.length} random rows, best of ${REPEATS}, warm)`,
    header: [
      "file",
      "readRows([r])",
      "readRange(r, r+1)",
      "h5wasm Dataset.slice, Dataset kept",
      "h5wasm get_dataset_data, no copy",
      "h5py ds[i]",
    ],
    lines: perRow,
  });
}

/**
 * What h5wasm itself costs per row, below PartitionFile: Dataset.slice on one Dataset object kept
 * across calls (PartitionFile looks the dataset up on every call, so slice() re-reads metadata),
 * and the bare get_dataset_data call into one preallocated wasm buffer (no JS allocation, no copy
 * out; it still opens and closes the HDF5 dataset on every call).
 */
async function h5wasmFloor(path: string, list: number[]): Promise<{ slice: number; raw: number }> {
  await hdf5Ready();
  const module = await h5wasm().ready;
  const file = new (h5wasm().File)(path, "r");
  try {
    const dataset = file.get("image") as Dataset;
    const slice = bestOf(() => {
      for (const r of list) dataset.slice([[r, r + 1]]);
    }).cpu;
    const ptr = module._malloc(IMAGE_ROW_BYTES);
    try {
      const count = [1n, ...IMAGE_SHAPE.map(BigInt)];
      const strides = count.map(() => 1n);
      const raw = bestOf(() => {
        for (const r of list) {
          const offset = [BigInt(r), 0n, 0n, 0n];
          module.get_dataset_data(file.file_id, "/image", count, offset, strides, BigInt(ptr));
        }
      }).cpu;
      return { slice, raw };
    } finally {
      module._free(ptr);
    }
  } finally {
    file.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Full read of two float64 columns

interface H5pyCols {
  seconds: number;
  cpu: number;
  sha256: string;
}

async function benchColumns(report: Report, dir: string, rows: number) {
  const { ra, dec } = catalogue(rows);
  const specs = [
    { name: "ra", dtype: "float64" as const, shape: [] },
    { name: "dec", dtype: "float64" as const, shape: [] },
  ];
  const expected = sha256(ra, dec);
  const bytes = rows * 16;
  console.log(
    `  ${rows} rows of ra, dec float64 (${(bytes / MiB).toFixed(0)} MiB), chunks of ${chunkRows(specs[0])} rows (the writer's default)`,
  );
  for (const compression of ["none", "gzip"] as const) {
    const label = compression === "gzip" ? `gzip ${GZIP_LEVEL}` : "none";
    const path = join(dir, `catalogue-${compression}.hdf5`);
    const t0 = process.hrtime.bigint();
    const writer = await PartitionWriter.create(path, specs, {
      compression,
      gzipLevel: GZIP_LEVEL,
    });
    const step = 1 << 20;
    for (let s = 0; s < rows; s += step) {
      const e = Math.min(rows, s + step);
      writer.append({ ra: ra.subarray(s, e), dec: dec.subarray(s, e) });
    }
    const written = await writer.close();
    const writeSeconds = seconds(t0);
    const file = await PartitionFile.open(path);
    let ours: Timed<ColumnBatch>;
    try {
      ours = bestOf(() => file.readRange(["ra", "dec"], 0, rows));
    } finally {
      file.close();
    }
    const got = sha256(ours.result.ra as Float64Array, ours.result.dec as Float64Array);
    const h = h5py<H5pyCols>("read_cols", { path, repeats: REPEATS });
    if (got !== expected || h.sha256 !== expected) {
      throw new Error(`columns from ${path}: a reader returned different bytes`);
    }
    record(report, {
      case: `ra+dec ${rows} rows full, ${label}`,
      bytes,
      ours: ours.seconds,
      theirs: h.seconds,
      oursCpu: ours.cpu,
      theirsCpu: h.cpu,
      target: READ_TARGET,
    });
    report.notes.push(
      `ra+dec ${label}: file ${(written.bytes / MiB).toFixed(0)} MiB, written by AstroPile in ${writeSeconds.toFixed(2)} s (not compared)`,
    );
    await rm(path, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Codec: zlib level 4 on the pool rows, one 80 KiB row (= one chunk) per call

interface H5pyCodec {
  zlib_version: string;
  deflate_seconds: number;
  inflate_seconds: number;
  write_none_seconds: number;
  write_gzip_seconds: number;
  read_none_seconds: number;
  read_gzip_seconds: number;
}

/** CPU seconds (user + sys) of this process spent in fn: robust to other load on the machine. */
function cpuSeconds(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/**
 * zlib level 4 on the pool rows, one row (= one chunk) per call, in CPU seconds so that other
 * load on the machine does not blur it: node:zlib and Python's zlib (native), then the gzip
 * filter inside each HDF5 build, implied as (gzip - none) for writing and reading the same rows
 * (no hash, no fsync).
 */
async function benchCodec(report: Report, dir: string, poolPath: string, pool: Float32Array) {
  const bytes = new Uint8Array(pool.buffer, pool.byteOffset, pool.byteLength);
  const rows = pool.length / IMAGE_VALUES;
  const chunk = (i: number) => bytes.subarray(i * IMAGE_ROW_BYTES, (i + 1) * IMAGE_ROW_BYTES);
  for (let i = 0; i < 8; i++) inflateSync(deflateSync(chunk(i), { level: GZIP_LEVEL }));
  const compressed: Buffer[] = [];
  const deflateCpu = cpuSeconds(() => {
    for (let i = 0; i < rows; i++) compressed.push(deflateSync(chunk(i), { level: GZIP_LEVEL }));
  });
  const inflateCpu = cpuSeconds(() => {
    for (const c of compressed) inflateSync(c);
  });

  const wasm: Record<string, { write: number; read: number }> = {};
  for (const compression of ["none", "gzip"] as const) {
    const path = join(dir, `codec-${compression}.hdf5`);
    const w = await writeImages(path, pool, rows, compression, false);
    const file = await PartitionFile.open(path);
    try {
      file.readRange(["image"], 0, rows);
      let read = Number.POSITIVE_INFINITY;
      for (let k = 0; k < REPEATS; k++) {
        read = Math.min(
          read,
          cpuSeconds(() => file.readRange(["image"], 0, rows)),
        );
      }
      wasm[compression] = { write: w.cpuSeconds, read };
    } finally {
      file.close();
    }
    await rm(path, { force: true });
  }
  const h = h5py<H5pyCodec>("codec", {
    pool: poolPath,
    shape: IMAGE_SHAPE,
    chunks: [1, ...IMAGE_SHAPE],
    batch: BATCH_ROWS,
    level: GZIP_LEVEL,
    dir,
    repeats: REPEATS,
  });
  const mbs = (s: number) => (s > 0 ? (bytes.length / 1e6 / s).toFixed(0) : "n/a");
  report.diagnostics.push({
    title: `zlib level ${GZIP_LEVEL} on the ${rows} pool rows (${(bytes.length / MiB).toFixed(0)} MiB), one 80 KiB row (one chunk) per call: MB of raw data per CPU second`,
    header: ["codec", "deflate MB/CPU-s", "inflate MB/CPU-s"],
    lines: [
      [`node:zlib (native, zlib ${process.versions.zlib})`, mbs(deflateCpu), mbs(inflateCpu)],
      [
        `Python zlib (native, zlib ${h.zlib_version}, as Debian's libhdf5 uses)`,
        mbs(h.deflate_seconds),
        mbs(h.inflate_seconds),
      ],
      [
        "h5wasm gzip filter (zlib compiled to wasm), implied: gzip - none",
        mbs(wasm.gzip.write - wasm.none.write),
        mbs(wasm.gzip.read - wasm.none.read),
      ],
      [
        "h5py gzip filter (native), implied: gzip - none",
        mbs(h.write_gzip_seconds - h.write_none_seconds),
        mbs(h.read_gzip_seconds - h.read_none_seconds),
      ],
    ],
  });
}

// ---------------------------------------------------------------------------------------------

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const size = sizes(quick);
  const report: Report = { rows: [], notes: [], diagnostics: [] };
  const info = h5py<{ h5py: string; hdf5: string; numpy: string }>("info");
  console.log(
    `AstroPile (PartitionWriter: its own HDF5 writer, native zlib; PartitionFile: fast read path, h5wasm ${H5WASM_VERSION}) vs h5py ${info.h5py} (HDF5 ${info.hdf5}, numpy ${info.numpy}, ${PYTHON})${quick ? " [quick: 1/20 sizes]" : ""}`,
  );
  console.log(
    "reads: same warm files for both tools (page cache not dropped), one untimed pass then best of 3; writes: one timed run each, close + fsync included",
  );
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const dir = await mkdtemp(join(tmpdir(), "astropile-bench-storage-"));
  try {
    const poolRows = size.poolBatches * BATCH_ROWS;
    const t0 = process.hrtime.bigint();
    const pool = imagePool(poolRows);
    const poolPath = join(dir, "pool.bin");
    await writeFile(poolPath, new Uint8Array(pool.buffer));
    console.log(
      `generated a pool of ${poolRows} distinct image rows (${((poolRows * IMAGE_ROW_BYTES) / MiB).toFixed(0)} MiB) in ${seconds(t0).toFixed(1)} s (untimed); both tools cycle through it`,
    );
    console.log("1. writes");
    const files = await benchWrites(report, dir, poolPath, pool, size.imageRows);
    console.log("2. random rows");
    await benchRandomRows(report, dir, files, size.imageRows, size.randomRows);
    for (const path of Object.values(files)) await rm(path, { force: true });
    console.log("3. full column reads");
    await benchColumns(report, dir, size.catalogRows);
    console.log("4. codec diagnostics");
    await benchCodec(report, dir, poolPath, pool);
    console.log(
      `load average at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    printReport(report);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
