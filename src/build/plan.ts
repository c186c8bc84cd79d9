// Planning a build: scan the catalog once (validate every row, count the valid ones per sky
// cell), cut the sky into work units, then route each valid row to its unit's bucket file.
//
// A work unit is a contiguous range of `_healpix_29` keys inside one partition pixel (order 4),
// sized to about `unitBytes` of output. Units are the resumable, parallel pieces of a build: each
// becomes its own small dataset, and since their key ranges are disjoint and ordered, the final
// dataset is their files renamed into place. The cells are counted in a sparse histogram that
// coarsens itself when it grows, so memory stays bounded whatever the catalog size.
import { createHash } from "node:crypto";
import { mkdir, open, rm, stat } from "node:fs/promises";
import type { ColumnValues, Dtype } from "../core/columns.ts";
import { emptyRecord } from "../core/records.ts";
import { ang2pix } from "../sky/index.ts";
import { KEY_ORDER, PARTITION_ORDER } from "../storage/layout.ts";
import { checkSourceColumns, convertBatch, type OutputColumn, openCatalog } from "./catalog.ts";
import { displayPath } from "./glob.ts";
import type { CatalogSource } from "./spec.ts";
import { bucketPath, type StatePaths, toJson } from "./state.ts";

export interface UnitPlan {
  index: number;
  pixel: number;
  /** Inclusive `_healpix_29` key range, as decimal strings. */
  keyLo: string;
  keyHi: string;
  rows: number;
}

export interface RejectedRow {
  stage: string;
  file: string;
  /** 0-based data row in the file. */
  row: number;
  objectId?: string;
  reason: string;
}

export interface RejectSummary {
  count: number;
  byReason: Record<string, number>;
  /** The first rejected rows (at most SAMPLE_LIMIT). */
  sample: RejectedRow[];
}

const SAMPLE_LIMIT = 1000;

/**
 * Groups reasons by kind: the values in them (quoted text, parenthesised details, paths, numbers
 * outside [..] ranges) are elided, so "ra: NaN" rows of a million-row file make one line.
 */
export function reasonKind(stage: string, reason: string): string {
  const generic = reason
    .split(/(\[[^\]]*\])/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .replace(/"[^"]*"/g, "…")
            .replace(/\([^)]*\)/g, "")
            .replace(/\S*\/\S*/g, "FILE")
            .replace(/(?<![\w.])[-+]?\d+(\.\d+)?(e[-+]?\d+)?(?![\w.])/gi, "N"),
    )
    .join("")
    .replace(/\s+/g, " ")
    .trim();
  return `${stage}: ${generic}`;
}

export class RejectLog {
  count = 0;
  byReason: Record<string, number> = {};
  sample: RejectedRow[] = [];

  add(row: RejectedRow): void {
    this.count++;
    const kind = reasonKind(row.stage, row.reason);
    this.byReason[kind] = (this.byReason[kind] ?? 0) + 1;
    if (this.sample.length < SAMPLE_LIMIT) this.sample.push(row);
  }

  merge(other: RejectSummary): void {
    this.count += other.count;
    for (const [k, v] of Object.entries(other.byReason))
      this.byReason[k] = (this.byReason[k] ?? 0) + v;
    for (const r of other.sample) if (this.sample.length < SAMPLE_LIMIT) this.sample.push(r);
  }

  summary(): RejectSummary {
    return { count: this.count, byReason: this.byReason, sample: this.sample };
  }
}

/** Counts per HEALPix cell; halves its resolution when it holds too many cells. */
export class CellHistogram {
  order: number;
  readonly counts = new Map<number, number>();
  private readonly maxCells: number;

  constructor(order = 12, maxCells = 1 << 20) {
    this.order = order;
    this.maxCells = maxCells;
  }

  add(key29: bigint): void {
    const cell = Number(key29 >> BigInt(2 * (KEY_ORDER - this.order)));
    this.counts.set(cell, (this.counts.get(cell) ?? 0) + 1);
    if (this.counts.size > this.maxCells && this.order > PARTITION_ORDER) this.coarsen();
  }

  private coarsen(): void {
    const old = [...this.counts];
    this.counts.clear();
    this.order--;
    for (const [cell, n] of old) {
      const c = Math.floor(cell / 4);
      this.counts.set(c, (this.counts.get(c) ?? 0) + n);
    }
  }
}

/** Units of about `unitBytes` each; never spanning two partition pixels or splitting a cell. */
export function makeUnits(hist: CellHistogram, rowBytes: number, unitBytes: number): UnitPlan[] {
  const cells = [...hist.counts.keys()].sort((a, b) => a - b);
  const shift = 2 * (hist.order - PARTITION_ORDER);
  const keyShift = BigInt(2 * (KEY_ORDER - hist.order));
  const units: UnitPlan[] = [];
  let cur: { pixel: number; lo: number; hi: number; rows: number } | null = null;
  const close = () => {
    if (!cur) return;
    units.push({
      index: units.length,
      pixel: cur.pixel,
      keyLo: (BigInt(cur.lo) << keyShift).toString(),
      keyHi: (((BigInt(cur.hi) + 1n) << keyShift) - 1n).toString(),
      rows: cur.rows,
    });
    cur = null;
  };
  for (const cell of cells) {
    const n = hist.counts.get(cell)!;
    const pixel = Math.floor(cell / 2 ** shift);
    if (cur && (cur.pixel !== pixel || (cur.rows + n) * rowBytes > unitBytes)) close();
    if (!cur) cur = { pixel, lo: cell, hi: cell, rows: 0 };
    cur.hi = cell;
    cur.rows += n;
  }
  close();
  return units;
}

/** The unit holding a key (units sorted, disjoint); -1 if none. */
export function unitOf(units: UnitPlan[], los: bigint[], key: bigint): number {
  let lo = 0;
  let hi = units.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (los[mid] <= key) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found >= 0 && key <= BigInt(units[found].keyHi) ? found : -1;
}

/** sha256 of the spec and of every input file's path, size and modification time. */
export async function fingerprint(spec: unknown, files: string[]): Promise<string> {
  const hash = createHash("sha256");
  hash.update(toJson(spec));
  for (const f of files) {
    const s = await stat(f);
    hash.update(`\n${f}\t${s.size}\t${s.mtimeMs}`);
  }
  return hash.digest("hex");
}

export interface ScanResult {
  rowsRead: number;
  rowsValid: number;
  hist: CellHistogram;
  rejected: RejectSummary;
  /** Template values of the first valid rows (to find a first modality file). */
  firstCarry: Array<Record<string, string>>;
}

const SCAN_BATCH = 16384;

/** Pass 1: every row converted and validated; valid rows counted per cell. */
export async function scanCatalog(
  source: CatalogSource,
  files: string[],
  root: string,
  outputs: OutputColumn[],
  carry: string[],
  onRows: (rows: number) => void,
): Promise<ScanResult> {
  const hist = new CellHistogram();
  const log = new RejectLog();
  const firstCarry: Array<Record<string, string>> = [];
  let rowsRead = 0;
  let rowsValid = 0;
  const needed = [...new Set([...outputs.map((o) => o.source), ...carry])];
  for (const file of files) {
    const reader = await openCatalog(file, source);
    try {
      checkSourceColumns(reader, needed);
      for await (const raw of reader.batches(needed, SCAN_BATCH)) {
        const conv = convertBatch(raw, outputs, carry);
        const ok = validRows(conv.rows, conv.rejected);
        const ra = conv.columns.ra as Float64Array;
        const dec = conv.columns.dec as Float64Array;
        const keys = ang2pix(KEY_ORDER, pickRows(ra, ok), pickRows(dec, ok));
        for (const key of keys) hist.add(key);
        for (const [r, reason] of conv.rejected) {
          log.add({
            stage: "catalog",
            file: displayPath(file, root),
            row: raw.startRow + r,
            objectId: idText(conv.columns.object_id, r),
            reason,
          });
        }
        for (const r of ok) {
          if (firstCarry.length >= 20) break;
          // Template values of the row: carried columns, and output columns by both names.
          const values: Record<string, string> = emptyRecord();
          for (const o of outputs) {
            const v = String(conv.columns[o.spec.name][r]);
            values[o.source] = v;
            values[o.spec.name] = v;
          }
          for (const c of carry) values[c] = conv.carry[c][r];
          firstCarry.push(values);
        }
        rowsRead += raw.rows;
        rowsValid += ok.length;
        onRows(raw.rows);
      }
    } finally {
      await reader.close();
    }
  }
  return { rowsRead, rowsValid, hist, rejected: log.summary(), firstCarry };
}

function validRows(rows: number, rejected: Map<number, string>): number[] {
  const ok: number[] = [];
  for (let r = 0; r < rows; r++) if (!rejected.has(r)) ok.push(r);
  return ok;
}

function pickRows(values: Float64Array, rows: number[]): Float64Array {
  return Float64Array.from(rows, (r) => values[r]);
}

export function idText(values: ColumnValues | undefined, r: number): string | undefined {
  if (!values) return undefined;
  const v = values[r];
  return v === undefined ? undefined : typeof v === "string" ? v : String(v);
}

// Bucket rows are JSON arrays: [fileIndex, row, ...output values, ...carried text].
// Non-finite floats and 64-bit integers are strings so JSON keeps them exact.

export function encodeValue(values: ColumnValues, r: number, dtype: Dtype): unknown {
  const v = values[r];
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && (dtype === "float32" || dtype === "float64") && !Number.isFinite(v))
    return String(v);
  return v;
}

export function decodeInto(values: ColumnValues, r: number, dtype: Dtype, v: unknown): void {
  if (dtype === "string") (values as string[])[r] = v as string;
  else if (dtype === "int64" || dtype === "uint64")
    (values as BigInt64Array)[r] = BigInt(v as string);
  else if (typeof v === "string") (values as Float64Array)[r] = Number(v);
  else (values as Float64Array)[r] = v as number;
}

/** Pass 2: each valid row appended to its unit's bucket; buffers bounded by `bufferChars`. */
export async function scatterCatalog(
  source: CatalogSource,
  files: string[],
  outputs: OutputColumn[],
  carry: string[],
  units: UnitPlan[],
  paths: StatePaths,
  onRows: (rows: number) => void,
  bufferChars = 16 << 20,
): Promise<Array<{ rows: number; bytes: number }>> {
  await rm(paths.buckets, { recursive: true, force: true });
  await mkdir(paths.buckets, { recursive: true });
  const los = units.map((u) => BigInt(u.keyLo));
  const pending: string[][] = units.map(() => []);
  const stats = units.map(() => ({ rows: 0, bytes: 0 }));
  let buffered = 0;
  const flush = async () => {
    for (const [u, lines] of pending.entries()) {
      if (lines.length === 0) continue;
      const text = `${lines.join("\n")}\n`;
      const handle = await open(bucketPath(paths, u), "a");
      try {
        await handle.writeFile(text);
      } finally {
        await handle.close();
      }
      stats[u].bytes += Buffer.byteLength(text);
      pending[u] = [];
    }
    buffered = 0;
  };
  const needed = [...new Set([...outputs.map((o) => o.source), ...carry])];
  for (const [f, file] of files.entries()) {
    const reader = await openCatalog(file, source);
    try {
      for await (const raw of reader.batches(needed, SCAN_BATCH)) {
        const conv = convertBatch(raw, outputs, carry);
        const ok = validRows(conv.rows, conv.rejected);
        const ra = conv.columns.ra as Float64Array;
        const dec = conv.columns.dec as Float64Array;
        const keys = ang2pix(KEY_ORDER, pickRows(ra, ok), pickRows(dec, ok));
        for (const [i, r] of ok.entries()) {
          const u = unitOf(units, los, keys[i]);
          if (u < 0) continue;
          const row: unknown[] = [f, raw.startRow + r];
          for (const o of outputs)
            row.push(encodeValue(conv.columns[o.spec.name], r, o.spec.dtype));
          for (const c of carry) row.push(conv.carry[c][r]);
          const line = JSON.stringify(row);
          pending[u].push(line);
          stats[u].rows++;
          buffered += line.length;
        }
        if (buffered > bufferChars) await flush();
        onRows(raw.rows);
      }
    } finally {
      await reader.close();
    }
  }
  await flush();
  // The buckets must be on disk before scatter.json says they are complete.
  for (let u = 0; u < units.length; u++) {
    if (stats[u].bytes === 0) continue;
    const handle = await open(bucketPath(paths, u), "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return stats;
}
