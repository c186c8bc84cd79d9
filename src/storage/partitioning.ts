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
// A partition is a list of pieces in key order: (order, pixel, key range). The pieces of a pixel
// tile its key range. The writer starts a new file at each piece, and also at the caps inside
// one (a single fine cell denser than the target), only where the key changes.
import { UsageError } from "../core/errors.ts";
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

/** Rows per sky cell at `order`; halves its resolution (never below order 4) when it grows. */
export class CellHistogram {
  order: number;
  readonly counts = new Map<number, number>();
  private shift: bigint;
  private readonly maxCells: number;

  constructor(order = HISTOGRAM_ORDER, maxCells = HISTOGRAM_MAX_CELLS) {
    if (!(Number.isInteger(order) && order >= PARTITION_ORDER && order <= MAX_PARTITION_ORDER))
      throw new UsageError(
        `histogram order ${order} must be an integer in [${PARTITION_ORDER}, ${MAX_PARTITION_ORDER}]`,
      );
    this.order = order;
    this.shift = orderShift(order);
    this.maxCells = maxCells;
  }

  /** Total rows counted. */
  get rows(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  add(key29: bigint, rows = 1): void {
    const cell = Number(key29 >> this.shift);
    this.counts.set(cell, (this.counts.get(cell) ?? 0) + rows);
    if (this.counts.size > this.maxCells && this.order > PARTITION_ORDER) this.coarsen();
  }

  /** Counts keys[from..to) (any order). */
  addKeys(keys: BigInt64Array, from = 0, to = keys.length): void {
    const counts = this.counts;
    // The cell of a key (non-negative, below 2^62) from its two 32-bit words: no BigInt is made.
    const words = new Uint32Array(keys.buffer, keys.byteOffset, 2 * keys.length);
    const bits = 2 * (KEY_ORDER - this.order);
    const hiShift = bits - 32;
    const hiScale = 2 ** (32 - bits);
    const loDiv = 2 ** bits;
    // Runs of equal cells (sorted input, dense regions) cost one map update.
    let cell = -1;
    let run = 0;
    for (let i = from; i < to; i++) {
      const lo = words[2 * i];
      const hi = words[2 * i + 1];
      const c = hiShift >= 0 ? hi >>> hiShift : hi * hiScale + Math.floor(lo / loDiv);
      if (c === cell) {
        run++;
        continue;
      }
      if (run > 0) counts.set(cell, (counts.get(cell) ?? 0) + run);
      cell = c;
      run = 1;
    }
    if (run > 0) counts.set(cell, (counts.get(cell) ?? 0) + run);
    while (counts.size > this.maxCells && this.order > PARTITION_ORDER) this.coarsen();
  }

  /** Adds another histogram's counts (brought to the coarser of the two orders). */
  merge(other: CellHistogram): void {
    while (this.order > other.order) this.coarsen();
    const down = 4 ** (other.order - this.order);
    for (const [cell, n] of other.counts) {
      const c = Math.floor(cell / down);
      this.counts.set(c, (this.counts.get(c) ?? 0) + n);
    }
    while (this.counts.size > this.maxCells && this.order > PARTITION_ORDER) this.coarsen();
  }

  private coarsen(): void {
    const old = [...this.counts];
    this.counts.clear();
    this.order--;
    this.shift = orderShift(this.order);
    for (const [cell, n] of old) {
      const c = Math.floor(cell / 4);
      this.counts.set(c, (this.counts.get(c) ?? 0) + n);
    }
  }

  /** Plain data (for a build plan); `fromJson` reads it back. */
  toJson(): { order: number; cells: number[]; rows: number[] } {
    const cells = [...this.counts.keys()].sort((a, b) => a - b);
    return { order: this.order, cells, rows: cells.map((c) => this.counts.get(c)!) };
  }

  static fromJson(data: { order: number; cells: number[]; rows: number[] }): CellHistogram {
    const h = new CellHistogram(data.order, Math.max(HISTOGRAM_MAX_CELLS, data.cells.length));
    for (let i = 0; i < data.cells.length; i++) h.counts.set(data.cells[i], data.rows[i]);
    return h;
  }
}

/** One planned file (or, for a dense cell, run of files): a pixel's key range. */
export interface PartitionPiece {
  /** HEALPix order of the partition pixel. */
  order: number;
  /** The partition pixel (NESTED, at `order`). */
  pixel: number;
  /** Inclusive `_healpix_29` range of the piece (the whole pixel, or part of it). */
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

/** A histogram's cells sorted, with prefix sums: rows of any pixel or key range, balanced cuts. */
export class CellIndex {
  readonly order: number;
  private readonly cells: Float64Array;
  private readonly prefix: Float64Array;
  private readonly shift: bigint;

  constructor(hist: CellHistogram) {
    this.order = hist.order;
    this.shift = orderShift(hist.order);
    // Occupied cells, ascending (a typed array sorts numerically, without a comparator).
    const all = new Float64Array(hist.counts.size);
    let n = 0;
    for (const [cell, rows] of hist.counts) if (rows > 0) all[n++] = cell;
    const cells = all.subarray(0, n).sort();
    this.cells = cells;
    this.prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) this.prefix[i + 1] = this.prefix[i] + hist.counts.get(cells[i])!;
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
   * The part [keyLo, keyHi] of pixel (k, pixel) cut at cell borders into at most n pieces of
   * about equal rows, tiling [keyLo, keyHi] (pieces without rows are left out).
   */
  cut(k: number, pixel: number, keyLo: bigint, keyHi: bigint, n: number): PartitionPiece[] {
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
  return pieces;
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
