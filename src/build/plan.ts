// Planning a build: scan the catalog once (parse, convert and validate every row, count the valid
// ones per sky cell, and keep them, converted, in a binary scratch file so nothing parses the
// catalog again; a big plain CSV on two threads, see scanInTwo), choose the partition pixels from
// those counts (storage/partitioning.ts: sized by the data, or order 4 in the mmu layout), group
// them into work units, then route each valid row to its unit's bucket file.
//
// A work unit is a contiguous range of `_healpix_29` keys holding whole planned pieces (a piece:
// a partition pixel, or a key range of a dense one), about `unitBytes` of uncompressed output; a
// piece larger than that is cut into several units (then several files). Units are the
// resumable, parallel pieces of a build: each becomes its own small dataset, and since their key
// ranges are disjoint and ordered, the final dataset is their files renamed into place. The
// cells are counted in a sparse histogram that coarsens itself when it grows, so memory stays
// bounded whatever the catalog size.
import { createHash } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { fsyncPath } from "../core/atomic-file.ts";
import {
  bytesPerRow,
  type ColumnValues,
  type Dtype,
  gatherRows,
  type NumericArray,
  scatterRowsTo,
} from "../core/columns.ts";
import { BuildStateError, deserializeError, InternalError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import { int64Words } from "../core/words.ts";
import type { CsvRange, CsvRangeState } from "../formats/csv-bytes.ts";
import { byteChunks, isGzipFile } from "../formats/text.ts";
import { ang2pix } from "../sky/index.ts";
import { KEY_ORDER } from "../storage/layout.ts";
import {
  CellHistogram,
  type CellIndex,
  DeferredCellHistogram,
  type PartitionPiece,
  type PieceJson,
  pieceToJson,
} from "../storage/partitioning.ts";
import {
  type CatalogReader,
  type ConvertedBatch,
  checkSourceColumns,
  convertBatch,
  convertByteBatch,
  type OutputColumn,
  openCatalog,
} from "./catalog.ts";
import { displayPath } from "./glob.ts";
import { type RowBlock, RowFileWriter, readRowFile } from "./rows-file.ts";
import { type ScanJob, type ScanOutcome, type ScanSetup, startScanWorker } from "./scan-pool.ts";
import type { CatalogSource } from "./spec.ts";
import { bucketPath, type StatePaths, toJson } from "./state.ts";

export interface UnitPlan {
  index: number;
  /** Inclusive `_healpix_29` key range, as decimal strings (from its first piece to its last). */
  keyLo: string;
  keyHi: string;
  rows: number;
  /** The planned pieces (partition pixels, or key ranges of them) whose files this unit writes. */
  pieces: PieceJson[];
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
            .replace(/\s*\([^)]*\)/g, "")
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

/**
 * Work units of about `unitBytes` each (rows x `rowBytes`): consecutive whole pieces; a piece
 * larger than `unitBytes` is cut (at histogram cells) into pieces of about `unitBytes`, one unit
 * each.
 */
export function makeUnits(
  pieces: PartitionPiece[],
  index: CellIndex,
  rowBytes: number,
  unitBytes: number,
): UnitPlan[] {
  const units: UnitPlan[] = [];
  let cur: PartitionPiece[] = [];
  let curRows = 0;
  const close = () => {
    if (cur.length === 0) return;
    units.push({
      index: units.length,
      keyLo: cur[0].keyLo.toString(),
      keyHi: cur[cur.length - 1].keyHi.toString(),
      rows: curRows,
      pieces: cur.map(pieceToJson),
    });
    cur = [];
    curRows = 0;
  };
  for (const piece of pieces) {
    const bytes = piece.rows * rowBytes;
    if (bytes > unitBytes) {
      close();
      const n = Math.ceil(bytes / unitBytes);
      for (const part of index.cut(
        piece.order,
        piece.pixel,
        piece.keyLo,
        piece.keyHi,
        n,
        piece.pixels,
      )) {
        cur = [part];
        curRows = part.rows;
        close();
      }
      continue;
    }
    if (cur.length > 0 && (curRows + piece.rows) * rowBytes > unitBytes) close();
    cur.push(piece);
    curRows += piece.rows;
  }
  close();
  return units;
}

/** The units' key ranges as 32-bit words (keys are below 2^62), to route rows without BigInt. */
export interface UnitBounds {
  loHi: Uint32Array;
  loLo: Uint32Array;
  hiHi: Uint32Array;
  hiLo: Uint32Array;
  /**
   * By a key's top 16 bits (its high word >>> 16: cells of 2^48 keys, about order 5): the one
   * unit holding every key of the cell, -1 when no unit holds any, CELL_MIXED otherwise.
   */
  cells: Int32Array;
}

/** A cell that a unit's bound cuts (or a high word no key has): search the bounds. */
const CELL_MIXED = -2;

export function unitBounds(units: UnitPlan[]): UnitBounds {
  const n = units.length;
  const b: UnitBounds = {
    loHi: new Uint32Array(n),
    loLo: new Uint32Array(n),
    hiHi: new Uint32Array(n),
    hiLo: new Uint32Array(n),
    cells: new Int32Array(1 << 16).fill(CELL_MIXED),
  };
  const lo = units.map((x) => BigInt.asUintN(64, BigInt(x.keyLo)));
  const hi = units.map((x) => BigInt.asUintN(64, BigInt(x.keyHi)));
  for (let u = 0; u < n; u++) {
    b.loHi[u] = Number(lo[u]! >> 32n);
    b.loLo[u] = Number(lo[u]! & 0xffffffffn);
    b.hiHi[u] = Number(hi[u]! >> 32n);
    b.hiLo[u] = Number(hi[u]! & 0xffffffffn);
  }
  // Cells of keys below 2^62 (the rest stay CELL_MIXED), units walked once alongside.
  let u = -1;
  for (let c = 0; c < 1 << 14; c++) {
    const first = BigInt(c) << 48n;
    const last = first + (1n << 48n) - 1n;
    // The last unit starting at or before the cell's last key.
    while (u + 1 < n && lo[u + 1]! <= last) u++;
    if (u < 0 || hi[u]! < first) b.cells[c] = -1;
    else if (lo[u]! <= first && hi[u]! >= last) b.cells[c] = u;
  }
  return b;
}

/**
 * The unit of each key (`out[i]`, -1 for a key in none): the last unit whose keyLo is at most
 * the key, if the key is at most its keyHi. A table by the key's top bits answers for keys in a
 * cell no bound cuts (nearly all); the others take a binary search on the words, compared as
 * unsigned (keys are non-negative). A BigInt per row made this 77 ns a row, most of routing a
 * 1e7-row catalog; the search alone ~33 ns.
 */
export function routeKeys(b: UnitBounds, keys: BigInt64Array, out: Int32Array): void {
  const words = int64Words(keys);
  const { loHi, loLo, hiHi, hiLo, cells } = b;
  const last = loHi.length - 1;
  for (let i = 0; i < keys.length; i++) {
    const kh = words[2 * i + 1]!;
    const cell = cells[kh >>> 16]!;
    if (cell !== CELL_MIXED) {
      out[i] = cell;
      continue;
    }
    const kl = words[2 * i]!;
    let lo = 0;
    let hi = last;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (loHi[mid]! < kh || (loHi[mid] === kh && loLo[mid]! <= kl)) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    out[i] =
      found >= 0 && (kh < hiHi[found]! || (kh === hiHi[found] && kl <= hiLo[found]!)) ? found : -1;
  }
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

/** A scan's second rows file (see BuildPlan.rowsTail). */
export interface RowsTail {
  rows: number;
  bytes: number;
  rowOffset: number;
}

export interface ScanResult {
  rowsRead: number;
  rowsValid: number;
  /** Rows per sky cell; `finish` gives the histogram the partitions are chosen from. */
  hist: DeferredCellHistogram;
  rejected: RejectSummary;
  /** Template values of the first valid rows (to find a first modality file). */
  firstCarry: Array<Record<string, string>>;
  /** Bytes of the scratch file holding the valid rows. */
  rowsBytes: number;
  /** The scan thread's rows of a split last file, left in `tailPath` (see BuildPlan.rowsTail). */
  rowsTail: RowsTail | null;
  /** Catalog files scanned on two threads (each split at its middle). */
  filesSplit: number;
  /** Catalog files (of several) scanned whole by the second thread. */
  filesOnThread: number;
}

const SCAN_BATCH = 16384;

/** The dtypes of a row file's output columns (by output name). */
export function rowDtypes(outputs: OutputColumn[]): Record<string, Dtype> {
  const dtypes: Record<string, Dtype> = emptyRecord();
  for (const o of outputs) dtypes[o.spec.name] = o.spec.dtype;
  return dtypes;
}

/**
 * Plain CSV files at least this big, or several catalog files this big together, are scanned on
 * two threads (BuildOptions.scanSplitBytes).
 * Measured on 2 cores: a 418 MB CSV (1e7 rows) scanned in 5.0-5.2 s against 6.3-6.6 s; 209 MB
 * and 104 MB ones no faster (the thread's start and the copy of its rows eat the gain).
 */
export const SCAN_SPLIT_BYTES = 256 * 2 ** 20;

/**
 * The one pass over the catalog: every row converted and validated; valid rows counted per
 * cell and written, converted, with their origin and `_healpix_29` key, to `rowsPath`. A plain
 * CSV of at least `splitBytes` is scanned on two threads (scanInTwo), several files of that much
 * together shared between two threads (scanFilesInTwo).
 */
export async function scanCatalog(
  source: CatalogSource,
  files: string[],
  root: string,
  outputs: OutputColumn[],
  carry: string[],
  rowsPath: string,
  onRows: (rows: number) => void,
  splitBytes = SCAN_SPLIT_BYTES,
  tailPath?: string,
): Promise<ScanResult> {
  const hist = new DeferredCellHistogram();
  const log = new RejectLog();
  const firstCarry: Array<Record<string, string>> = [];
  let rowsRead = 0;
  let rowsValid = 0;
  let filesSplit = 0;
  let rowsTail: RowsTail | null = null;
  const needed = [...new Set([...outputs.map((o) => o.source), ...carry])];
  const writer = await RowFileWriter.create(rowsPath, rowDtypes(outputs));
  const sink: ScanSink = {
    hist,
    log,
    firstCarry,
    onRows,
    take: async (b, fileName, reported = false) => {
      for (const [row, objectId, reason] of b.rejected)
        log.add({ stage: "catalog", file: fileName, row, objectId, reason });
      for (const c of b.firstCarry) if (firstCarry.length < FIRST_CARRY) firstCarry.push(c);
      await writer.append(b.block);
      rowsRead += b.rows;
      rowsValid += b.block.rows;
      if (!reported) onRows(b.rows);
    },
    count: (rows, valid) => {
      rowsRead += rows;
      rowsValid += valid;
    },
  };
  const setup: ScanSetup = { source, needed, outputs, carry };
  let filesOnThread = 0;
  try {
    const onThread = await scanFilesInTwo(files, root, setup, sink, rowsPath, splitBytes);
    if (onThread !== null) filesOnThread = onThread;
    else {
      for (const [f, file] of files.entries()) {
        const reader = await openCatalog(file, source);
        const fileName = displayPath(file, root);
        try {
          checkSourceColumns(reader, needed);
          const split = await splitPoint(reader, file, splitBytes);
          if (split === null) await scanHere(reader, setup, f, fileName, sink);
          else {
            const job = {
              path: file,
              file: f,
              fileName,
              start: split,
              rowsPath: `${rowsPath}.part`,
              // The last file's thread rows need not follow in rows.bin: routed from their file.
              keepAs: f === files.length - 1 ? tailPath : undefined,
            };
            const outcome = await scanInTwo(reader, setup, job, sink);
            if (outcome !== false) filesSplit++;
            if (typeof outcome === "object") rowsTail = outcome;
          }
        } finally {
          await reader.close();
        }
      }
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const rowsBytes = await writer.close();
  return {
    rowsRead,
    rowsValid,
    hist,
    rejected: log.summary(),
    firstCarry,
    rowsBytes,
    rowsTail,
    filesSplit,
    filesOnThread,
  };
}

/**
 * One plain CSV on two threads: a worker scans from `job.start` (a line start after the middle)
 * to the end into a row file of its own, rows numbered from its start, while this thread scans
 * up to there. Then the worker's rows follow ours, renumbered, and its counts are merged: the
 * same rows, counts and partitions as one thread gives. If the first half holds a quote, this
 * thread reads the whole file; if the worker fails (a row of the wrong width, say) it reads the
 * rest itself, so an error names the right line. True when the worker's rows were appended here,
 * their file (`keepAs`) with its count and offset when kept as it is, false when not used.
 */
async function scanInTwo(
  reader: CatalogReader,
  setup: ScanSetup,
  job: ScanJob & { start: number; keepAs?: string },
  sink: ScanSink,
): Promise<boolean | RowsTail> {
  const { file: f, fileName } = job;
  let reported = 0;
  const worker = startScanWorker(setup, (rows) => {
    reported += rows;
    sink.onRows(rows);
  });
  const state: CsvRangeState = { headerSeen: false, lines: 1, rows: 0 };
  try {
    const scanned = worker.scan(job);
    // Looked for while the thread starts (reading the first half took ~0.2 s of a 418 MB CSV's
    // scan): with a quote there, this thread reads the whole file.
    if (await quoteBefore(job.path, job.start)) {
      await worker.stop();
      await scanned;
      sink.onRows(-reported);
      await scanHere(reader, setup, f, fileName, sink);
      return false;
    }
    await scanHere(reader, setup, f, fileName, sink, { end: job.start, state });
    const done = await scanned;
    if (done.ok && state.headerSeen) {
      sink.hist.merge(CellHistogram.fromJson(done.hist));
      if (job.keepAs === undefined) {
        await appendJob(job, done, sink, state.rows);
        return true;
      }
      // Its file stays as it is (copying it into rows.bin took ~0.6 s of a 1e7-row scan, the
      // other core idle): the route reads it after rows.bin, rows shifted by this half's.
      let rows = 0;
      let valid = 0;
      for (const b of done.batches) {
        rows += b.rows;
        valid += b.valid;
      }
      sink.count(rows, valid);
      mergeJobReport(done, sink, state.rows);
      await rename(job.rowsPath, job.keepAs);
      // On disk before plan.json says the scan is complete (rows.bin is synced as it closes).
      await fsyncPath(job.keepAs);
      return { rows: valid, bytes: (await stat(job.keepAs)).size, rowOffset: state.rows };
    }
    // Its rows were shown as read: taken back, then read here.
    sink.onRows(-reported);
    const rest = {
      start: job.start,
      startRow: state.rows,
      startLine: state.lines,
      header: !state.headerSeen,
    };
    await scanHere(reader, setup, f, fileName, sink, rest);
    return false;
  } finally {
    // Stopped (a job under way ends) before its file goes.
    await worker.stop();
    await rm(job.rowsPath, { force: true });
  }
}

/**
 * The rows of a job the scan thread finished, appended after what the scratch file holds: its
 * blocks (row numbers shifted by `rowOffset`), refused rows and first rows, as one thread would
 * have taken them. Its counts are the caller's to merge (in any order: they add up).
 */
async function appendJob(
  job: ScanJob,
  done: Omit<Extract<ScanOutcome, { ok: true }>, "hist">,
  sink: ScanSink,
  rowOffset: number,
): Promise<void> {
  const blocks = readRowFile(job.rowsPath);
  try {
    for (const batch of done.batches) {
      let block = emptyBlock();
      if (batch.valid > 0) {
        const next = await blocks.next();
        if (next.done || next.value.rows !== batch.valid)
          throw new BuildStateError("the scan thread's rows do not match its report", {
            file: job.rowsPath,
          });
        block = next.value;
        if (rowOffset !== 0) for (let i = 0; i < block.rows; i++) block.row[i]! += rowOffset;
      }
      await sink.take(
        { rows: batch.rows, block, rejected: [], firstCarry: [] },
        job.fileName,
        true,
      );
    }
  } finally {
    await blocks.return(undefined);
  }
  mergeJobReport(done, sink, rowOffset);
}

/** A finished job's refused rows (shifted by `rowOffset`) and first rows, into the sink. */
function mergeJobReport(
  done: Omit<Extract<ScanOutcome, { ok: true }>, "hist">,
  sink: ScanSink,
  rowOffset: number,
): void {
  sink.log.merge({
    ...done.rejected,
    sample: done.rejected.sample.map((r) => ({ ...r, row: r.row + rowOffset })),
  });
  for (const c of done.firstCarry)
    if (sink.firstCarry.length < FIRST_CARRY) sink.firstCarry.push(c);
}

/** Work of reading a catalog file, about: its bytes, a gzip file's thrice (~2.5-3x the rows). */
async function fileWork(file: string): Promise<number> {
  return (await stat(file)).size * ((await isGzipFile(file)) ? 3 : 1);
}

/**
 * Several catalog files on two threads: this thread reads the first files, about half the work,
 * straight into the scratch file; the scan thread reads the others, in order, each into a row
 * file of its own, appended afterwards in order (rows numbered in their own file already). An
 * error in one of its files is raised in file order, after this thread has read every file
 * before it, as one thread would have. Null (nothing read) when the files are too few or too
 * small together; else how many files the thread read.
 */
async function scanFilesInTwo(
  files: string[],
  root: string,
  setup: ScanSetup,
  sink: ScanSink,
  rowsPath: string,
  minBytes: number,
): Promise<number | null> {
  if (files.length < 2 || availableParallelism() < 2 || !Number.isFinite(minBytes)) return null;
  const work: number[] = [];
  for (const file of files) work.push(await fileWork(file));
  const total = work.reduce((a, b) => a + b, 0);
  if (total < minBytes) return null;
  // This thread's share: the first files up to half the work (the other thread starts later).
  let mine = 1;
  for (let done = work[0]!; mine < files.length - 1 && done + work[mine]! / 2 <= total / 2; mine++)
    done += work[mine]!;
  const jobOf = (f: number): ScanJob => ({
    path: files[f]!,
    file: f,
    fileName: displayPath(files[f]!, root),
    rowsPath: `${rowsPath}.${f}`,
  });
  const worker = startScanWorker(setup, sink.onRows);
  type Kept =
    | Omit<Extract<ScanOutcome, { ok: true }>, "hist">
    | Extract<ScanOutcome, { ok: false }>;
  const theirs: Array<{ f: number; outcome: Promise<Kept> }> = [];
  // Memory stays bounded however many files the thread reads: each file's counts are merged as
  // it ends (counts add up in any order), and of its refused and first rows only what the report
  // can still use is kept (the report keeps the first 1000 and 20 in file order).
  let sampleLeft = SAMPLE_LIMIT;
  let firstLeft = FIRST_CARRY;
  const keep = (o: ScanOutcome): Kept => {
    if (!o.ok) return o;
    // The same counts as adding the keys here: the final order is the finest at which all
    // cells fit, whatever the order of adding.
    sink.hist.merge(CellHistogram.fromJson(o.hist));
    const sample = o.rejected.sample.slice(0, sampleLeft);
    const firstCarry = o.firstCarry.slice(0, firstLeft);
    sampleLeft -= sample.length;
    firstLeft -= firstCarry.length;
    return { batches: o.batches, ok: true, rejected: { ...o.rejected, sample }, firstCarry };
  };
  // One job at a time, in file order; none after a failure (later files do not matter then).
  let chain: Promise<boolean> = Promise.resolve(true);
  for (let f = mine; f < files.length; f++) {
    const outcome = chain.then((ok) =>
      ok
        ? worker.scan(jobOf(f)).then(keep)
        : ({ ok: false, error: { name: "Error", message: "" } } as const),
    );
    chain = outcome.then((o) => o.ok);
    theirs.push({ f, outcome });
  }
  try {
    for (let f = 0; f < mine; f++) {
      const reader = await openCatalog(files[f]!, setup.source);
      try {
        checkSourceColumns(reader, setup.needed);
        await scanHere(reader, setup, f, displayPath(files[f]!, root), sink);
      } finally {
        await reader.close();
      }
    }
    for (const { f, outcome } of theirs) {
      const done = await outcome;
      if (!done.ok) throw deserializeError(done.error);
      await appendJob(jobOf(f), done, sink, 0);
      await rm(jobOf(f).rowsPath, { force: true });
    }
    return theirs.length;
  } finally {
    await worker.stop();
    await chain.catch(() => {});
    for (const { f } of theirs) await rm(jobOf(f).rowsPath, { force: true });
  }
}

/**
 * Where a second thread can start reading a plain CSV (the line after the middle), or null;
 * scanInTwo still checks that no quote comes before it.
 */
async function splitPoint(
  reader: CatalogReader,
  file: string,
  splitBytes: number,
): Promise<number | null> {
  if (!reader.byteBatches || availableParallelism() < 2) return null;
  if (await isGzipFile(file)) return null;
  const size = (await stat(file)).size;
  if (size < splitBytes || size < 2) return null;
  const mid = Math.floor(size / 2);
  let split = -1;
  let at = mid;
  for await (const chunk of byteChunks(file, { start: mid, chunkBytes: 1 << 16 })) {
    const k = chunk.indexOf(0x0a);
    if (k >= 0) {
      split = at + k + 1;
      break;
    }
    at += chunk.length;
  }
  if (split < 0 || split >= size) return null;
  return split;
}

/**
 * Whether bytes [0, end) of a plain file hold a quote: then a quoted field (which may hold a line
 * end) could span `end`, and the file is not split there.
 */
async function quoteBefore(file: string, end: number): Promise<boolean> {
  for await (const chunk of byteChunks(file, { end, chunkBytes: 4 << 20 }))
    if (chunk.indexOf(0x22) >= 0) return true;
  return false;
}

/** A catalog file (or a range of a CSV) read on this thread into the sink. */
async function scanHere(
  reader: CatalogReader,
  setup: ScanSetup,
  f: number,
  fileName: string,
  sink: ScanSink,
  range?: CsvRange,
): Promise<void> {
  const { needed, outputs, carry } = setup;
  for await (const b of scanBatches(reader, needed, outputs, carry, f, sink.hist, range))
    await sink.take(b, fileName);
}

/** Where scanned batches go: counts, the refused rows' log, the first rows, the scratch file. */
export interface ScanSink {
  hist: DeferredCellHistogram;
  log: RejectLog;
  /** Template values of the first valid rows (at most FIRST_CARRY). */
  firstCarry: Array<Record<string, string>>;
  /** Rows read, for progress. */
  onRows(rows: number): void;
  /** A batch (its keys counted already) logged and written; `reported`: its progress was shown. */
  take(b: ScannedBatch, fileName: string, reported?: boolean): Promise<void>;
  /** Rows read and valid rows kept elsewhere (a scan thread's file left as it is). */
  count(rows: number, valid: number): void;
}

/** First valid rows kept for their template values. */
export const FIRST_CARRY = 20;

/** A scanned batch: its valid rows as a block, its refused rows (row numbers in the range read). */
export interface ScannedBatch {
  rows: number;
  block: RowBlock;
  rejected: Array<[row: number, objectId: string | undefined, reason: string]>;
  /** Template values of the batch's first valid rows (at most FIRST_CARRY). */
  firstCarry: Array<Record<string, string>>;
}

/**
 * The reader's batches converted, validated and keyed (CSV from bytes when it can), the valid
 * rows counted in `hist`.
 */
export async function* scanBatches(
  reader: CatalogReader,
  needed: string[],
  outputs: OutputColumn[],
  carry: string[],
  f: number,
  hist: Pick<CellHistogram, "addKeys">,
  range?: CsvRange,
): AsyncGenerator<ScannedBatch> {
  for await (const raw of convertedBatches(reader, needed, outputs, carry, range))
    yield scanBatch(raw.conv, raw.startRow, f, outputs, carry, hist);
}

function scanBatch(
  conv: ConvertedBatch,
  startRow: number,
  f: number,
  outputs: OutputColumn[],
  carry: string[],
  hist: Pick<CellHistogram, "addKeys">,
): ScannedBatch {
  const ok = validRows(conv.rows, conv.rejected);
  const all = ok.length === conv.rows;
  const ra = conv.columns.ra as Float64Array;
  const dec = conv.columns.dec as Float64Array;
  const keys = ang2pix(
    KEY_ORDER,
    all ? ra : (gatherRows(ra, 1, ok) as Float64Array),
    all ? dec : (gatherRows(dec, 1, ok) as Float64Array),
  );
  hist.addKeys(keys);
  // In row order (the conversion refuses column by column), so the report's first refused rows
  // are the file's, however the rows were batched.
  const rejected: ScannedBatch["rejected"] = [];
  for (const [r, reason] of [...conv.rejected].sort((a, b) => a[0] - b[0]))
    rejected.push([
      startRow + r,
      conv.badIds.has(r) ? undefined : idText(conv.columns.object_id, r),
      reason,
    ]);
  const firstCarry: Array<Record<string, string>> = [];
  for (const r of ok) {
    if (firstCarry.length >= FIRST_CARRY) break;
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
  const block: RowBlock = {
    rows: ok.length,
    file: new Uint32Array(ok.length).fill(f),
    row: rowNumbers(ok, startRow),
    key: keys,
    columns: emptyRecord(),
    carry: emptyRecord(),
  };
  for (const o of outputs) {
    const v = conv.columns[o.spec.name];
    block.columns[o.spec.name] = all ? v : gatherRows(v, 1, ok);
  }
  for (const c of carry) {
    const v = conv.carry[c];
    block.carry[c] = all ? v : (gatherRows(v, 1, ok) as string[]);
  }
  return { rows: conv.rows, block, rejected, firstCarry };
}

function emptyBlock(): RowBlock {
  return {
    rows: 0,
    file: new Uint32Array(0),
    row: new Float64Array(0),
    key: new BigInt64Array(0),
    columns: emptyRecord(),
    carry: emptyRecord(),
  };
}

/** The reader's batches converted (CSV from bytes when it can), with their first row. */
async function* convertedBatches(
  reader: CatalogReader,
  needed: string[],
  outputs: OutputColumn[],
  carry: string[],
  range?: CsvRange,
): AsyncGenerator<{ startRow: number; rows: number; conv: ConvertedBatch }> {
  const bytes = reader.byteBatches?.(needed, SCAN_BATCH, range);
  if (bytes) {
    for await (const b of bytes.batches)
      yield {
        startRow: b.startRow,
        rows: b.rows,
        conv: convertByteBatch(b, outputs, carry, bytes.slotOf),
      };
    return;
  }
  if (range) throw new InternalError("a byte range of a catalog the byte reader cannot read");
  for await (const raw of reader.batches(needed, SCAN_BATCH))
    yield { startRow: raw.startRow, rows: raw.rows, conv: convertBatch(raw, outputs, carry) };
}

/** The rows of a batch not rejected, ascending (a typed array: a batch is ~1e5 rows). */
function validRows(rows: number, rejected: Map<number, string>): Uint32Array {
  const ok = new Uint32Array(rows);
  let n = 0;
  if (rejected.size === 0) for (let r = 0; r < rows; r++) ok[n++] = r;
  else for (let r = 0; r < rows; r++) if (!rejected.has(r)) ok[n++] = r;
  return ok.subarray(0, n);
}

/** Each valid row's number in its file. */
function rowNumbers(ok: Uint32Array, startRow: number): Float64Array {
  const out = new Float64Array(ok.length);
  for (let t = 0; t < ok.length; t++) out[t] = startRow + ok[t]!;
  return out;
}

export function idText(values: ColumnValues | undefined, r: number): string | undefined {
  if (!values) return undefined;
  const v = values[r];
  return v === undefined ? undefined : typeof v === "string" ? v : String(v);
}

/**
 * Routes the scanned rows (`rowsPath`) to their units' buckets, in the same binary format;
 * buffers bounded by `bufferBytes`. Returns each bucket's rows and bytes. The buckets are on disk
 * (fsynced) when it returns.
 */
export async function scatterRows(
  rowsPath: string,
  outputs: OutputColumn[],
  units: UnitPlan[],
  paths: StatePaths,
  onRows: (rows: number) => void,
  bufferBytes = 16 << 20,
  tail: (RowsTail & { path: string }) | null = null,
): Promise<Array<{ rows: number; bytes: number }>> {
  await rm(paths.buckets, { recursive: true, force: true });
  await mkdir(paths.buckets, { recursive: true });
  const dtypes = rowDtypes(outputs);
  // Bytes a routed row holds in memory, about: origin, key, its columns (text ~16 bytes).
  const rowBytes = 20 + outputs.reduce((s, o) => s + bytesPerRow(o.spec), 0);
  const bounds = unitBounds(units);
  const stats = units.map(() => ({ rows: 0, bytes: 0 }));
  // Each unit's rows gather in arrays of its own, reused once written (no arrays per block and
  // unit, which made garbage collection a sixth of routing), written as one block when full.
  const capacity = Math.min(
    1 << 16,
    Math.max(256, Math.floor(bufferBytes / (rowBytes * Math.max(1, units.length)))),
  );
  const buckets: Array<UnitRows | null> = units.map(() => null);
  const write = async (u: number) => {
    const bucket = buckets[u]!;
    if (bucket.rows === 0) return;
    const writer = await RowFileWriter.create(bucketPath(paths, u), dtypes, { append: true });
    try {
      await writer.append(bucket.block());
      stats[u].bytes += await writer.close(false);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    stats[u].rows += bucket.rows;
    bucket.clear();
  };
  let unitOfRow = new Int32Array(0);
  let slotOfRow = new Int32Array(0);
  const counts = new Int32Array(units.length);
  const nextSlot = new Int32Array(units.length);
  let tailRows = 0;
  for await (const { block, fromTail } of scannedBlocks(rowsPath, tail)) {
    // Rows are in catalog order: route each, then scatter them to their units' arrays.
    const n = block.rows;
    if (fromTail) {
      for (let i = 0; i < n; i++) block.row[i]! += tail!.rowOffset;
      tailRows += n;
    }
    if (unitOfRow.length < n) {
      unitOfRow = new Int32Array(n);
      slotOfRow = new Int32Array(n);
    }
    routeKeys(bounds, block.key, unitOfRow);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const u = unitOfRow[i]!;
      if (u >= 0) counts[u]!++;
    }
    for (let u = 0; u < units.length; u++) {
      if (counts[u] === 0) continue;
      let bucket = buckets[u];
      if (bucket && bucket.rows + counts[u]! > bucket.capacity) await write(u);
      if (!bucket || counts[u]! > bucket.capacity) {
        bucket = new UnitRows(block, Math.max(capacity, counts[u]!));
        buckets[u] = bucket;
      }
      nextSlot[u] = bucket.rows;
    }
    for (let i = 0; i < n; i++) {
      const u = unitOfRow[i]!;
      if (u >= 0) slotOfRow[i] = nextSlot[u]!++;
    }
    scatterBlock(block, buckets, unitOfRow, slotOfRow);
    for (let u = 0; u < units.length; u++) if (counts[u]! > 0) buckets[u]!.rows += counts[u]!;
    onRows(n);
  }
  for (let u = 0; u < units.length; u++) if (buckets[u]) await write(u);
  if (tail && tailRows !== tail.rows) {
    const message = `the scan thread's rows file holds ${tailRows} rows, not ${tail.rows}`;
    throw new BuildStateError(message, { file: tail.path });
  }
  // The buckets must be on disk before scatter.json says they are complete: synced together
  // (one after another, 8 buckets of a 1e7-row catalog took ~0.3 s).
  await Promise.all(
    units.map(async (_, u) => {
      if (stats[u].bytes === 0) return;
      const writer = await RowFileWriter.create(bucketPath(paths, u), dtypes, { append: true });
      await writer.close(true);
    }),
  );
  return stats;
}

/** The scan's blocks in catalog order: rows.bin's, then those of the tail file (if any). */
async function* scannedBlocks(
  rowsPath: string,
  tail: { path: string } | null,
): AsyncGenerator<{ block: RowBlock; fromTail: boolean }> {
  for await (const block of readRowFile(rowsPath)) yield { block, fromTail: false };
  if (tail) for await (const block of readRowFile(tail.path)) yield { block, fromTail: true };
}

/** A unit's routed rows not yet written: arrays like a scanned block's, `rows` of them filled. */
class UnitRows {
  rows = 0;
  readonly capacity: number;
  private readonly file: Uint32Array;
  private readonly row: Float64Array;
  private readonly key: BigInt64Array;
  private readonly columns: Record<string, ColumnValues> = emptyRecord();
  private readonly carry: Record<string, string[]> = emptyRecord();
  /** The numeric arrays: " file", " row", " key", and "c" + a column's name. */
  readonly numbers = new Map<string, NumericArray>();
  /** Text arrays: "c" + a text column's name, "k" + a carried column's. */
  readonly texts = new Map<string, string[]>();

  constructor(like: RowBlock, capacity: number) {
    this.capacity = capacity;
    this.file = new Uint32Array(capacity);
    this.row = new Float64Array(capacity);
    this.key = new BigInt64Array(capacity);
    this.numbers.set(" file", this.file);
    this.numbers.set(" row", this.row);
    this.numbers.set(" key", this.key);
    for (const [name, v] of Object.entries(like.columns)) {
      if (Array.isArray(v)) {
        const texts: string[] = [];
        this.columns[name] = texts;
        this.texts.set(`c${name}`, texts);
      } else {
        const values = new (v.constructor as new (n: number) => NumericArray)(capacity);
        this.columns[name] = values;
        this.numbers.set(`c${name}`, values);
      }
    }
    for (const name of Object.keys(like.carry)) {
      const texts: string[] = [];
      this.carry[name] = texts;
      this.texts.set(`k${name}`, texts);
    }
  }

  /** The filled rows, as views (valid until the rows are cleared). */
  block(): RowBlock {
    const n = this.rows;
    const view = (v: ColumnValues): ColumnValues =>
      Array.isArray(v) ? v : (v.subarray(0, n) as ColumnValues);
    const columns: Record<string, ColumnValues> = emptyRecord();
    for (const [name, v] of Object.entries(this.columns)) columns[name] = view(v);
    return {
      rows: n,
      file: this.file.subarray(0, n),
      row: this.row.subarray(0, n),
      key: this.key.subarray(0, n),
      columns,
      carry: this.carry,
    };
  }

  clear(): void {
    this.rows = 0;
    for (const texts of this.texts.values()) texts.length = 0;
  }
}

/**
 * Copies each row of `block` to slot `slotOfRow[i]` of its unit's arrays (`unitOfRow[i]`, rows
 * of no unit skipped): numbers by their bits, one pass per column; texts in row order.
 */
function scatterBlock(
  block: RowBlock,
  buckets: Array<UnitRows | null>,
  unitOfRow: Int32Array,
  slotOfRow: Int32Array,
): void {
  const n = block.rows;
  const copy = (name: string, src: NumericArray) => {
    // A unit without arrays has no row in this block: its place in `dsts` is never written.
    const dsts = buckets.map((b) => (b ? b.numbers.get(name)! : src));
    scatterRowsTo(src, dsts, unitOfRow, slotOfRow, n);
  };
  copy(" file", block.file);
  copy(" row", block.row);
  copy(" key", block.key);
  for (const [name, v] of Object.entries(block.columns)) {
    if (Array.isArray(v)) scatterTexts(v, buckets, `c${name}`, unitOfRow, n);
    else copy(`c${name}`, v);
  }
  for (const [name, v] of Object.entries(block.carry))
    scatterTexts(v, buckets, `k${name}`, unitOfRow, n);
}

function scatterTexts(
  src: string[],
  buckets: Array<UnitRows | null>,
  name: string,
  unitOfRow: Int32Array,
  n: number,
): void {
  const dst = buckets.map((b) => (b ? b.texts.get(name)! : null));
  for (let i = 0; i < n; i++) {
    const u = unitOfRow[i]!;
    if (u >= 0) dst[u]!.push(src[i]!);
  }
}
