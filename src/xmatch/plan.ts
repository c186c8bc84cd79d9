// Planning an out-of-core cross-match: what each side looks like to a worker (a plain,
// structured-clonable table of its files), how the left side is cut into units of bounded size,
// and which right files can hold a partner of a left file.
//
// A right point within the radius of a left point of file F lies within (bound of a pixel
// covering F) + radius of that pixel's centre: the right files whose `_healpix_29` key range
// meets that disc (narrowed by finer discs around F's own key range, in dense regions) are all a
// unit needs, whatever the pixel or file borders. Only key ranges are used, never a file's
// partition pixel or order: they are exact for files at any HEALPix order (coarse files where the
// sky is sparse, several key-range files in a dense pixel), and every manifest has them.

import { join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { ManifestMismatchError, UsageError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import type { Source } from "../dataset/source.ts";
import { coneKeyRanges, pix2ang, pixelRadiusBoundDeg, queryDisc } from "../sky/index.ts";
import { sidecarExpectation } from "../storage/integrity.ts";
import { KEY_ORDER } from "../storage/layout.ts";
import type { ColumnEntry, FileEntry, PositionsEntry } from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { PositionsFile } from "../storage/positions.ts";

/** One side of a match as the workers see it: the config's files and where its rows are. */
export interface SideTable {
  /** "left" or "right", for messages. */
  side: string;
  root: string;
  config: string;
  /**
   * The config's files in manifest order (the dataset's row order), as the manifest lists them:
   * each file opened is checked against its entry.
   */
  files: FileEntry[];
  /** Per file: path relative to `root`. */
  paths: string[];
  /**
   * Per file: smallest and largest `_healpix_29` key (inclusive; meaningless for 0 rows); empty
   * until {@link addKeyRanges} (sideTable calls it unless told not to).
   */
  keyMin: BigInt64Array;
  keyMax: BigInt64Array;
  /** starts[f] is the first dataset row of file f; starts[files] = rows. */
  starts: Float64Array;
  /** The config's columns as the manifest lists them (each file opened is checked against them). */
  columns: ColumnEntry[];
  /** Identity of the config's file list in the manifest (the sidecar must carry it). */
  fileList: string;
  positions: PositionsEntry | null;
  objectId: ColumnSpec;
  /** Ascending dataset rows of a filtered view; null means every row. */
  selection: Float64Array | null;
}

/**
 * The side table of a dataset view (whole, filtered or shuffled; not concatenated), and the
 * parent source it describes (which stays in this thread: it holds open files). With
 * `keepSidecar`, the positions sidecar opened to check the row counts is returned open (the
 * caller closes it) rather than opened again to be read.
 */
export async function sideTable(
  ds: Dataset,
  side: string,
  options: { keepSidecar?: boolean; keyRanges?: boolean } = {},
): Promise<{ table: SideTable; source: Source; sidecar: PositionsFile | null }> {
  const { source, selection } = await ds.parentRows();
  if (!source) {
    throw new UsageError(
      `${side} dataset: cross-match needs one parent dataset, not a concatenation`,
    );
  }
  for (const c of ["object_id", "ra", "dec"]) source.feature(c); // MissingColumnError names it
  const sidecar = await checkRowCounts(source, side);
  if (sidecar && !options.keepSidecar) sidecar.close();
  const table: SideTable = {
    side,
    root: source.root,
    config: source.config,
    files: source.files,
    paths: source.files.map((f) => f.path),
    keyMin: new BigInt64Array(0),
    keyMax: new BigInt64Array(0),
    starts: source.starts,
    columns: source.entry.columns,
    fileList: source.fileList,
    positions: source.entry.positions ?? null,
    objectId: source.spec("object_id"),
    // Shared memory: every worker sees the selection without a copy of its own.
    selection: selection ? shared(selection) : null,
  };
  if (options.keyRanges !== false) addKeyRanges(table);
  return { table, source, sidecar: options.keepSidecar ? sidecar : null };
}

/**
 * Fills the table's per-file key ranges (what planning units needs; a whole-side match does
 * not, and parsing thousands of decimal keys is not free), unless they are there.
 */
export function addKeyRanges(table: SideTable): void {
  const n = table.files.length;
  if (table.keyMin.length === n) return;
  table.keyMin = BigInt64Array.from(table.files, (f) => BigInt(f.keyMin));
  table.keyMax = BigInt64Array.from(table.files, (f) => BigInt(f.keyMax));
}

/**
 * Units and slices are sized from the manifest's row counts: they are checked against what the
 * files hold before any is planned, so a manifest that claims more rows than there are (say
 * 1e15) is a typed error, never a plan (or an allocation) of that size. With a positions
 * sidecar, its one open checks the total; without, each file's row count is checked.
 */
async function checkRowCounts(source: Source, side: string): Promise<PositionsFile | null> {
  const total = source.starts[source.files.length]!;
  const entry = source.entry.positions;
  if (entry) {
    if (entry.rows !== total)
      throw new ManifestMismatchError(
        `${side} dataset: the positions sidecar is listed with ${entry.rows} rows but the config's files with ${total}`,
        { file: join(source.root, "astropile.json") },
      );
    // Opening checks the sidecar's own row count against the manifest's (and its file-list
    // attribute against the entry's); then the entry's file list against the manifest's current
    // one (a row count the files do not hold is reported as such, not as a stale sidecar).
    const sidecar = await PositionsFile.open(source.root, entry);
    try {
      sidecarExpectation(source.root, "positions sidecar", entry, source.fileList);
    } catch (err) {
      sidecar.close();
      throw err;
    }
    return sidecar;
  }
  for (const f of source.files) {
    const file = await PartitionFile.open(join(source.root, f.path), { expectRows: f.rows });
    try {
      file.column("ra"); // checks the file's rows against the manifest's
    } finally {
      file.close();
    }
  }
  return null;
}

function shared(a: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

/** Rows of a side: all, or those of the selection within [start, end). */
export function selectedIn(t: SideTable, start: number, end: number): number {
  if (!t.selection) return end - start;
  return lowerBound(t.selection, end) - lowerBound(t.selection, start);
}

/** File holding dataset row `row`, given the files' first rows `starts` (length files + 1). */
export function fileOfRow(starts: Float64Array, row: number): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const m = (lo + hi + 1) >>> 1;
    if (starts[m]! <= row) lo = m;
    else hi = m - 1;
  }
  return lo;
}

export function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** A piece of the left side matched as one job: dataset rows [start, end) of files [fileStart, fileEnd). */
export interface Unit {
  index: number;
  fileStart: number;
  fileEnd: number;
  start: number;
  end: number;
}

/**
 * Cuts the left side into units of about `unitRows` rows (selected rows, for a filtered
 * view): runs of consecutive files (neighbours on the sky, in key order) up to the first that
 * reaches the size, a file larger than a unit split into row ranges. Memory per unit is bounded by unitRows, whatever the density.
 */
export function planUnits(t: SideTable, unitRows: number): Unit[] {
  const units: Unit[] = [];
  const files = t.paths.length;
  let f = 0;
  while (f < files) {
    const rows = selectedIn(t, t.starts[f]!, t.starts[f + 1]!);
    if (rows === 0) {
      f++;
      continue;
    }
    if (rows > unitRows) {
      // Split a big file by dataset rows so each piece holds ~unitRows selected rows.
      const pieces = Math.ceil(rows / unitRows);
      const s = t.starts[f]!;
      const e = t.starts[f + 1]!;
      for (let p = 0; p < pieces; p++) {
        const a = s + Math.floor(((e - s) * p) / pieces);
        const b = s + Math.floor(((e - s) * (p + 1)) / pieces);
        if (b > a)
          units.push({ index: units.length, fileStart: f, fileEnd: f + 1, start: a, end: b });
      }
      f++;
      continue;
    }
    const first = f;
    let total = 0;
    // Whole files until the unit reaches its size (a file bigger than a unit was split above).
    while (f < files && total < unitRows) {
      const r = selectedIn(t, t.starts[f]!, t.starts[f + 1]!);
      if (r > unitRows) break;
      total += r;
      f++;
    }
    units.push({
      index: units.length,
      fileStart: first,
      fileEnd: f,
      start: t.starts[first]!,
      end: t.starts[f]!,
    });
  }
  return units;
}

/**
 * At most 4 consecutive NESTED pixels of one order that cover keys [kmin, kmax]: the deepest
 * order at which the range spans no more than 4 pixels.
 */
export function coverPixels(kmin: bigint, kmax: bigint): { order: number; pixels: bigint[] } {
  for (let order = 29; order >= 0; order--) {
    const shift = BigInt(2 * (29 - order));
    const a = kmin >> shift;
    const b = kmax >> shift;
    if (b - a <= 3n) {
      const pixels: bigint[] = [];
      for (let p = a; p <= b; p++) pixels.push(p);
      return { order, pixels };
    }
  }
  // Order 0 has 12 pixels, so a range over more than 4 of them: all 12 cover it.
  return { order: 0, pixels: Array.from({ length: 12 }, (_, i) => BigInt(i)) };
}

/**
 * The one NESTED pixel holding every key of [kmin, kmax], at the deepest order that has one
 * (for a file: its partition pixel, or a finer one when its rows are concentrated); null when
 * the range spans several of the 12 base pixels.
 */
export function enclosingPixel(
  kmin: bigint,
  kmax: bigint,
): { order: number; pixel: bigint } | null {
  for (let order = KEY_ORDER; order >= 0; order--) {
    const shift = BigInt(2 * (KEY_ORDER - order));
    if (kmin >> shift === kmax >> shift) return { order, pixel: kmin >> shift };
  }
  return null;
}

/**
 * Discs are covered by pixels of this order (~3.7 degrees) to find the right files they meet,
 * whatever the orders of the files; finer discs (below) narrow them in dense regions.
 */
const PLAN_ORDER = 4;
/** Ranges of a cone cover: enough to skip the files of a dense pixel far from the disc. */
const MAX_RANGES = 64;
/** Candidate right rows above which a left file's own key range is used to narrow them. */
const REFINE_ROWS = 100_000;

/**
 * Finds the right files that can hold a point within the radius of a left file's points, from
 * key ranges alone: first every right file whose key range meets the disc of (pixel bound +
 * radius) around the pixel enclosing the left file's key range, taken at order 4 at most (one
 * disc query per such pixel, cached); when those hold many rows (a dense region), only the files
 * whose key ranges meet discs around the few pixels covering the left file's own key range.
 */
export class RightNeighbourhood {
  /** Non-empty right files in key order: their indices and key ranges. */
  private readonly file: number[] = [];
  private readonly lo: bigint[] = [];
  private readonly hi: bigint[] = [];
  private readonly near = new Map<string, { files: number[]; rows: number }>();
  /**
   * False when some key ranges overlap or are out of order (adopted Multimodal Universe files:
   * rows in any order, several files per pixel): files are then found by a linear scan.
   */
  private readonly disjoint: boolean;

  constructor(
    private readonly right: SideTable,
    private readonly radiusDeg: number,
    /** Candidate rows above which key ranges narrow the files (tests lower it). */
    private readonly refineRows = REFINE_ROWS,
  ) {
    for (let f = 0; f < right.paths.length; f++) {
      if (right.starts[f + 1]! === right.starts[f]!) continue;
      this.file.push(f);
      this.lo.push(right.keyMin[f]!);
      this.hi.push(right.keyMax[f]!);
    }
    this.disjoint = this.lo.every((lo, j) => j === 0 || lo > this.hi[j - 1]!);
  }

  /** Adds to `out` the right files near a left file with keys [kmin, kmax]. */
  add(kmin: bigint, kmax: bigint, out: Set<number>): void {
    const near = this.nearCell(kmin, kmax);
    if (near.rows <= this.refineRows) {
      for (const f of near.files) out.add(f);
      return;
    }
    const R = this.right;
    const ranges = this.coverRanges(kmin, kmax);
    for (const f of near.files) {
      const lo = R.keyMin[f]!;
      const hi = R.keyMax[f]!;
      // Ranges are half-open [a, b); the file's range is inclusive [lo, hi].
      if (ranges.some(([a, b]) => lo < b && hi >= a)) out.add(f);
    }
  }

  /** Right files (ascending) whose key ranges meet sorted half-open ranges [a, b). */
  private filesIn(ranges: Array<[bigint, bigint]>): number[] {
    const files: number[] = [];
    const n = this.file.length;
    if (!this.disjoint) {
      for (let j = 0; j < n; j++)
        if (ranges.some(([a, b]) => this.lo[j]! < b && this.hi[j]! >= a)) files.push(this.file[j]!);
      return files;
    }
    let last = -1;
    for (const [a, b] of ranges) {
      // First file whose range ends at or after a (files are disjoint and in key order).
      let x = 0;
      let y = n;
      while (x < y) {
        const m = (x + y) >>> 1;
        if (this.hi[m]! < a) x = m + 1;
        else y = m;
      }
      for (let j = x; j < n && this.lo[j]! < b; j++) {
        if (j > last) {
          files.push(this.file[j]!);
          last = j;
        }
      }
    }
    return files;
  }

  /** The right files near the pixel enclosing [kmin, kmax] (order 4 at most), cached. */
  private nearCell(kmin: bigint, kmax: bigint): { files: number[]; rows: number } {
    const cell = enclosingPixel(kmin, kmax);
    const order = cell ? Math.min(cell.order, PLAN_ORDER) : -1;
    const pixel = cell ? kmin >> BigInt(2 * (KEY_ORDER - order)) : 0n;
    const key = `${order}:${pixel}`;
    let near = this.near.get(key);
    if (near) return near;
    let ranges: Array<[bigint, bigint]>;
    const reach = order < 0 ? 180 : pixelRadiusBoundDeg(order) + this.radiusDeg;
    if (reach >= 180) {
      ranges = [[0n, 12n << BigInt(2 * KEY_ORDER)]];
    } else {
      const centre = pix2ang(order, pixel);
      const shift = BigInt(2 * (KEY_ORDER - PLAN_ORDER));
      ranges = [];
      for (const p of queryDisc(PLAN_ORDER, centre.ra, centre.dec, reach)) {
        const a = p << shift;
        const last = ranges[ranges.length - 1];
        if (last && last[1] === a) last[1] = (p + 1n) << shift;
        else ranges.push([a, (p + 1n) << shift]);
      }
    }
    const files = this.filesIn(ranges);
    let rows = 0;
    for (const f of files) rows += this.right.starts[f + 1]! - this.right.starts[f]!;
    near = { files, rows };
    this.near.set(key, near);
    return near;
  }

  private coverRanges(kmin: bigint, kmax: bigint): Array<[bigint, bigint]> {
    const { order, pixels } = coverPixels(kmin, kmax);
    const reach = Math.min(180, pixelRadiusBoundDeg(order) + this.radiusDeg);
    const out: Array<[bigint, bigint]> = [];
    for (const p of pixels) {
      const centre = pix2ang(order, p);
      out.push(...coneKeyRanges(centre.ra, centre.dec, reach, { maxRanges: MAX_RANGES }));
    }
    return out;
  }
}

/** Dataset row ranges [start, end) of a set of files, consecutive files merged. */
export function fileRuns(t: SideTable, files: Iterable<number>): Array<[number, number]> {
  const sorted = [...files].sort((a, b) => a - b);
  const runs: Array<[number, number]> = [];
  for (const f of sorted) {
    const s = t.starts[f]!;
    const e = t.starts[f + 1]!;
    if (e === s) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === s) last[1] = e;
    else runs.push([s, e]);
  }
  return runs;
}
