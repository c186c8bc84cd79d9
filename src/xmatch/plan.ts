// Planning an out-of-core cross-match: what each side looks like to a worker (a plain,
// structured-clonable table of its files) and how the left side is cut into units of bounded
// size. Which right rows a unit needs is neighbourhood.ts's job; it uses the files' key ranges
// only, never a file's partition pixel or order, so files at any HEALPix order work (coarse
// files where the sky is sparse, several key-range files in a dense pixel).

import { join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { ManifestMismatchError, UsageError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import type { Source } from "../dataset/source.ts";
import { sidecarExpectation } from "../storage/integrity.ts";
import type { ColumnEntry, FileEntry, PositionsEntry } from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { PositionsFile } from "../storage/positions.ts";
import type { KeySamples } from "./neighbourhood.ts";

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
  /** The right side's keys sampled for all threads (crossMatch adds them; see neighbourhood.ts). */
  keySamples?: KeySamples;
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

export function lowerBound<T extends number | bigint>(a: ArrayLike<T>, x: T): number {
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
 * Cuts the left side into units of at most `unitRows` rows (selected rows, for a filtered view),
 * all of about the same size: consecutive row ranges, so each unit is a run of keys (files follow
 * key order, rows within a file too), whatever the files' sizes. A unit's right rows are found
 * from its own keys (neighbourhood.ts), so its ends need not be file ends; equal units keep the
 * threads busy to the end. Memory per unit is bounded by unitRows, whatever the density.
 */
export function planUnits(t: SideTable, unitRows: number): Unit[] {
  const rows = t.starts[t.paths.length]!;
  const sel = t.selection;
  const total = sel ? sel.length : rows;
  if (total === 0) return [];
  const count = Math.ceil(total / unitRows);
  const units: Unit[] = [];
  for (let p = 0; p < count; p++) {
    const a = Math.floor((total * p) / count);
    const b = Math.floor((total * (p + 1)) / count);
    if (b <= a) continue;
    // Dataset rows [first selected row of the unit, first selected row of the next).
    const start = sel ? sel[a]! : a;
    const end = sel ? (b < total ? sel[b]! : sel[total - 1]! + 1) : b;
    units.push({
      index: units.length,
      fileStart: fileOfRow(t.starts, start),
      fileEnd: fileOfRow(t.starts, end - 1) + 1,
      start,
      end,
    });
  }
  return units;
}
