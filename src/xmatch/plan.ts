// Planning an out-of-core cross-match: what each side looks like to a worker (a plain,
// structured-clonable table of its files), how the left side is cut into units of bounded size,
// and which right files can hold a partner of a left file.
//
// A right point within the radius of a left point of file F lies within (bound of a pixel
// covering F) + radius of that pixel's centre: the right files of the pixels that disc touches
// (narrowed to those whose `_healpix_29` range meets the disc, in dense regions) are all a unit
// needs, whatever the pixel or file borders.

import { join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { ManifestMismatchError, UsageError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import type { Source } from "../dataset/source.ts";
import { coneKeyRanges, pix2ang, pixelRadiusBoundDeg, queryDisc } from "../sky/index.ts";
import { PARTITION_ORDER } from "../storage/layout.ts";
import type { ColumnEntry, PositionsEntry } from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { PositionsFile } from "../storage/positions.ts";

/** One side of a match as the workers see it: the config's files and where its rows are. */
export interface SideTable {
  /** "left" or "right", for messages. */
  side: string;
  root: string;
  config: string;
  /** Per file (the config's files in manifest order, i.e. the dataset's row order). */
  paths: string[];
  pixel: Int32Array;
  keyMin: BigInt64Array;
  keyMax: BigInt64Array;
  /** starts[f] is the first dataset row of file f; starts[files] = rows. */
  starts: Float64Array;
  /** Per file: size on disk and identity (null in datasets written before identities). */
  bytes: Float64Array;
  identity: Array<string | null>;
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
 * parent source it describes (which stays in this thread: it holds open files).
 */
export async function sideTable(
  ds: Dataset,
  side: string,
): Promise<{ table: SideTable; source: Source }> {
  const { source, selection } = await ds.parentRows();
  if (!source) {
    throw new UsageError(
      `${side} dataset: cross-match needs one parent dataset, not a concatenation`,
    );
  }
  for (const c of ["object_id", "ra", "dec"]) source.feature(c); // MissingColumnError names it
  await checkRowCounts(source, side);
  const keyMin = BigInt64Array.from(source.files, (f) => BigInt(f.keyMin));
  const keyMax = BigInt64Array.from(source.files, (f) => BigInt(f.keyMax));
  const table: SideTable = {
    side,
    root: source.root,
    config: source.config,
    paths: source.files.map((f) => f.path),
    pixel: Int32Array.from(source.files, (f) => f.pixel),
    keyMin,
    keyMax,
    starts: source.starts,
    bytes: Float64Array.from(source.files, (f) => f.bytes),
    identity: source.files.map((f) => f.identity ?? null),
    columns: source.entry.columns,
    fileList: source.fileList,
    positions: source.entry.positions ?? null,
    objectId: source.spec("object_id"),
    // Shared memory: every worker sees the selection without a copy of its own.
    selection: selection ? shared(selection) : null,
  };
  return { table, source };
}

/**
 * Units and slices are sized from the manifest's row counts: they are checked against what the
 * files hold before any is planned, so a manifest that claims more rows than there are (say
 * 1e15) is a typed error, never a plan (or an allocation) of that size. With a positions
 * sidecar, its one open checks the total; without, each file's row count is checked.
 */
async function checkRowCounts(source: Source, side: string): Promise<void> {
  const total = source.starts[source.files.length]!;
  const entry = source.entry.positions;
  if (entry) {
    if (entry.rows !== total)
      throw new ManifestMismatchError(
        `${side} dataset: the positions sidecar is listed with ${entry.rows} rows but the config's files with ${total}`,
        { file: join(source.root, "astropile.json") },
      );
    // Opening checks the sidecar's own row count against the manifest's.
    (await PositionsFile.open(source.root, entry)).close();
    return;
  }
  for (const f of source.files) {
    const file = await PartitionFile.open(join(source.root, f.path), { expectRows: f.rows });
    try {
      file.column("ra"); // checks the file's rows against the manifest's
    } finally {
      file.close();
    }
  }
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

/** Ranges of a cone cover: enough to skip the files of a dense pixel far from the disc. */
const MAX_RANGES = 64;
/** Candidate right rows above which a left file's own key range is used to narrow them. */
const REFINE_ROWS = 100_000;

/**
 * Finds the right files that can hold a point within the radius of a left file's points:
 * first every right file of the partition pixels within (pixel bound + radius) of the left
 * file's pixel (one disc query per left pixel, cached); when those hold many rows (a dense
 * region), only the files whose key ranges meet discs around the few pixels covering the
 * left file's own key range.
 */
export class RightNeighbourhood {
  private readonly byPixel = new Map<number, number[]>();
  private readonly near = new Map<number, { files: number[]; rows: number }>();

  constructor(
    private readonly right: SideTable,
    private readonly radiusDeg: number,
    /** Candidate rows above which key ranges narrow the files (tests lower it). */
    private readonly refineRows = REFINE_ROWS,
  ) {
    right.pixel.forEach((p, f) => {
      if (right.starts[f + 1]! === right.starts[f]!) return;
      const list = this.byPixel.get(p);
      if (list) list.push(f);
      else this.byPixel.set(p, [f]);
    });
  }

  /** Adds to `out` the right files near a left file (its partition pixel and key range). */
  add(pixel: number, kmin: bigint, kmax: bigint, out: Set<number>): void {
    const near = this.nearPixel(pixel);
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

  private nearPixel(pixel: number): { files: number[]; rows: number } {
    let near = this.near.get(pixel);
    if (near) return near;
    const centre = pix2ang(PARTITION_ORDER, pixel);
    const reach = Math.min(180, pixelRadiusBoundDeg(PARTITION_ORDER) + this.radiusDeg);
    const files: number[] = [];
    let rows = 0;
    for (const p of queryDisc(PARTITION_ORDER, centre.ra, centre.dec, reach)) {
      for (const f of this.byPixel.get(Number(p)) ?? []) {
        files.push(f);
        rows += this.right.starts[f + 1]! - this.right.starts[f]!;
      }
    }
    near = { files, rows };
    this.near.set(pixel, near);
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
