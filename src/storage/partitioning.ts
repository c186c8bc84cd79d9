// Partitions sized by the data: which HEALPix pixels (of which orders) the files of a config
// cover, chosen from a sparse histogram of rows per sky cell. One chooser for every writer: the
// DatasetWriter counts rows while it ingests them, the build planner while it scans the catalog.
//
// The rule (adaptive layout), HATS-like: a pixel whose rows fit in one file (at most `maxRows`
// rows and `maxBytes` uncompressed bytes) is a partition, taken as coarse as possible, down to
// order 0. A pixel that does not fit is split into its four children, each chosen the same way;
// it is instead cut into key-range files (contiguous `_healpix_29` ranges of about equal size,
// each at least half the target) when it is at the histogram's finest order, or when it needs at
// most four files and one of its non-empty children would make a file smaller than a sixteenth
// of the target (so sparse borders of dense regions do not become tiny files). The mmu layout
// takes every pixel at order 4, cut into key-range files the same way.
//
// Then neighbours too small to be files of their own share one (adaptive layout): a piece of a
// whole pixel (or run of pixels) with fewer rows than a sixteenth of the target joins the whole
// pixel just before or after it in key order (their key ranges touching), while the two together
// stay within a quarter of the target. The file covers a run of consecutive pixels at the finer
// of the two orders (`pixels`), so a sparse sky makes files of useful size, not a dozen of 80 kB.
//
// A partition is a list of pieces in key order: (order, pixel, pixels, key range). The pieces of
// a pixel tile its key range. The writer starts a new file at each piece, and also at the caps inside
// one (a single fine cell denser than the target), only where the key changes.

import { UsageError } from "../core/errors.ts";
import { int64Words } from "../core/words.ts";
import {
  KEY_ORDER,
  type Layout,
  MAX_PARTITION_ORDER,
  orderShift,
  PARTITION_ORDER,
  pixelKeyRange,
} from "./layout.ts";

/** Order of the cells a histogram starts with (~0.74 arcmin² each): the finest partition order. */
export const HISTOGRAM_ORDER = 12;
/** Most cells a histogram holds before it halves its resolution (memory ~100 bytes a cell). */
export const HISTOGRAM_MAX_CELLS = 1 << 20;

/** Default target of one file: at most this many rows (HATS' default pixel threshold)... */
export const DEFAULT_FILE_ROWS = 1_000_000;
/** ...and at most this many uncompressed bytes (rows x bytes of one row). */
export const DEFAULT_FILE_BYTES = 128 * 2 ** 20;

/** Runs of (cell, rows) collected before they are sorted into the histogram, at least. */
const PENDING_MIN = 1 << 16;
/** Room a new histogram starts with (doubled up to PENDING_MIN before any merge): 128 KiB. */
const PENDING_START = 1 << 12;

/**
 * Rows per sky cell at `order`; halves its resolution (never below order 4) when it grows.
 *
 * Kept as sorted typed arrays, not a Map: counts arrive as (cell, rows) runs in a buffer, which
 * is radix-sorted and merged in when full (and before any read). A Map of ~1e6 cells cost ~100
 * bytes and ~0.4 µs a cell, a sixth of a 1e6-row catalog build (BENCHMARKS.md).
 */
export class CellHistogram {
  /** Order of the cells kept (the pending runs are at it too). */
  private at: number;
  private shift: bigint;
  private readonly maxCells: number;
  /** Occupied cells at `order`, ascending, and their rows: the first `size` entries. */
  private cells = new Float64Array(0);
  private cellRows = new Float64Array(0);
  private size = 0;
  /** Runs not merged yet (cells at `order`, any order): the first `pending` entries. */
  private pendingCells = new Float64Array(PENDING_START);
  private pendingRows = new Float64Array(PENDING_START);
  /** The radix sort's other pair of arrays (as long as the pending ones). */
  private spareCells = new Float64Array(PENDING_START);
  private spareRows = new Float64Array(PENDING_START);
  private pending = 0;

  constructor(order = HISTOGRAM_ORDER, maxCells = HISTOGRAM_MAX_CELLS) {
    if (!(Number.isInteger(order) && order >= PARTITION_ORDER && order <= MAX_PARTITION_ORDER))
      throw new UsageError(
        `histogram order ${order} must be an integer in [${PARTITION_ORDER}, ${MAX_PARTITION_ORDER}]`,
      );
    this.at = order;
    this.shift = orderShift(order);
    this.maxCells = maxCells;
  }

  /** Order of the cells: the one asked for, or coarser when the cells grew too many. */
  get order(): number {
    this.flush();
    return this.at;
  }

  /** Rows per occupied cell, as a new Map (cell number at `order` -> rows). */
  get counts(): Map<number, number> {
    const { cells, rows } = this.sorted();
    const out = new Map<number, number>();
    for (let i = 0; i < cells.length; i++) out.set(cells[i]!, rows[i]!);
    return out;
  }

  /** Total rows counted. */
  get rows(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) n += this.cellRows[i]!;
    for (let i = 0; i < this.pending; i++) n += this.pendingRows[i]!;
    return n;
  }

  add(key29: bigint, rows = 1): void {
    this.makeRoom();
    this.push(Number(key29 >> this.shift), rows);
  }

  /** Counts keys[from..to) (any order). */
  addKeys(keys: BigInt64Array, from = 0, to = keys.length): void {
    // The cell of a key (non-negative, below 2^62) from its two 32-bit words: no BigInt is made.
    const words = int64Words(keys);
    let i = from;
    while (i < to) {
      // A slice that fits the pending room, at the order the histogram has now (a merge of the
      // pending runs may make it coarser between slices).
      this.makeRoom();
      const end = Math.min(to, i + (this.pendingCells.length - this.pending));
      const bits = 2 * (KEY_ORDER - this.at);
      const hiShift = bits - 32;
      const hiScale = 2 ** (32 - bits);
      const loDiv = 2 ** bits;
      // Runs of equal cells (sorted input, dense regions) take one entry.
      let cell = -1;
      let run = 0;
      for (; i < end; i++) {
        const lo = words[2 * i]!;
        const hi = words[2 * i + 1]!;
        const c = hiShift >= 0 ? hi >>> hiShift : hi * hiScale + Math.floor(lo / loDiv);
        if (c === cell) {
          run++;
          continue;
        }
        if (run > 0) this.push(cell, run);
        cell = c;
        run = 1;
      }
      if (run > 0) this.push(cell, run);
    }
  }

  /** Adds another histogram's counts (brought to the coarser of the two orders). */
  merge(other: CellHistogram): void {
    this.flush();
    while (this.at > other.order) this.coarsen();
    const sorted = other.sorted();
    // Parents of sorted cells are sorted: brought to this order, runs of equal parents summed.
    const down = 4 ** (other.order - this.at);
    const cells = sorted.cells.map((c) => Math.floor(c / down));
    const rows = sorted.rows.slice();
    this.mergeSorted(cells, rows, sumRuns(cells, rows, cells.length));
    this.flush();
  }

  /** Plain data (for a build plan); `fromJson` reads it back. */
  toJson(): { order: number; cells: number[]; rows: number[] } {
    const { cells, rows } = this.sorted();
    return { order: this.at, cells: Array.from(cells), rows: Array.from(rows) };
  }

  static fromJson(data: { order: number; cells: number[]; rows: number[] }): CellHistogram {
    if (data.cells.length !== data.rows.length)
      throw new UsageError(
        `histogram data has ${data.cells.length} cells but ${data.rows.length} row counts`,
      );
    const h = new CellHistogram(data.order, Math.max(HISTOGRAM_MAX_CELLS, data.cells.length));
    for (let i = 0; i < data.cells.length; i++) {
      h.makeRoom();
      h.push(data.cells[i]!, data.rows[i]!);
    }
    h.flush();
    return h;
  }

  /**
   * The occupied cells, ascending, and their rows (views valid until the histogram changes).
   * @internal
   */
  sorted(): { cells: Float64Array; rows: Float64Array } {
    this.flush();
    return { cells: this.cells.subarray(0, this.size), rows: this.cellRows.subarray(0, this.size) };
  }

  /**
   * Room for another run: the buffer doubled while below PENDING_MIN (a small dataset's writer
   * stays small), else the pending runs merged (the order may then drop).
   */
  private makeRoom(): void {
    if (this.pending < this.pendingCells.length) return;
    if (this.pendingCells.length < PENDING_MIN) this.resizePending(2 * this.pendingCells.length);
    else this.flush();
  }

  /** New pending and spare arrays of `room` entries, the pending runs kept. */
  private resizePending(room: number): void {
    const cells = new Float64Array(room);
    const rows = new Float64Array(room);
    cells.set(this.pendingCells.subarray(0, this.pending));
    rows.set(this.pendingRows.subarray(0, this.pending));
    this.pendingCells = cells;
    this.pendingRows = rows;
    this.spareCells = new Float64Array(room);
    this.spareRows = new Float64Array(room);
  }

  /** A run of a cell at the current order; the caller made room first. */
  private push(cell: number, rows: number): void {
    this.pendingCells[this.pending] = cell;
    this.pendingRows[this.pending++] = rows;
  }

  /** Sorts the pending runs, merges them in, and halves the resolution while too many cells. */
  private flush(): void {
    if (this.pending > 0) {
      const n = this.pending;
      this.pending = 0;
      // Cells at `order` lie below 12 * 4^order = 2^(2 order + log2 12).
      const bits = 2 * this.at + 4;
      const inSpare = radixSortCells(
        this.pendingCells,
        this.pendingRows,
        this.spareCells,
        this.spareRows,
        n,
        bits,
      );
      const cells = inSpare ? this.spareCells : this.pendingCells;
      const rows = inSpare ? this.spareRows : this.pendingRows;
      this.mergeSorted(cells, rows, sumRuns(cells, rows, n));
      // Pending room follows the histogram's size, so merges stay linear in what is added.
      const room = Math.min(this.size, this.maxCells);
      if (room > this.pendingCells.length) this.resizePending(room);
    }
    while (this.size > this.maxCells && this.at > PARTITION_ORDER) this.coarsen();
  }

  /**
   * Merges m sorted distinct cells into the histogram's, in place: from the back, into arrays
   * grown (doubled) when they lack room, then the gap that equal cells leave is closed.
   */
  private mergeSorted(cells: Float64Array, rows: Float64Array, m: number): void {
    const na = this.size;
    if (this.cells.length < na + m) {
      const capacity = Math.max(na + m, 2 * this.cells.length);
      const grownCells = new Float64Array(capacity);
      const grownRows = new Float64Array(capacity);
      grownCells.set(this.cells.subarray(0, na));
      grownRows.set(this.cellRows.subarray(0, na));
      this.cells = grownCells;
      this.cellRows = grownRows;
    }
    const a = this.cells;
    const ar = this.cellRows;
    let i = na - 1;
    let j = m - 1;
    let k = na + m - 1;
    while (j >= 0) {
      const y = cells[j]!;
      if (i >= 0 && a[i]! > y) {
        a[k] = a[i]!;
        ar[k--] = ar[i--]!;
      } else if (i >= 0 && a[i] === y) {
        a[k] = y;
        ar[k--] = ar[i--]! + rows[j--]!;
      } else {
        a[k] = y;
        ar[k--] = rows[j--]!;
      }
    }
    // [0, i] are in place; [k + 1, na + m) follow after the gap equal cells left.
    const tail = na + m - 1 - k;
    if (k > i) {
      a.copyWithin(i + 1, k + 1, na + m);
      ar.copyWithin(i + 1, k + 1, na + m);
    }
    this.size = i + 1 + tail;
  }

  /** One order coarser (nothing pending): a cell's parent is cell / 4, so cells stay sorted. */
  private coarsen(): void {
    const cells = this.cells;
    for (let i = 0; i < this.size; i++) cells[i] = Math.floor(cells[i]! / 4);
    this.size = sumRuns(cells, this.cellRows, this.size);
    this.at--;
    this.shift = orderShift(this.at);
  }
}

/** Adds up runs of equal cells of sorted cells[0, n) in place; returns how many remain. */
function sumRuns(cells: Float64Array, rows: Float64Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (m > 0 && cells[m - 1] === cells[i]) rows[m - 1]! += rows[i]!;
    else {
      cells[m] = cells[i]!;
      rows[m++] = rows[i]!;
    }
  }
  return m;
}

/**
 * Sorts cells[0, n) (integers below 2^bits, bits <= 52) ascending with their rows: an LSD radix
 * sort on digits of at most 16 bits, between these arrays and the spare ones (as long). True
 * when the sorted entries end in the spare arrays.
 */
function radixSortCells(
  cells: Float64Array,
  rows: Float64Array,
  spareCells: Float64Array,
  spareRows: Float64Array,
  n: number,
  bits: number,
): boolean {
  const passes = Math.max(1, Math.ceil(bits / 16));
  const digitBits = Math.ceil(bits / passes);
  const size = 2 ** digitBits;
  const mask = size - 1;
  // Cells below 2^32 (orders up to 14) take integer shifts; others, division.
  const small = bits <= 32;
  const counts = new Int32Array(size);
  let fromCells: Float64Array = cells;
  let fromRows: Float64Array = rows;
  let toCells: Float64Array = spareCells;
  let toRows: Float64Array = spareRows;
  for (let pass = 0; pass < passes; pass++) {
    const shift = pass * digitBits;
    const scale = 2 ** shift;
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = fromCells[i]!;
      counts[small ? (c >>> shift) & mask : Math.floor(c / scale) % size]!++;
    }
    let sum = 0;
    for (let d = 0; d < size; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const c = fromCells[i]!;
      const t = counts[small ? (c >>> shift) & mask : Math.floor(c / scale) % size]!++;
      toCells[t] = c;
      toRows[t] = fromRows[i]!;
    }
    [fromCells, toCells] = [toCells, fromCells];
    [fromRows, toRows] = [toRows, fromRows];
  }
  return fromCells === spareCells;
}

/** One planned file (or, for a dense cell, run of files): a pixel's key range. */
export interface PartitionPiece {
  /** HEALPix order of the partition pixel. */
  order: number;
  /** The partition pixel (NESTED, at `order`), or the first of a run of `pixels`. */
  pixel: number;
  /** Consecutive pixels at `order` from `pixel` the piece's file covers; absent: one. */
  pixels?: number;
  /** Inclusive `_healpix_29` range of the piece (the whole pixel or run, or part of it). */
  keyLo: bigint;
  keyHi: bigint;
  /** Rows the histogram counted in the piece. */
  rows: number;
}

export interface PartitionTarget {
  /** "adaptive": pixels chosen by the data; "mmu": every pixel at order 4. */
  layout: Layout;
  /** Uncompressed bytes of one row (all columns). */
  rowBytes: number;
  /** Most rows one file holds (default DEFAULT_FILE_ROWS). */
  maxRows?: number;
  /** Most uncompressed bytes one file holds (default DEFAULT_FILE_BYTES). */
  maxBytes?: number;
}

/** Files a pixel of `rows` rows needs within the target. */
function filesFor(rows: number, rowBytes: number, maxRows: number, maxBytes: number): number {
  return Math.max(1, Math.ceil(rows / maxRows), Math.ceil((rows * rowBytes) / maxBytes));
}

/** Keys a DeferredCellHistogram keeps by default before it counts them by fine cell (8 MiB). */
export const DEFERRED_MAX_ROWS = 1 << 20;

/**
 * A histogram made fine only when the partitions need it. Up to `maxKeptRows` rows (by default
 * DEFERRED_MAX_ROWS), it keeps their keys and counts them per order-4 pixel only. `finish` then
 * takes those counts when the caller says every row fits one file (and one work unit, for a
 * build): every pixel fits then, so the chooser never looks below order 0 and makes the same
 * pieces, and the units cut none of them. Otherwise (or past the keys it keeps, or on `merge`)
 * the kept keys go into a full CellHistogram. A 1e5-row catalog's build skipped ~40-50 ms of
 * sorting cells (BENCHMARKS.md).
 */
export class DeferredCellHistogram {
  /** @param maxKeptRows keys kept at most before counting by fine cell (8 bytes each). */
  constructor(private readonly maxKeptRows = DEFERRED_MAX_ROWS) {}

  private kept: BigInt64Array[] = [];
  private keptRows = 0;
  /** Rows per order-4 pixel (PARTITION_ORDER) of the kept keys. */
  private readonly coarse = new Float64Array(12 * 4 ** PARTITION_ORDER);
  private full: CellHistogram | null = null;

  /** Counts keys[from..to) (any order). */
  addKeys(keys: BigInt64Array, from = 0, to = keys.length): void {
    if (!this.full && this.keptRows + (to - from) > this.maxKeptRows) this.toFull();
    if (this.full) {
      this.full.addKeys(keys, from, to);
      return;
    }
    this.kept.push(keys.slice(from, to));
    this.keptRows += to - from;
    // The order-4 pixel of a key below 2^62 is the top 12 of its 62 bits: its high word >>> 18.
    const words = int64Words(keys);
    const shift = 2 * (KEY_ORDER - PARTITION_ORDER) - 32;
    for (let i = from; i < to; i++) this.coarse[words[2 * i + 1]! >>> shift]!++;
  }

  /** Adds another histogram's counts (from then on, the full histogram is kept). */
  merge(other: CellHistogram): void {
    this.toFull().merge(other);
  }

  /**
   * The histogram for choosing partitions: the order-4 counts when `fitsWhole(rows)` (every row
   * in one file, and for a build in one work unit), else the full one.
   */
  finish(fitsWhole: (rows: number) => boolean): CellHistogram {
    if (!this.full && fitsWhole(this.keptRows)) {
      const cells: number[] = [];
      const rows: number[] = [];
      for (let c = 0; c < this.coarse.length; c++) {
        if (this.coarse[c]! > 0) {
          cells.push(c);
          rows.push(this.coarse[c]!);
        }
      }
      return CellHistogram.fromJson({ order: PARTITION_ORDER, cells, rows });
    }
    return this.toFull();
  }

  private toFull(): CellHistogram {
    if (!this.full) {
      this.full = new CellHistogram();
      for (const keys of this.kept) this.full.addKeys(keys);
      this.kept = [];
    }
    return this.full;
  }
}

/** A histogram's cells sorted, with prefix sums: rows of any pixel or key range, balanced cuts. */
export class CellIndex {
  readonly order: number;
  private readonly cells: Float64Array;
  private readonly prefix: Float64Array;
  private readonly shift: bigint;

  constructor(hist: CellHistogram) {
    this.order = hist.order;
    this.shift = orderShift(hist.order);
    // Occupied cells, ascending (the histogram keeps them sorted), and prefix sums of rows.
    const sorted = hist.sorted();
    const cells = new Float64Array(sorted.cells.length);
    const prefix = new Float64Array(sorted.cells.length + 1);
    let n = 0;
    for (let i = 0; i < sorted.cells.length; i++) {
      if (!(sorted.rows[i]! > 0)) continue;
      cells[n] = sorted.cells[i]!;
      prefix[n + 1] = prefix[n]! + sorted.rows[i]!;
      n++;
    }
    this.cells = cells.subarray(0, n);
    this.prefix = prefix.subarray(0, n + 1);
  }

  /** The occupied cells' numbers (at `order`), ascending. */
  get cellNumbers(): Float64Array {
    return this.cells;
  }

  /** Index of the first cell >= c. */
  private lowerBound(c: number): number {
    let lo = 0;
    let hi = this.cells.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cells[mid] < c) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Cell index range [a, b) of a pixel at order k (k at most the histogram's order). */
  span(k: number, pixel: number): [number, number] {
    const per = 4 ** (this.order - k);
    return [this.lowerBound(pixel * per), this.lowerBound((pixel + 1) * per)];
  }

  /** Cell index range [a, b) of the cells inside a key range (inclusive). */
  keySpan(keyLo: bigint, keyHi: bigint): [number, number] {
    return [
      this.lowerBound(Number(keyLo >> this.shift)),
      this.lowerBound(Number(keyHi >> this.shift) + 1),
    ];
  }

  /** Rows of cells [a, b). */
  rows(a: number, b: number): number {
    return this.prefix[b] - this.prefix[a];
  }

  /**
   * The part [keyLo, keyHi] of pixel (k, pixel) (or of the run of `pixels` from it) cut at cell
   * borders into at most n pieces of about equal rows, tiling [keyLo, keyHi] (pieces without rows
   * are left out).
   */
  cut(
    k: number,
    pixel: number,
    keyLo: bigint,
    keyHi: bigint,
    n: number,
    pixels = 1,
  ): PartitionPiece[] {
    const run = pixels === 1 ? {} : { pixels };
    const [a, b] = this.keySpan(keyLo, keyHi);
    const out: PartitionPiece[] = [];
    const total = this.rows(a, b);
    if (total === 0) return out;
    const at = (i: number) => BigInt(this.cells[i]) << this.shift;
    let start = a;
    let piece = 0;
    for (let i = a; i < b; i++) {
      // Cell i goes to the piece its middle row falls in; pieces never go back.
      const mid = this.rows(a, i) + (this.prefix[i + 1] - this.prefix[i]) / 2;
      const p = Math.min(n - 1, Math.floor((mid * n) / total));
      if (p > piece && i > start) {
        out.push({
          order: k,
          pixel,
          ...run,
          keyLo: start === a ? keyLo : at(start),
          keyHi: at(i) - 1n,
          rows: this.rows(start, i),
        });
        start = i;
      }
      piece = Math.max(piece, p);
    }
    out.push({
      order: k,
      pixel,
      ...run,
      keyLo: start === a ? keyLo : at(start),
      keyHi,
      rows: this.rows(start, b),
    });
    return out;
  }
}

/** The partition of a histogram's rows into pieces, in key order (see the top of this file). */
export function choosePartitions(hist: CellHistogram, target: PartitionTarget): PartitionPiece[] {
  return choosePartitionsOf(new CellIndex(hist), target);
}

/** `choosePartitions` on a histogram's index (built once when the caller needs it too). */
export function choosePartitionsOf(index: CellIndex, target: PartitionTarget): PartitionPiece[] {
  const maxRows = target.maxRows ?? DEFAULT_FILE_ROWS;
  const maxBytes = target.maxBytes ?? DEFAULT_FILE_BYTES;
  const rowBytes = Math.max(1, target.rowBytes);
  const F = index.order;
  const pieces: PartitionPiece[] = [];
  const pixelRows = (k: number, pixel: number) => index.rows(...index.span(k, pixel));
  const emit = (k: number, pixel: number, rows: number) => {
    const [lo, hi] = pixelKeyRange(k, pixel);
    if (rows === 0) return;
    const n = filesFor(rows, rowBytes, maxRows, maxBytes);
    if (n === 1) pieces.push({ order: k, pixel, keyLo: lo, keyHi: hi, rows });
    else pieces.push(...index.cut(k, pixel, lo, hi, n));
  };
  const small = (rows: number) => rows * 16 < maxRows && rows * rowBytes * 16 < maxBytes;
  const visit = (k: number, pixel: number) => {
    const rows = pixelRows(k, pixel);
    if (rows === 0) return;
    const n = filesFor(rows, rowBytes, maxRows, maxBytes);
    if (n === 1 || k >= F) return emit(k, pixel, rows);
    const children = [0, 1, 2, 3].map((c) => pixelRows(k + 1, pixel * 4 + c));
    if (n <= 4 && children.some((r) => r > 0 && small(r))) return emit(k, pixel, rows);
    for (let c = 0; c < 4; c++) if (children[c] > 0) visit(k + 1, pixel * 4 + c);
  };
  const cells = index.cellNumbers;
  const bases = (k: number) => {
    const down = 4 ** (F - k);
    const out: number[] = [];
    for (const c of cells) {
      const p = Math.floor(c / down);
      if (out[out.length - 1] !== p) out.push(p);
    }
    return out;
  };
  if (target.layout === "mmu") {
    for (const pixel of bases(PARTITION_ORDER))
      emit(PARTITION_ORDER, pixel, pixelRows(PARTITION_ORDER, pixel));
    return pieces;
  }
  for (const base of bases(0)) visit(0, base);
  return mergeSparse(pieces, { rowBytes, maxRows, maxBytes });
}

/**
 * Neighbouring whole-pixel pieces (in key order) joined where one is small, within a quarter of
 * the target (see the top of this file). Exported for tests.
 */
export function mergeSparse(
  pieces: PartitionPiece[],
  target: { rowBytes: number; maxRows: number; maxBytes: number },
): PartitionPiece[] {
  // Whether `rows` is below the target divided by `part`.
  const within = (rows: number, part: number) =>
    rows * part < target.maxRows && rows * target.rowBytes * part < target.maxBytes;
  const whole = (p: PartitionPiece) => {
    const [lo, hi] = pixelKeyRange(p.order, p.pixel, p.pixels ?? 1);
    return p.keyLo === lo && p.keyHi === hi;
  };
  const out: PartitionPiece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (
      last &&
      whole(last) &&
      whole(p) &&
      last.keyHi + 1n === p.keyLo &&
      (within(last.rows, 16) || within(p.rows, 16)) &&
      within(last.rows + p.rows, 4)
    ) {
      // The run at the finer order m: the pixels there of the two pieces' keys (both whole).
      const m = Math.max(last.order, p.order);
      const shift = orderShift(m);
      const first = Number(last.keyLo >> shift);
      out[out.length - 1] = {
        order: m,
        pixel: first,
        pixels: Number(p.keyHi >> shift) - first + 1,
        keyLo: last.keyLo,
        keyHi: p.keyHi,
        rows: last.rows + p.rows,
      };
    } else out.push(p);
  }
  return out;
}

/** The piece holding `key` (pieces sorted, disjoint), or -1; `los[i]` is pieces[i].keyLo. */
export function pieceOf(
  pieces: ReadonlyArray<{ keyHi: bigint }>,
  los: bigint[],
  key: bigint,
): number {
  let lo = 0;
  let hi = los.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (los[mid] <= key) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found >= 0 && key <= pieces[found].keyHi ? found : -1;
}

/** Pieces as plain JSON (key ranges as decimal strings). */
export interface PieceJson {
  order: number;
  pixel: number;
  pixels?: number;
  keyLo: string;
  keyHi: string;
  rows: number;
}

export function pieceToJson(p: PartitionPiece): PieceJson {
  return { ...p, keyLo: p.keyLo.toString(), keyHi: p.keyHi.toString() };
}

export function pieceFromJson(p: PieceJson): PartitionPiece {
  return { ...p, keyLo: BigInt(p.keyLo), keyHi: BigInt(p.keyHi) };
}
