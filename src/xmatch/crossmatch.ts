// Out-of-core cross-match of two parent datasets, unit by unit, on worker threads.
//
// The left side is cut into units of equal size (up to 2.5M rows): consecutive row ranges, so
// each is a run of `_healpix_29` keys, a compact patch of sky (files follow key order). For each
// unit a worker reads the left rows' ra/dec, then only the right rows that can be within the
// radius of them: the unit's cells plus a margin dilated by the radius, as key ranges, mapped to
// row spans of the right files by keys sampled from the positions sidecar (src/xmatch/
// neighbourhood.ts). No pair is lost at pixel, file or unit borders, whatever the radius (larger
// radii reach further; a neighbourhood larger than a slice is matched slice by slice).
// Positions come from each config's positions sidecar, one file read in large slices; object ids
// are read only for the rows in the catalog. Memory per thread is bounded by the unit and slice
// sizes, never by the dataset.

import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_MEMORY_BYTES, MemoryBudget, MIN_MEMORY_BYTES } from "../core/budget.ts";
import {
  allocate,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
  copyRow,
} from "../core/columns.ts";
import { UsageError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import { Dataset } from "../dataset/dataset.ts";
import type { Example } from "../dataset/example.ts";
import type { Source } from "../dataset/source.ts";
import type { DatasetWriterOptions } from "../storage/dataset-writer.ts";
import type { Manifest } from "../storage/manifest.ts";
import type { PositionsFile } from "../storage/positions.ts";
import { countLeftMatched, type MatchCatalog } from "./catalog.ts";
import { sampleKeys } from "./neighbourhood.ts";
import { addKeyRanges, fileOfRow, planUnits, type SideTable, sideTable } from "./plan.ts";
import { SideReader } from "./side-reader.ts";
import { type MatchSpec, matchUnit, type UnitResult } from "./unit.ts";
import { runUnits } from "./workers.ts";

export {
  CATALOG_COLUMNS,
  type CatalogColumn,
  type CatalogOutputOptions,
  catalogColumns,
  catalogRow,
  countLeftMatched,
  LOCATION_COLUMNS,
  type MatchCatalog,
  type ObjectId,
  writeCatalogCsv,
} from "./catalog.ts";

export interface CrossMatchOptions {
  /** Match radius in arcsec; a pair is kept when its separation is <= the radius. */
  radiusArcsec: number;
  /**
   * Minimum separation in arcsec (default 0): pairs closer than this are not matches, e.g. a
   * small value such as 1e-6 keeps an object from matching itself when a catalog is matched
   * against itself ("nearest" then gives each object's nearest other object; exact duplicates
   * are excluded too). A pair at exactly this separation is kept; must be < radiusArcsec.
   */
  minRadiusArcsec?: number;
  /** "nearest": the nNeighbors nearest right rows per left row (default); "all": every pair. */
  mode?: "nearest" | "all";
  /** Right rows kept per left row in "nearest" mode (default 1). */
  nNeighbors?: number;
  /** "inner" (default): matched rows only; "left": also left rows without a match. */
  how?: "inner" | "left";
  /**
   * Worker threads for a match by units (default: the machine's cores when there is more than
   * one unit; 0 runs in this thread). Each holds one unit and its right neighbourhood: ~150
   * bytes per row. A number >= 1 asks for units on worker threads, never the whole-side match.
   */
  threads?: number;
  /**
   * Match both sides whole, in this thread, in one kernel call: each side's positions read in
   * one piece (its positions sidecar), no units, no worker threads, no planning. Default: when
   * both sides' rows fit the memory budget (~64 bytes a row, both sides counted; 512 MiB by
   * default: ~8M rows) and neither `threads` >= 1, `unitRows` nor `rightSliceRows` asks for
   * units. `true` always, `false` never. The catalog is the same either way.
   */
  inMemory?: boolean;
  /** Left rows per unit (default: three units per thread, 250,000 to 2,500,000 rows). */
  unitRows?: number;
  /** Right rows matched against a unit at once (default 4,000,000). */
  rightSliceRows?: number;
  /**
   * Memory budget in bytes (`--memory`; at least 16 MiB). Given, it bounds the rows each thread
   * holds (a unit and a right slice, ~150 bytes a row, within its share) besides `unitRows` and
   * `rightSliceRows`; and `dataset.saveToDisk` reads and writes within it whatever the output
   * size (default there: 512 MiB). The catalog itself (~100 bytes a pair) is the result and is
   * not counted.
   */
  memoryBytes?: number;
  onProgress?: (p: CrossMatchProgress) => void;
}

export interface CrossMatchProgress {
  unitsDone: number;
  unitsTotal: number;
  /** Left rows matched so far. */
  leftRows: number;
  /** Catalog rows so far. */
  rows: number;
  rightRowsRead: number;
}

export interface MatchedExample {
  left: Example;
  right: Example | null;
  sep_arcsec: number;
}

export interface CrossMatchStats {
  /** Whether both sides were matched whole in one call (see `inMemory`); else by units. */
  inMemory: boolean;
  units: number;
  threads: number;
  /** Left rows that took part (the left view's rows). */
  leftRows: number;
  /** Left rows with at least one match within the radius. */
  leftMatched: number;
  rightRowsRead: number;
  /** Whether each side read the positions sidecar (false: partition files, slower). */
  leftSidecar: boolean;
  rightSidecar: boolean;
}

export interface CrossMatchResult {
  catalog: MatchCatalog;
  dataset: MatchedDataset;
  stats: CrossMatchStats;
}

/** Bytes a thread holds per left or right row it matches (positions, ids, sort and zone keys). */
const BYTES_PER_MATCH_ROW = 150;
/**
 * Bytes per row of both sides in a whole-side match (both sides' positions and the ids read for
 * the catalog, the right side's sorted copy, the kernel's work memory): peak RSS growth measured
 * 50 bytes a row at 1e7 x 1e7 and 69 at 3e6 x 3e6 (BENCHMARKS.md, xmatch).
 */
const WHOLE_BYTES_PER_ROW = 64;
const MIN_UNIT_ROWS = 250_000;
const MAX_UNIT_ROWS = 2_500_000;
const UNITS_PER_THREAD = 3;
const DEFAULT_SLICE_ROWS = 4_000_000;

function positiveInt(v: number | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(Number.isInteger(v) && v >= 1))
    throw new UsageError(`${name} must be an integer >= 1, got ${v}`);
  return v;
}

/**
 * Cross-matches two datasets out of core (see the file comment). Either side may be a
 * filtered or shuffled view of one parent dataset (only its rows take part); the catalog
 * follows the left's storage order.
 */
export async function crossMatch(
  left: Dataset,
  right: Dataset,
  options: CrossMatchOptions,
): Promise<CrossMatchResult> {
  const radiusArcsec = options.radiusArcsec;
  if (!(radiusArcsec > 0 && radiusArcsec <= 180 * 3600)) {
    throw new UsageError(`radiusArcsec must be in (0, 648000], got ${radiusArcsec}`);
  }
  const minRadiusArcsec = options.minRadiusArcsec ?? 0;
  if (
    !(Number.isFinite(minRadiusArcsec) && minRadiusArcsec >= 0 && minRadiusArcsec < radiusArcsec)
  ) {
    throw new UsageError(
      `minRadiusArcsec must be finite, >= 0 and less than radiusArcsec: got minRadiusArcsec ${minRadiusArcsec} with radiusArcsec ${radiusArcsec}`,
    );
  }
  const mode = options.mode ?? "nearest";
  if (mode !== "nearest" && mode !== "all") throw new UsageError(`unknown mode "${mode}"`);
  const how = options.how ?? "inner";
  if (how !== "inner" && how !== "left") throw new UsageError(`unknown how "${how}"`);
  const k = positiveInt(options.nNeighbors, "nNeighbors", 1);
  positiveInt(options.unitRows, "unitRows", 1);
  const sliceRows = positiveInt(options.rightSliceRows, "rightSliceRows", DEFAULT_SLICE_ROWS);
  const memoryBytes = options.memoryBytes;
  if (
    memoryBytes !== undefined &&
    !(Number.isSafeInteger(memoryBytes) && memoryBytes >= MIN_MEMORY_BYTES)
  ) {
    throw new UsageError(
      `memoryBytes must be an integer of at least ${MIN_MEMORY_BYTES} (16 MiB), got ${memoryBytes}`,
    );
  }
  if (
    options.threads !== undefined &&
    !(Number.isInteger(options.threads) && options.threads >= 0)
  ) {
    throw new UsageError(`threads must be an integer >= 0, got ${options.threads}`);
  }
  // The sidecars opened to check the row counts are read by a whole-side match (else closed).
  const keepSidecar = options.inMemory !== false;
  const {
    table: L,
    source: leftSource,
    sidecar: leftSidecar,
  } = await sideTable(left, "left", { keepSidecar, keyRanges: false });
  let R: SideTable;
  let rightSource: Source;
  let rightSidecar: PositionsFile | null;
  try {
    ({
      table: R,
      source: rightSource,
      sidecar: rightSidecar,
    } = await sideTable(right, "right", { keepSidecar, keyRanges: false }));
  } catch (err) {
    leftSidecar?.close();
    throw err;
  }
  const total = L.selection ? L.selection.length : L.starts[L.starts.length - 1]!;
  const spec: MatchSpec = {
    radiusDeg: radiusArcsec / 3600,
    minRadiusDeg: minRadiusArcsec / 3600,
    mode,
    k,
    how,
    sliceRows,
  };
  const progress: CrossMatchProgress = {
    unitsDone: 0,
    unitsTotal: 0,
    leftRows: 0,
    rows: 0,
    rightRowsRead: 0,
  };
  const results: UnitResult[] = [];
  const onResult = (r: UnitResult) => {
    results[r.index] = r;
    progress.unitsDone++;
    progress.leftRows += r.leftRows;
    progress.rows += r.leftRow.length;
    progress.rightRowsRead += r.rightRowsRead;
    options.onProgress?.({ ...progress });
  };
  // Both sides whole when they fit: rows read (all of each side's rows, views included).
  const wholeRows = L.starts[L.starts.length - 1]! + R.starts[R.starts.length - 1]!;
  const asksForUnits =
    (options.threads ?? 0) > 0 ||
    options.unitRows !== undefined ||
    options.rightSliceRows !== undefined;
  const inMemory =
    options.inMemory ??
    (!asksForUnits && wholeRows * WHOLE_BYTES_PER_ROW <= (memoryBytes ?? DEFAULT_MEMORY_BYTES));
  let unitCount: number;
  let threads: number;
  if (inMemory) {
    unitCount = 1;
    threads = 0;
    progress.unitsTotal = 1;
    await matchWhole(L, R, { ...spec, sliceRows: Number.POSITIVE_INFINITY }, onResult, [
      leftSidecar,
      rightSidecar,
    ]);
  } else {
    leftSidecar?.close();
    rightSidecar?.close();
    addKeyRanges(L);
    addKeyRanges(R);
    threads =
      options.threads ??
      (Math.ceil(total / (options.unitRows ?? MIN_UNIT_ROWS)) > 1 ? availableParallelism() : 0);
    // Within a budget, each thread's share holds its unit and its right slice, half each.
    const budgetRows =
      memoryBytes === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(1000, Math.floor(memoryBytes / Math.max(1, threads) / 2 / BYTES_PER_MATCH_ROW));
    spec.sliceRows = Math.min(sliceRows, budgetRows);
    // By default three units per thread, within [MIN_UNIT_ROWS, MAX_UNIT_ROWS]: larger units
    // re-read fewer right rows at their borders, smaller ones bound memory per thread and
    // shorten each thread's first unit, run before its code is optimised (measured best).
    const unitRows = Math.min(
      budgetRows,
      options.unitRows ??
        Math.min(
          MAX_UNIT_ROWS,
          Math.max(MIN_UNIT_ROWS, Math.ceil(total / (UNITS_PER_THREAD * Math.max(1, threads)))),
        ),
    );
    // Units of equal size, as many as a multiple of the threads, so no thread idles at the end.
    let count = Math.max(1, Math.ceil(total / unitRows));
    if (threads > 1 && count > 1) count = Math.ceil(count / threads) * threads;
    const units = planUnits(L, Math.ceil(total / count));
    unitCount = units.length;
    progress.unitsTotal = units.length;
    // The right side's keys, sampled once for every thread from its sidecar (see
    // neighbourhood.ts); without one, units read the right files their cover meets whole.
    const prepare = async () => {
      if (!R.positions) return;
      const reader = await SideReader.open(R);
      try {
        R.keySamples = await sampleKeys(R, reader);
      } finally {
        reader.close();
      }
    };
    await runUnits({ units, left: L, right: R, spec, threads, onResult, prepare });
  }
  const catalog = assemble(results, L, R, how);
  return {
    catalog,
    dataset: new MatchedDataset(
      leftSource,
      rightSource,
      catalog,
      radiusArcsec,
      minRadiusArcsec,
      memoryBytes,
    ),
    stats: {
      inMemory,
      units: unitCount,
      threads: Math.min(threads, unitCount),
      leftRows: progress.leftRows,
      leftMatched: countLeftMatched(catalog),
      rightRowsRead: progress.rightRowsRead,
      leftSidecar: L.positions !== null,
      rightSidecar: R.positions !== null,
    },
  };
}

/**
 * Both sides whole in this thread: one unit of every left row against every right row, each
 * side's positions read in one piece, one kernel call (right side sorted, left side looked up in
 * its storage order, which is sky order).
 */
async function matchWhole(
  L: SideTable,
  R: SideTable,
  spec: MatchSpec,
  onResult: (r: UnitResult) => void,
  [leftSidecar, rightSidecar]: Array<PositionsFile | null>,
): Promise<void> {
  let left: SideReader;
  try {
    left = await SideReader.open(L, leftSidecar);
  } catch (err) {
    rightSidecar?.close();
    throw err;
  }
  try {
    const right = await SideReader.open(R, rightSidecar);
    try {
      const unit = {
        index: 0,
        fileStart: 0,
        fileEnd: L.paths.length,
        start: 0,
        end: L.starts[L.paths.length]!,
      };
      onResult(await matchUnit(unit, left, right, null, spec));
    } finally {
      right.close();
    }
  } finally {
    left.close();
  }
}

/** Concatenates the units' rows (in unit order) and adds where each row is stored. */
function assemble(
  results: UnitResult[],
  L: SideTable,
  R: SideTable,
  how: "inner" | "left",
): MatchCatalog {
  let n = 0;
  for (const r of results) n += r.leftRow.length;
  const cat = (pick: (r: UnitResult) => Float64Array) => {
    if (results.length === 1) return pick(results[0]!);
    const out = new Float64Array(n);
    let at = 0;
    for (const r of results) {
      out.set(pick(r), at);
      at += pick(r).length;
    }
    return out;
  };
  const leftIndex = cat((r) => r.leftRow);
  const rightIndex = cat((r) => r.rightRow);
  const matched = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (rightIndex[i]! >= 0) matched[i] = 1;
  const lStarts = L.starts;
  const rStarts = R.starts;
  // Where each row is stored (file, row in it): worked out when first asked for (the CSV asks
  // only with `locations`), a search per right row being a measurable part of a small match.
  let where: {
    leftFile: Int32Array;
    leftRow: Float64Array;
    rightFile: Int32Array;
    rightRow: Float64Array;
  } | null = null;
  const locate = () => {
    if (where) return where;
    const leftFile = new Int32Array(n);
    const leftRow = new Float64Array(n);
    const rightFile = new Int32Array(n);
    const rightRow = new Float64Array(n);
    // Left rows ascend through the catalog: walk the files once.
    let f = 0;
    for (let i = 0; i < n; i++) {
      const g = leftIndex[i]!;
      while (lStarts[f + 1]! <= g) f++;
      leftFile[i] = f;
      leftRow[i] = g - lStarts[f]!;
    }
    for (let i = 0; i < n; i++) {
      const h = rightIndex[i]!;
      if (h < 0) {
        rightFile[i] = -1;
        rightRow[i] = -1;
        continue;
      }
      const rf = fileOfRow(rStarts, h);
      rightFile[i] = rf;
      rightRow[i] = h - rStarts[rf]!;
    }
    where = { leftFile, leftRow, rightFile, rightRow };
    return where;
  };
  const ids = (pick: (r: UnitResult) => ColumnValues, spec: ColumnSpec) =>
    results.length > 0 ? concatValues(results.map(pick)) : allocate(spec, 0);
  const catalog = {
    length: n,
    how,
    left_object_id: ids((r) => r.leftId, L.objectId),
    right_object_id: ids((r) => r.rightId, R.objectId),
    matched,
    sep_arcsec: cat((r) => r.sepArcsec),
    left_ra: cat((r) => r.leftRa),
    left_dec: cat((r) => r.leftDec),
    right_ra: cat((r) => r.rightRa),
    right_dec: cat((r) => r.rightDec),
    left_index: leftIndex,
    right_index: rightIndex,
    left_root: resolve(L.root),
    right_root: resolve(R.root),
    left_files: L.paths,
    right_files: R.paths,
  };
  const lazy = (get: () => Int32Array | Float64Array): PropertyDescriptor => ({
    get,
    enumerable: true,
  });
  return Object.defineProperties(catalog, {
    left_file: lazy(() => locate().leftFile),
    left_row: lazy(() => locate().leftRow),
    right_file: lazy(() => locate().rightFile),
    right_row: lazy(() => locate().rightRow),
  }) as MatchCatalog;
}

/** Prefix of the right dataset's columns in a saved match. */
export const RIGHT_PREFIX = "right.";

/**
 * The matched rows as a lazy dataset: examples are read through the two datasets' take()
 * when asked for, never all at once.
 */
export class MatchedDataset {
  readonly catalog: MatchCatalog;
  readonly radiusArcsec: number;
  /** Pairs closer than this (arcsec) were not matches (0: none excluded). */
  readonly minRadiusArcsec: number;
  /** Memory budget of `saveToDisk` (bytes): crossMatch's `memoryBytes`, default 512 MiB. */
  readonly memoryBytes: number;
  private readonly left: Source;
  private readonly right: Source;
  /** Whole-parent views: catalog indices are parent rows, whatever view was matched. */
  private readonly leftDs: Dataset;
  private readonly rightDs: Dataset;

  /** Made by crossMatch (its `dataset`). @internal */
  constructor(
    left: Source,
    right: Source,
    catalog: MatchCatalog,
    radiusArcsec: number,
    minRadiusArcsec = 0,
    memoryBytes = DEFAULT_MEMORY_BYTES,
  ) {
    this.memoryBytes = memoryBytes;
    this.left = left;
    this.right = right;
    this.leftDs = Dataset.fromSources([left]);
    this.rightDs = Dataset.fromSources([right]);
    this.catalog = catalog;
    this.radiusArcsec = radiusArcsec;
    this.minRadiusArcsec = minRadiusArcsec;
  }

  get length(): number {
    return this.catalog.length;
  }

  async get(i: number): Promise<MatchedExample> {
    return (await this.take([i]))[0]!;
  }

  /** Matched examples at these catalog positions, in this order; `right` null without a match. */
  async take(indices: ArrayLike<number>): Promise<MatchedExample[]> {
    const c = this.catalog;
    const at = Array.from(indices, (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < c.length)) {
        throw new UsageError(`match index ${i} outside [0, ${c.length})`);
      }
      return i;
    });
    const lefts = await this.leftDs.take(at.map((i) => c.left_index[i]!));
    const withRight = at.filter((i) => c.matched[i] === 1);
    const rights = await this.rightDs.take(withRight.map((i) => c.right_index[i]!));
    let r = 0;
    return at.map((i, n) => ({
      left: lefts[n]!,
      right: c.matched[i] === 1 ? rights[r++]! : null,
      sep_arcsec: c.sep_arcsec[i]!,
    }));
  }

  /**
   * Writes the catalog's rows as a new parent dataset: the left's columns (object_id, ra, dec
   * are the left's, so rows are partitioned by the left position), the right's prefixed with
   * "right.", `sep_arcsec` (arcsec) and `matched`. A left row without a match (how "left")
   * has matched = false, sep_arcsec and float right columns NaN, other right columns 0 or "".
   *
   * Streams within `memoryBytes` (default: the match's budget) whatever the output size: rows
   * are read and written in batches of about an eighth of it (by the bytes of a left plus a
   * right row, at most 4096 rows), and the writer sorts within another eighth, spilling to
   * scratch files. One output row larger than that is a MemoryBudgetError.
   */
  async saveToDisk(
    path: string,
    options: { config?: string; name?: string; memoryBytes?: number } & Pick<
      DatasetWriterOptions,
      "lock" | "wait" | "layout"
    > = {},
  ): Promise<Manifest> {
    const L = this.left;
    const R = this.right;
    const skip = new Set(["healpix", "_healpix_29"]);
    const leftNames = L.features.map((f) => f.name).filter((n) => !skip.has(n));
    const rightNames = R.features.map((f) => f.name).filter((n) => !skip.has(n));
    const specs: ColumnSpec[] = leftNames.map((n) => L.spec(n));
    const taken = new Set(leftNames);
    for (const n of rightNames) {
      const spec = { ...R.spec(n), name: RIGHT_PREFIX + n };
      if (taken.has(spec.name)) {
        throw new UsageError(
          `cannot save the match: left column "${spec.name}" clashes with the right's prefixed "${n}"`,
        );
      }
      taken.add(spec.name);
      specs.push(spec);
    }
    for (const extra of ["sep_arcsec", "matched"]) {
      if (taken.has(extra)) {
        throw new UsageError(`cannot save the match: the left dataset has a "${extra}" column`);
      }
    }
    specs.push({ name: "sep_arcsec", dtype: "float64", shape: [], unit: "arcsec" });
    specs.push({
      name: "matched",
      dtype: "bool",
      shape: [],
      description: "false for a left row without a right match (how: left)",
    });
    const budget = new MemoryBudget(options.memoryBytes ?? this.memoryBytes, "--memory");
    // Two of the writer's standard columns (healpix, _healpix_29) come on top of these.
    const rowBytes = specs.reduce((s, c) => s + bytesPerRow(c), 16);
    const batchRows = budget.rowsFor(rowBytes, "the saved match (a left row and a right row)", {
      fraction: 1 / 8,
      maxRows: 4096,
      place: { file: join(L.root, "astropile.json") },
    });
    const pieceBytes = Math.floor(budget.bytes / 32);
    const c = this.catalog;
    async function* batches(): AsyncGenerator<ColumnBatch> {
      for (let s = 0; s < c.length; s += batchRows) {
        const n = Math.min(batchRows, c.length - s);
        const batch: ColumnBatch = emptyRecord();
        for (const name of leftNames) batch[name] = allocate(L.spec(name), n);
        await readInto(L, leftNames, batch, n, (t) => c.left_index[s + t]!, pieceBytes);
        const right: ColumnBatch = emptyRecord();
        for (const name of rightNames) {
          const spec = R.spec(name);
          const full = allocate(spec, n);
          if (spec.dtype === "float32" || spec.dtype === "float64")
            (full as Float64Array).fill(Number.NaN);
          right[name] = full;
        }
        await readInto(
          R,
          rightNames,
          right,
          n,
          (t) => (c.matched[s + t] === 1 ? c.right_index[s + t]! : -1),
          pieceBytes,
        );
        for (const name of rightNames) batch[RIGHT_PREFIX + name] = right[name]!;
        batch.sep_arcsec = c.sep_arcsec.slice(s, s + n);
        batch.matched = c.matched.slice(s, s + n);
        yield batch;
      }
    }
    const lp = L.provenance;
    const rp = R.provenance;
    const min =
      this.minRadiusArcsec > 0
        ? ` (pairs closer than ${this.minRadiusArcsec} arcsec excluded)`
        : "";
    // Loaded here: a match that saves nothing (most CLI runs) does not load the writer.
    const { writeDataset } = await import("../storage/dataset-writer.ts");
    return writeDataset(path, specs, batches(), {
      config: options.config ?? `${L.config}_x_${R.config}`,
      name: options.name,
      lock: options.lock,
      wait: options.wait,
      layout: options.layout,
      memoryBytes: Math.max(1, Math.floor(budget.bytes / 8)),
      provenance: {
        ...lp,
        survey: `${lp.survey}+${rp.survey}`,
        crossmatch: `${this.radiusArcsec} arcsec${min}, right columns prefixed "${RIGHT_PREFIX}"`,
      },
    });
  }
}

/**
 * Reads source rows into `out` (columns allocated for `n` rows): row t of `out` gets dataset row
 * `position(t)` (none when it is negative). Rows are read file by file: all columns at once when
 * they take at most `pieceBytes`, else column by column, so besides `out` little is in memory.
 */
async function readInto(
  src: Source,
  names: string[],
  out: ColumnBatch,
  n: number,
  position: (t: number) => number,
  pieceBytes: number,
): Promise<void> {
  const byFile = new Map<number, { at: number[]; rows: number[] }>();
  for (let t = 0; t < n; t++) {
    const g = position(t);
    if (g < 0) continue;
    const [f, row] = src.locate(g);
    let e = byFile.get(f);
    if (!e) {
      e = { at: [], rows: [] };
      byFile.set(f, e);
    }
    e.at.push(t);
    e.rows.push(row);
  }
  const rowBytes = names.reduce((sum, name) => sum + bytesPerRow(src.spec(name)), 0);
  for (const [f, e] of byFile) {
    // All columns in one read when this file's rows are small next to the batch, else one
    // column at a time.
    const groups = e.rows.length * rowBytes <= pieceBytes ? [names] : names.map((name) => [name]);
    for (const group of groups) {
      const piece = await src.readRows(f, group, e.rows);
      for (const name of group) {
        const per = src.perRow(name);
        const values = piece[name]!;
        const dst = out[name]!;
        e.at.forEach((t, j) => {
          copyRow(values, j * per, dst, t * per, per);
        });
      }
    }
  }
}
