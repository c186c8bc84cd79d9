// One unit of an out-of-core cross-match: a run of left rows against every right row that can
// be within the radius of them. Runs in a worker thread (or inline); returns the unit's catalog
// rows as typed arrays, ready to be transferred.

import { allocate, type ColumnValues, concatValues, copyRow, gatherRows } from "../core/columns.ts";
import { ang2pixOrder29 } from "../sky/index.ts";
import { matchAll, matchNearest, type Pairs, SkyIndex } from "./kernel.ts";
import type { CutOptions, RightNeighbourhood } from "./neighbourhood.ts";
import { lowerBound, type SideTable, type Unit } from "./plan.ts";
import type { SideReader } from "./side-reader.ts";

export interface MatchSpec {
  radiusDeg: number;
  /**
   * Pairs closer than this (degrees) are not matches (default 0): the kernel filters them, so
   * merging slices in "nearest" mode keeps the k nearest of those at least this far.
   */
  minRadiusDeg?: number;
  mode: "nearest" | "all";
  /** Right rows per left row in "nearest" mode. */
  k: number;
  how: "inner" | "left";
  /** Right rows held at once; a larger neighbourhood is matched slice by slice and merged. */
  sliceRows: number;
  /** How finely right files are cut to the rows a unit needs (defaults in neighbourhood.ts). */
  cut?: CutOptions;
}

/** The unit's catalog rows: by left row, then nearest first ("nearest") or by right row ("all"). */
export interface UnitResult {
  index: number;
  /** Dataset rows of the left side. */
  leftRow: Float64Array;
  /** Dataset rows of the right side; -1 for a left row without a match (how "left"). */
  rightRow: Float64Array;
  /** NaN without a match. */
  sepArcsec: Float64Array;
  /** The left row's position. */
  leftRa: Float64Array;
  leftDec: Float64Array;
  /** The right row's position; NaN without a match. */
  rightRa: Float64Array;
  rightDec: Float64Array;
  leftId: ColumnValues;
  /** 0 or "" without a match (rightRow says which rows have one). */
  rightId: ColumnValues;
  /** Left rows matched, and right rows read, by this unit. */
  leftRows: number;
  rightRowsRead: number;
}

interface Points {
  ra: Float64Array;
  dec: Float64Array;
  /** Dataset row of each point, for a filtered view; otherwise null and `runs` say. */
  row: Float64Array | null;
  /** [first point, its dataset row] of each run of consecutive rows (ascending). */
  runs: Array<[number, number]>;
}

/** Dataset row of point j. */
function rowAt(p: Points, j: number): number {
  if (p.row) return p.row[j]!;
  let lo = 0;
  let hi = p.runs.length - 1;
  while (lo < hi) {
    const m = (lo + hi + 1) >>> 1;
    if (p.runs[m]![0] <= j) lo = m;
    else hi = m - 1;
  }
  return p.runs[lo]![1] + j - p.runs[lo]![0];
}

/** Values of `a` at rows of a selection given relative to `base` (plain loop: no callbacks). */
function pick(a: Float64Array, rows: Float64Array, base: number): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = a[rows[i]! - base]!;
  return out;
}

/**
 * The left rows of a unit (the selected ones, for a filtered view), and the positions of all its
 * rows [start, end).
 */
async function leftPoints(
  unit: Unit,
  L: SideReader,
): Promise<{ points: Points; all: { ra: Float64Array; dec: Float64Array } }> {
  const all = await L.readRange(unit.start, unit.end);
  const { ra, dec } = all;
  const sel = L.table.selection;
  if (!sel) return { points: { ra, dec, row: null, runs: [[0, unit.start]] }, all };
  const rows = sel.subarray(lowerBound(sel, unit.start), lowerBound(sel, unit.end));
  return {
    points: {
      ra: pick(ra, rows, unit.start),
      dec: pick(dec, rows, unit.start),
      row: rows.slice(),
      runs: [],
    },
    all,
  };
}

/**
 * Inclusive `_healpix_29` ranges holding the unit's rows, one per file it takes rows of: the
 * manifest's key range for a whole file; for part of a file, the keys of its first and last
 * rows (rows are sorted by key; a file whose manifest says `rowOrder: "any"` gives its whole
 * range), computed from their positions as the writer computed them (the
 * file's range if they fall outside it: never narrower than the file says).
 */
export function unitKeyRanges(
  unit: Unit,
  t: SideTable,
  all: { ra: Float64Array; dec: Float64Array },
): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  for (let f = unit.fileStart; f < unit.fileEnd; f++) {
    const s = Math.max(unit.start, t.starts[f]!);
    const e = Math.min(unit.end, t.starts[f + 1]!);
    if (e <= s) continue;
    const lo = t.keyMin[f]!;
    const hi = t.keyMax[f]!;
    // Rows of a file in any order (adopted MMU files): only the file's range bounds a part.
    if ((s > t.starts[f]! || e < t.starts[f + 1]!) && t.files[f]!.rowOrder !== "any") {
      const a = s - unit.start;
      const b = e - 1 - unit.start;
      const [k0, k1] = ang2pixOrder29([all.ra[a]!, all.ra[b]!], [all.dec[a]!, all.dec[b]!]);
      if (k0! >= lo && k1! <= hi && k0! <= k1!) {
        out.push([k0!, k1!]);
        continue;
      }
    }
    out.push([lo, hi]);
  }
  return out;
}

/** Right rows [start, end) of the dataset, cut into slices of at most sliceRows. */
function slices(runs: Array<[number, number]>, sliceRows: number): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [];
  let current: Array<[number, number]> = [];
  let size = 0;
  for (let [s, e] of runs) {
    while (e > s) {
      const take = Math.min(e - s, sliceRows - size);
      current.push([s, s + take]);
      size += take;
      s += take;
      if (size === sliceRows) {
        out.push(current);
        current = [];
        size = 0;
      }
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

async function rightPoints(pieces: Array<[number, number]>, R: SideReader): Promise<Points> {
  const sel = R.table.selection;
  const parts: Points[] = [];
  let n = 0;
  for (const [s, e] of pieces) {
    const { ra, dec } = await R.readRange(s, e);
    if (!sel) {
      parts.push({ ra, dec, row: null, runs: [[0, s]] });
    } else {
      const rows = sel.subarray(lowerBound(sel, s), lowerBound(sel, e));
      parts.push({ ra: pick(ra, rows, s), dec: pick(dec, rows, s), row: rows.slice(), runs: [] });
    }
    n += parts[parts.length - 1]!.ra.length;
  }
  if (parts.length === 1) return parts[0]!;
  const explicit = sel !== null;
  const out: Points = {
    ra: new Float64Array(n),
    dec: new Float64Array(n),
    row: explicit ? new Float64Array(n) : null,
    runs: [],
  };
  let at = 0;
  for (const p of parts) {
    out.ra.set(p.ra, at);
    out.dec.set(p.dec, at);
    if (out.row) out.row.set(p.row!, at);
    else out.runs.push([at, p.runs[0]![1]]);
    at += p.ra.length;
  }
  return out;
}

/** Pairs with right indices turned into dataset rows, and the right rows' ids and positions. */
interface RowPairs {
  left: Uint32Array;
  right: Float64Array;
  sepDeg: Float64Array;
  rightRa: Float64Array;
  rightDec: Float64Array;
  rightId: ColumnValues;
}

async function toRows(
  p: Pairs,
  right: Points,
  pieces: Array<[number, number]>,
  R: SideReader,
): Promise<RowPairs> {
  const n = p.left.length;
  const rows = new Float64Array(n);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const rra = right.ra;
  const rdec = right.dec;
  if (right.row) {
    const at = right.row;
    for (let t = 0; t < n; t++) {
      const j = p.right[t]!;
      rows[t] = at[j]!;
      ra[t] = rra[j]!;
      dec[t] = rdec[j]!;
    }
  } else if (right.runs.length === 1) {
    const base = right.runs[0]![1] - right.runs[0]![0];
    for (let t = 0; t < n; t++) {
      const j = p.right[t]!;
      rows[t] = base + j;
      ra[t] = rra[j]!;
      dec[t] = rdec[j]!;
    }
  } else {
    for (let t = 0; t < n; t++) {
      const j = p.right[t]!;
      rows[t] = rowAt(right, j);
      ra[t] = rra[j]!;
      dec[t] = rdec[j]!;
    }
  }
  return {
    left: p.left,
    right: rows,
    sepDeg: p.sepDeg,
    rightRa: ra,
    rightDec: dec,
    rightId: await rightIds(p.right, right, pieces, R),
  };
}

/**
 * Ids at these positions. 64-bit ids are copied as pairs of 32-bit words: reading a BigInt64Array
 * element makes a BigInt, which made gathering 1e5 ids cost tens of milliseconds.
 */
function gatherIds(values: ColumnValues, at: ArrayLike<number>): ColumnValues {
  if (!(values instanceof BigInt64Array || values instanceof BigUint64Array))
    return gatherRows(values, 1, at);
  const n = at.length;
  const out = new (values.constructor as BigInt64ArrayConstructor)(n);
  const from = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  const to = new Uint32Array(out.buffer, 0, n * 2);
  for (let i = 0; i < n; i++) {
    const j = 2 * at[i]!;
    to[2 * i] = from[j]!;
    to[2 * i + 1] = from[j + 1]!;
  }
  return out;
}

/** Fraction of a range's rows above which reading all its ids beats reading rows one by one. */
const DENSE = 1 / 16;

/** Ids of the right points at local indices `js` (of a slice read from `pieces`). */
async function rightIds(
  js: Uint32Array,
  right: Points,
  pieces: Array<[number, number]>,
  R: SideReader,
): Promise<ColumnValues> {
  let span = 0;
  for (const [s, e] of pieces) span += e - s;
  if (js.length >= span * DENSE) {
    // Read the slice's ids whole (contiguous reads), then pick by local index.
    const parts: ColumnValues[] = [];
    for (const [s, e] of pieces) parts.push(await R.readIdRange(s, e));
    let all = concatValues(parts);
    const rows = right.row;
    if (rows) {
      // Local indices count selected rows only: map them to positions in the pieces.
      const at = new Float64Array(rows.length);
      let base = 0;
      let t = 0;
      for (const [s, e] of pieces) {
        while (t < rows.length && rows[t]! < e) at[t] = base + rows[t++]! - s;
        base += e - s;
      }
      all = gatherIds(all, at);
    }
    return gatherIds(all, js);
  }
  const rows = new Float64Array(js.length);
  for (let t = 0; t < js.length; t++) rows[t] = rowAt(right, js[t]!);
  return idsOf(R, rows);
}

/** Merges slice results into the unit's order, keeping k per left row in "nearest" mode. */
function mergeSlices(parts: RowPairs[], spec: MatchSpec): RowPairs {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.left.length;
  const left = new Uint32Array(n);
  const right = new Float64Array(n);
  const sep = new Float64Array(n);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  let at = 0;
  for (const p of parts) {
    left.set(p.left, at);
    right.set(p.right, at);
    sep.set(p.sepDeg, at);
    ra.set(p.rightRa, at);
    dec.set(p.rightDec, at);
    at += p.left.length;
  }
  const order = Array.from({ length: n }, (_, t) => t);
  if (spec.mode === "all") order.sort((a, b) => left[a]! - left[b]! || right[a]! - right[b]!);
  else order.sort((a, b) => left[a]! - left[b]! || sep[a]! - sep[b]! || right[a]! - right[b]!);
  const ids = concatValues(parts.map((p) => p.rightId));
  const keep: number[] = [];
  let last = -1;
  let count = 0;
  for (const i of order) {
    if (left[i] !== last) {
      last = left[i]!;
      count = 0;
    }
    if (spec.mode === "nearest" && count >= spec.k) continue;
    count++;
    keep.push(i);
  }
  return {
    left: Uint32Array.from(keep, (i) => left[i]!),
    right: Float64Array.from(keep, (i) => right[i]!),
    sepDeg: Float64Array.from(keep, (i) => sep[i]!),
    rightRa: Float64Array.from(keep, (i) => ra[i]!),
    rightDec: Float64Array.from(keep, (i) => dec[i]!),
    rightId: gatherIds(ids, keep),
  };
}

/** Ids of dataset rows (any order, repeats allowed) through one ascending read. */
async function idsOf(reader: SideReader, rows: Float64Array): Promise<ColumnValues> {
  const sorted = rows.slice().sort();
  let m = 0;
  for (let t = 0; t < sorted.length; t++)
    if (t === 0 || sorted[t] !== sorted[m - 1]) sorted[m++] = sorted[t]!;
  const distinct = sorted.subarray(0, m);
  const ids = await reader.readIds(distinct);
  const at = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) at[i] = lowerBound(distinct, rows[i]!);
  return gatherIds(ids, at);
}

/** Ids of the left rows of the catalog (ascending dataset rows, repeats allowed). */
async function leftIds(unit: Unit, rows: Float64Array, L: SideReader): Promise<ColumnValues> {
  if (rows.length >= (unit.end - unit.start) * DENSE) {
    const all = await L.readIdRange(unit.start, unit.end);
    const at = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) at[i] = rows[i]! - unit.start;
    return gatherIds(all, at);
  }
  return idsOf(L, rows);
}

/**
 * Matches a unit against the right rows near it (`neighbourhood`), or against every right row
 * (null: the whole-side match, read in one piece when the slice size allows).
 */
export async function matchUnit(
  unit: Unit,
  L: SideReader,
  R: SideReader,
  neighbourhood: RightNeighbourhood | null,
  spec: MatchSpec,
): Promise<UnitResult> {
  const { points: left, all } = await leftPoints(unit, L);
  let runs: Array<[number, number]>;
  if (neighbourhood) {
    runs = left.ra.length > 0 ? await neighbourhood.spans(unitKeyRanges(unit, L.table, all)) : [];
  } else {
    const rows = R.table.starts[R.table.starts.length - 1]!;
    runs = rows > 0 ? [[0, rows]] : [];
  }
  const parts: RowPairs[] = [];
  let rightRowsRead = 0;
  if (left.ra.length > 0) {
    for (const pieces of slices(runs, spec.sliceRows)) {
      const right = await rightPoints(pieces, R);
      for (const [s, e] of pieces) rightRowsRead += e - s;
      if (right.ra.length === 0) continue;
      const index = new SkyIndex(right, spec.radiusDeg, { transient: true });
      const options = { leftInSkyOrder: true, minRadiusDeg: spec.minRadiusDeg ?? 0 };
      const pairs =
        spec.mode === "all"
          ? matchAll(left, index, spec.radiusDeg, options)
          : matchNearest(left, index, spec.radiusDeg, { ...options, k: spec.k });
      parts.push(await toRows(pairs, right, pieces, R));
    }
  }
  const pairs =
    parts.length > 0
      ? mergeSlices(parts, spec)
      : {
          left: new Uint32Array(0),
          right: new Float64Array(0),
          sepDeg: new Float64Array(0),
          rightRa: new Float64Array(0),
          rightDec: new Float64Array(0),
          rightId: allocate(R.table.objectId, 0),
        };
  // Catalog rows in left order; unmatched left rows in between for how "left".
  const np = pairs.left.length;
  let n = np;
  // Per catalog row: its left point, and its pair (-1: none).
  let from: Uint32Array = pairs.left;
  let pairOf: Int32Array | null = null;
  if (spec.how === "left") {
    let matched = 0;
    for (let t = 0; t < np; t++) if (t === 0 || pairs.left[t] !== pairs.left[t - 1]) matched++;
    n += left.ra.length - matched;
    from = new Uint32Array(n);
    pairOf = new Int32Array(n);
    let o = 0;
    let t = 0;
    for (let i = 0; i < left.ra.length; i++) {
      const first = t;
      while (t < np && pairs.left[t] === i) {
        from[o] = i;
        pairOf[o++] = t++;
      }
      if (t === first) {
        from[o] = i;
        pairOf[o++] = -1;
      }
    }
  }
  const leftRow = new Float64Array(n);
  const leftRa = new Float64Array(n);
  const leftDec = new Float64Array(n);
  // Left points of a whole view are one run of rows (leftPoints): row = base + point.
  const leftBase = left.row ? 0 : left.runs[0]![1];
  for (let r = 0; r < n; r++) {
    const i = from[r]!;
    leftRow[r] = left.row ? left.row[i]! : leftBase + i;
    leftRa[r] = left.ra[i]!;
    leftDec[r] = left.dec[i]!;
  }
  // Inner rows are the pairs one for one: their right columns are the pairs' own arrays.
  let rightRow = pairs.right;
  let sepArcsec = pairs.sepDeg;
  let rightRa = pairs.rightRa;
  let rightDec = pairs.rightDec;
  if (pairOf) {
    rightRow = new Float64Array(n);
    sepArcsec = new Float64Array(n);
    rightRa = new Float64Array(n);
    rightDec = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const t = pairOf[r]!;
      if (t < 0) {
        rightRow[r] = -1;
        sepArcsec[r] = Number.NaN;
        rightRa[r] = Number.NaN;
        rightDec[r] = Number.NaN;
      } else {
        rightRow[r] = pairs.right[t]!;
        sepArcsec[r] = pairs.sepDeg[t]! * 3600;
        rightRa[r] = pairs.rightRa[t]!;
        rightDec[r] = pairs.rightDec[t]!;
      }
    }
  } else {
    for (let r = 0; r < n; r++) sepArcsec[r]! *= 3600;
  }
  const leftId = await leftIds(unit, leftRow, L);
  let rightId: ColumnValues;
  if (!pairOf) rightId = pairs.rightId;
  else {
    // Unmatched rows (how "left") get 0 or "": `rightRow` -1 marks them.
    rightId = allocate(R.table.objectId, n);
    for (let r = 0; r < n; r++)
      if (pairOf[r]! >= 0) copyRow(pairs.rightId, pairOf[r]!, rightId, r, 1);
  }
  return {
    index: unit.index,
    leftRow,
    rightRow,
    sepArcsec,
    leftRa,
    leftDec,
    rightRa,
    rightDec,
    leftId,
    rightId,
    leftRows: left.ra.length,
    rightRowsRead,
  };
}
