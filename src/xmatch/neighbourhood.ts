// The right rows a unit of the left side needs, HATS-margin style: the unit's cells plus a margin
// of neighbouring cells dilated by the match radius (sky/healpix.ts `dilateKeyRanges`), as key
// ranges, mapped to row spans of the right files. Rows of a file are sorted by `_healpix_29`, so
// a key range is a run of rows; where it starts and ends is found by binary search on keys
// sampled every SAMPLE_ROWS rows of the file, computed from the positions sidecar's ra/dec:
// once per match for all threads (crossMatch, while the worker threads start: a sequential read
// of the uncompressed sidecar, far less than matching the rows), or here per file when the side
// table carries no samples. A unit then reads its own right rows and a thin margin, whatever the
// size of the files: whole files bordering a unit were most of the sky with the adaptive
// layout's order-0 files (41.7M right rows read for 10M at 1e7 x 1e7).
//
// Every key a right point within the radius of a unit's point can have lies in the cover (see
// dilateKeyRanges), and a span only ever grows to the sample around its ends, so no partner is
// lost; extra rows are harmless (the kernel measures every candidate).

import { dilateKeyRanges, pixelRadiusBoundDeg } from "../sky/healpix.ts";
import { ang2pixOrder29 } from "../sky/index.ts";
import { KEY_ORDER } from "../storage/layout.ts";
import { lowerBound, type SideTable } from "./plan.ts";

/** Reads ra/dec of dataset rows [start, end) (a SideReader). */
export interface PositionSource {
  readRange(start: number, end: number): Promise<{ ra: Float64Array; dec: Float64Array }>;
}

/**
 * Orders below a unit's extent at which its margin is cut: about 4 * 2^7 discs per pixel of the
 * extent, a margin ~1.5 pixels of that order wide (2-6 % of the area of a unit of two base
 * pixels, whose cover took 10-40 ms to compute).
 */
const MARGIN_DEPTH = 7;
/** A right file's key is sampled every this many rows (a span's ends are that precise). */
const SAMPLE_ROWS = 64;
/** Rows read at once while sampling a file. */
const SAMPLE_BLOCK_ROWS = 1 << 18;
/** Right files of at most this many rows are read whole when the cover meets them. */
const WHOLE_FILE_ROWS = 1024;
/** Spans closer than this many rows are read as one (a read costs more than a few rows). */
const GAP_ROWS = 256;

const ALL_KEYS = 12n << BigInt(2 * KEY_ORDER);

/**
 * The order at which a unit's margin is cut: MARGIN_DEPTH below the unit's extent (the deepest
 * order at which its keys span at most 4 pixels), but no finer than two orders below the order
 * whose pixels are about the radius (margin cells a fraction of the radius: finer would only
 * cost more discs).
 */
export function marginOrder(
  ranges: ReadonlyArray<readonly [bigint, bigint]>,
  radiusDeg: number,
): number {
  let lo = ranges[0]![0];
  let hi = ranges[0]![1];
  for (const [a, b] of ranges) {
    if (a < lo) lo = a;
    if (b > hi) hi = b;
  }
  let extent = 0;
  for (let order = KEY_ORDER; order > 0; order--) {
    const shift = BigInt(2 * (KEY_ORDER - order));
    if (((hi - 1n) >> shift) - (lo >> shift) <= 3n) {
      extent = order;
      break;
    }
  }
  let radiusOrder = 0;
  while (radiusOrder < KEY_ORDER && pixelRadiusBoundDeg(radiusOrder + 1) >= radiusDeg)
    radiusOrder++;
  return Math.min(KEY_ORDER, extent + MARGIN_DEPTH, radiusOrder + 2);
}

/** How finely right files are cut (the defaults above; tests make them small). */
export interface CutOptions {
  /** Files of at most this many rows are read whole when the cover meets them. */
  wholeFileRows?: number;
  /** A file's key is sampled every this many rows. */
  sampleRows?: number;
  /** Spans closer than this many rows are merged. */
  gapRows?: number;
}

export class RightNeighbourhood {
  /** Non-empty right files in key order. */
  private readonly files: number[];
  private readonly total: number;
  /**
   * Per right file sampled here (when the table carries no samples): keys every sampleRows
   * rows, or null (read the file whole).
   */
  private readonly samples = new Map<number, BigInt64Array | null>();
  private readonly wholeFileRows: number;
  private readonly sampleRows: number;
  private readonly gapRows: number;

  constructor(
    private readonly right: SideTable,
    private readonly radiusDeg: number,
    /** Positions of the right side (its sidecar); null reads every file the cover meets whole. */
    private readonly positions: PositionSource | null,
    options: CutOptions = {},
  ) {
    this.wholeFileRows = options.wholeFileRows ?? WHOLE_FILE_ROWS;
    this.sampleRows = Math.max(1, options.sampleRows ?? SAMPLE_ROWS);
    this.gapRows = options.gapRows ?? GAP_ROWS;
    const t = right;
    this.total = t.starts[t.paths.length]!;
    this.files = [];
    for (let f = 0; f < t.paths.length; f++)
      if (t.starts[f + 1]! > t.starts[f]!) this.files.push(f);
    this.files.sort((a, b) =>
      t.keyMin[a]! < t.keyMin[b]! ? -1 : t.keyMin[a]! > t.keyMin[b]! ? 1 : 0,
    );
  }

  /**
   * Sorted, merged dataset row spans [start, end) of the right rows that can be within the radius
   * of a left row whose key lies in one of `left` (inclusive key ranges).
   */
  async spans(left: ReadonlyArray<readonly [bigint, bigint]>): Promise<Array<[number, number]>> {
    const halfOpen = left.map(([a, b]) => [a, b + 1n] as const);
    if (halfOpen.length === 0 || this.total === 0) return [];
    const cover = dilateKeyRanges(halfOpen, this.radiusDeg, marginOrder(halfOpen, this.radiusDeg));
    if (cover.length === 1 && cover[0]![0] === 0n && cover[0]![1] >= ALL_KEYS)
      return [[0, this.total]];
    const t = this.right;
    const spans: Array<[number, number]> = [];
    for (const f of this.files) {
      const lo = t.keyMin[f]!;
      const hi = t.keyMax[f]!;
      // First cover range ending after the file's first key.
      let i = 0;
      let j = cover.length;
      while (i < j) {
        const m = (i + j) >>> 1;
        if (cover[m]![1] <= lo) i = m + 1;
        else j = m;
      }
      if (i === cover.length || cover[i]![0] > hi) continue;
      const start = t.starts[f]!;
      const rows = t.starts[f + 1]! - start;
      const whole = cover[i]![0] <= lo && cover[i]![1] > hi;
      const sampled = whole || rows <= this.wholeFileRows ? null : await this.sampled(f);
      if (!sampled) {
        spans.push([start, start + rows]);
        continue;
      }
      const { keys, every } = sampled;
      for (; i < cover.length && cover[i]![0] <= hi; i++) {
        const [a, b] = cover[i]!;
        // Rows before the last sample below a hold keys below a; the first sample at or above
        // b starts the rows at or above b.
        const below = lowerBound(keys, a);
        const first = below === 0 ? 0 : (below - 1) * every + 1;
        const above = lowerBound(keys, b);
        const end = above === keys.length ? rows : above * every;
        if (end > first) spans.push([start + first, start + end]);
      }
    }
    spans.sort((x, y) => x[0] - y[0]);
    const merged: Array<[number, number]> = [];
    for (const [s, e] of spans) {
      const last = merged[merged.length - 1];
      if (last && s - last[1] <= this.gapRows) last[1] = Math.max(last[1], e);
      else merged.push([s, e]);
    }
    return merged;
  }

  /** Keys of file f sampled every `every` rows (null: read the file whole), computed once. */
  private async sampled(f: number): Promise<{ keys: BigInt64Array; every: number } | null> {
    const pre = this.right.keySamples;
    if (pre) {
      const at = pre.first[f]!;
      if (at < 0) return null;
      const rows = this.right.starts[f + 1]! - this.right.starts[f]!;
      return { keys: pre.keys.subarray(at, at + Math.ceil(rows / pre.every)), every: pre.every };
    }
    if (!this.samples.has(f))
      this.samples.set(
        f,
        this.positions ? await sampleFile(this.right, f, this.positions, this.sampleRows) : null,
      );
    const keys = this.samples.get(f)!;
    return keys ? { keys, every: this.sampleRows } : null;
  }
}

/**
 * Keys of each right file's rows sampled every `every` rows, for all threads (shared memory):
 * computed once in the calling thread while the worker threads start.
 */
export interface KeySamples {
  every: number;
  /** Per file: index of its first sample in `keys`; -1: the file is read whole. */
  first: Int32Array;
  keys: BigInt64Array;
}

/** Samples of a side of at most this many keys (8 bytes each): sparser on larger sides. */
const MAX_SAMPLES = 1 << 21;

/** Samples the keys of every right file of more than WHOLE_FILE_ROWS rows (see sampleFile). */
export async function sampleKeys(t: SideTable, positions: PositionSource): Promise<KeySamples> {
  const files = t.paths.length;
  const every = Math.max(SAMPLE_ROWS, Math.ceil(t.starts[files]! / MAX_SAMPLES));
  const first = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, files))).fill(-1);
  let n = 0;
  for (let f = 0; f < files; f++) n += Math.ceil((t.starts[f + 1]! - t.starts[f]!) / every);
  const keys = new BigInt64Array(new SharedArrayBuffer(8 * Math.max(1, n)));
  let at = 0;
  for (let f = 0; f < files; f++) {
    const rows = t.starts[f + 1]! - t.starts[f]!;
    if (rows > WHOLE_FILE_ROWS) {
      const k = await sampleFile(t, f, positions, every);
      if (k) {
        keys.set(k, at);
        first[f] = at;
      }
    }
    at += Math.ceil(rows / every);
  }
  return { every, first, keys };
}

/**
 * Keys of rows 0, every, 2 * every, ... of file f, computed from its positions: the writer
 * computed `_healpix_29` from the same float64 ra/dec with the same function, so they are the
 * stored keys. Null (read the file whole) when the manifest says its rows are in any order, or
 * when they are not sorted within the file's key range: keys that do not follow the positions
 * never cut a file.
 */
async function sampleFile(
  t: SideTable,
  f: number,
  positions: PositionSource,
  every: number,
): Promise<BigInt64Array | null> {
  // Rows in any order (adopted MMU files): sorted samples would not mean sorted rows.
  if (t.files[f]!.rowOrder === "any") return null;
  const start = t.starts[f]!;
  const rows = t.starts[f + 1]! - start;
  const n = Math.ceil(rows / every);
  if (n === 0) return null;
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  // Blocks of whole samples: the first row of each block is a sampled row.
  const block = Math.max(1, Math.floor(SAMPLE_BLOCK_ROWS / every)) * every;
  for (let a = 0; a < rows; a += block) {
    const b = Math.min(rows, a + block);
    const p = await positions.readRange(start + a, start + b);
    for (let r = a; r < b; r += every) {
      ra[r / every] = p.ra[r - a]!;
      dec[r / every] = p.dec[r - a]!;
    }
  }
  const keys = ang2pixOrder29(ra, dec);
  if (keys[0]! < t.keyMin[f]! || keys[n - 1]! > t.keyMax[f]!) return null;
  for (let i = 1; i < n; i++) if (keys[i]! < keys[i - 1]!) return null;
  return keys;
}
