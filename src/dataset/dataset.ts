import { readdir } from "node:fs/promises";
import { join } from "node:path";
// The lazy Dataset API over parent datasets on disk (HuggingFace-datasets-like). Every view
// operation (select, filter, coneSearch, boxSearch, shuffle, trainTestSplit, concatenate) returns
// a new view and reads nothing; rows are read when asked for, only the columns asked for, from
// only the files that can hold an answer.

import {
  allocate,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
  copyRow,
  gatherRows,
  sliceRows,
} from "../core/columns.ts";
import { NotFoundError, SchemaError, UsageError } from "../core/errors.ts";
import { placeAgainst } from "../core/paths.ts";
import { emptyRecord } from "../core/records.ts";
import {
  type PublishOptions,
  type PublishResult,
  publishDataset,
  redactUrl,
  remoteRoot,
} from "../remote/index.ts";
import { openRemoteFile, prefetchWhole, type RemoteOptions } from "../remote/remote-file.ts";
import { angularSeparationDeg, boxKeyRanges, coneKeyRanges } from "../sky/index.ts";
import { type DatasetWriterOptions, writeDataset } from "../storage/dataset-writer.ts";
import { fnv1a64, idKeyOf, lookupIdKey } from "../storage/id-index.ts";
import {
  type Manifest,
  manifestLayout,
  type Provenance,
  readManifest,
} from "../storage/manifest.ts";
import type { Compression } from "../storage/partition-writer.ts";
import { followRemoteLink, isRemoteUrl, remoteUrl } from "../storage/remote-hook.ts";
import { type Example, type RowColumn, toExample } from "./example.ts";
import type { ExportOptions, ExportResult } from "./export-options.ts";
import { type Expr, evaluate, exprColumns, parseExpr, type Scalar } from "./expr.ts";
import { Loader, type LoaderBatch, type LoaderOptions } from "./loader.ts";
import { BlockShuffle, checkSeed } from "./permutation.ts";
import { type ExampleExtension, type Feature, Source } from "./source.ts";

export type Region =
  | { kind: "cone"; ra: number; dec: number; radiusDeg: number }
  | { kind: "box"; raMin: number; raMax: number; decMin: number; decMax: number };

export type RowPredicate = (row: Record<string, Scalar>) => boolean;

/** A batch of rows, column by column (view names), each row of a column of shape `shapes[name]`. */
export interface Batch {
  length: number;
  columns: Record<string, ColumnValues>;
  shapes: Record<string, number[]>;
}

export interface BatchOptions {
  /** Rows per batch (the last may be shorter). Default 256. */
  size?: number;
  /** Columns to read (default: the view's selection). */
  columns?: string[];
  /**
   * A reproducible shuffle. It reads efficiently: blocks of `blockRows` contiguous rows are
   * shuffled, then rows are shuffled within windows of `windowBlocks` blocks (default 16 blocks of
   * up to 1024 rows, fewer for heavy rows so a window holds about 64 MiB).
   * Rows further apart than a window can never be adjacent in a batch; increase `windowBlocks`
   * for more mixing at the cost of memory.
   */
  shuffle?: { seed: number; blockRows?: number; windowBlocks?: number };
}

export interface NearestRowsOptions {
  /**
   * Rows to return, the nearest first (default 100; 0 returns none but still counts them).
   * Memory holds at most this many rows of the asked-for columns, whatever the cone holds.
   */
  limit?: number;
  /** Columns to read for the returned rows (default: the view's selection). */
  columns?: string[];
}

/** The rows of a cone nearest its centre, nearest first, and how many rows the cone holds. */
export interface NearestRows extends Batch {
  /** Great-circle distance (arcsec) of each returned row from the centre, ascending. */
  distArcsec: Float64Array;
  /** Rows of the view within the radius, returned or not. */
  matched: number;
  /** True when the limit left rows out (matched > length). */
  truncated: boolean;
}

interface Split {
  seed: number;
  testSize: number;
  part: "train" | "test";
}

interface ViewState {
  sources: Source[];
  selected: string[] | null;
  exprs: Expr[];
  fns: Array<{ fn: RowPredicate; columns: string[] }>;
  regions: Region[];
  split: Split | null;
  order: { seed: number; blockRows: number; windowBlocks: number } | null;
  /** Global row numbers passing the filters, computed once per set of filters when needed. */
  matches: { rows: Float64Array | null };
}

/** Rows scanned per block when filtering: the filter columns of one block are in memory at once. */
const SCAN_BLOCK_ROWS = 65536;
/** Target bytes of one shuffle window (blocks read and permuted together). */
const SHUFFLE_WINDOW_BYTES = 64 * 2 ** 20;
/** Bytes of asked-for columns read per block: bounds memory whatever the row size. */
const SCAN_BLOCK_BYTES = 32 * 2 ** 20;

export interface OpenOptions {
  /** Config to open; may be omitted when the dataset has one. */
  config?: string;
  /**
   * Remote datasets (`http(s)://` and `s3://` locations): "ranges" (default) reads each file by
   * byte ranges as rows are asked for; "files" fetches every file of the config whole into the
   * range cache at open (checked against the manifest's sha256), for queries that touch most of
   * the data.
   */
  prefetch?: "ranges" | "files";
  /** Remote datasets: transport, credentials and range-cache settings. */
  remote?: RemoteOptions;
}

/**
 * Opens a parent dataset: reads its manifest only. `path` is a local directory, or an
 * `http(s)://` URL or `s3://bucket/prefix` of a dataset directory, read by byte ranges; a
 * Multimodal Universe tree is read through its index (`adoptMmuTree`). A HATS catalog directory
 * is not a dataset: a UsageError says to read it with `openHatsCatalog`.
 */
export async function openDataset(path: string, options: OpenOptions = {}): Promise<Dataset> {
  const root = isRemoteUrl(path) ? remoteRoot(path, options.remote) : path;
  const source = await Source.open(root, options.config);
  if (options.prefetch === "files" && isRemoteUrl(path)) await prefetchFiles(source);
  return Dataset.fromSources([source]);
}

/** Fetches every file of a remote source whole into the range cache, sha256-checked. */
async function prefetchFiles(source: Source): Promise<void> {
  for (const f of source.files) {
    const url = remoteUrl(join(source.root, f.path));
    if (url) await openRemoteFile(url).prefetch(f.sha256 ?? undefined);
  }
}

/**
 * What Dataset.export runs: exportDataset of the interop layer, which registers it when loaded
 * (the dataset layer may not import it).
 * @internal
 */
export type DatasetExport = (dataset: Dataset, options: ExportOptions) => Promise<ExportResult>;

let datasetExport: DatasetExport | null = null;

/** @internal Registers what Dataset.export runs (src/interop/export.ts does: exportDataset). */
export function registerDatasetExport(run: DatasetExport): void {
  datasetExport = run;
}

/** Rows of several datasets one after the other; their columns must agree in name, dtype and shape. */
export function concatenate(datasets: Dataset[]): Dataset {
  if (datasets.length === 0) throw new UsageError("concatenate needs at least one dataset");
  return Dataset.concat(datasets);
}

export class Dataset {
  private readonly s: ViewState;
  private readonly sourceStarts: Float64Array;

  private constructor(state: ViewState) {
    this.s = state;
    this.sourceStarts = new Float64Array(state.sources.length + 1);
    state.sources.forEach((src, i) => {
      this.sourceStarts[i + 1] = this.sourceStarts[i] + src.rows;
    });
  }

  /** A view of whole sources: no filter, region, split or order. */
  private static unfiltered(sources: Source[], selected: ViewState["selected"]): Dataset {
    return new Dataset({
      sources,
      selected,
      exprs: [],
      fns: [],
      regions: [],
      split: null,
      order: null,
      matches: { rows: null },
    });
  }

  /** A view of whole parent datasets (openDataset, the cross-match's sides). @internal */
  static fromSources(sources: Source[]): Dataset {
    return Dataset.unfiltered(sources, null);
  }

  static concat(datasets: Dataset[]): Dataset {
    for (const d of datasets) {
      if (d.filtered || d.s.order)
        throw new UsageError("concatenate datasets before filtering or shuffling them");
    }
    const names = datasets[0].columns;
    for (const [i, d] of datasets.entries()) {
      const problems: string[] = [];
      const theirs = d.columns;
      for (const n of names) if (!theirs.includes(n)) problems.push(`lacks "${n}"`);
      for (const n of theirs) if (!names.includes(n)) problems.push(`has extra "${n}"`);
      for (const n of names.filter((x) => theirs.includes(x))) {
        const a = datasets[0].s.sources[0].feature(n);
        for (const src of d.s.sources) {
          const b = src.feature(n);
          if (a.dtype !== b.dtype || a.shape.join("x") !== b.shape.join("x")) {
            problems.push(
              `"${n}" is ${b.dtype}[${b.shape.join(", ")}], not ${a.dtype}[${a.shape.join(", ")}]`,
            );
          } else if ((a.unit ?? "") !== (b.unit ?? "")) {
            // Values in another unit under one column would be mislabelled (mag rows and Jy rows).
            problems.push(
              `"${n}" is in ${b.unit ? `"${b.unit}"` : "no unit"}, not ${a.unit ? `"${a.unit}"` : "no unit"}`,
            );
          }
        }
      }
      if (problems.length > 0) {
        throw new SchemaError(
          `cannot concatenate: dataset ${i} ${problems.join("; ")} (select common columns first)`,
        );
      }
    }
    return Dataset.unfiltered(
      datasets.flatMap((d) => d.s.sources),
      names,
    );
  }

  private with(change: Partial<ViewState>): Dataset {
    const filtersChanged = ["exprs", "fns", "regions", "split", "sources"].some((k) => k in change);
    return new Dataset({
      ...this.s,
      ...change,
      matches: filtersChanged ? { rows: null } : this.s.matches,
    });
  }

  // ---- inspect ---------------------------------------------------------------------------

  /** Directory of the (first) parent dataset. */
  get root(): string {
    return this.s.sources[0].root;
  }

  /** Directories of every parent dataset (one, unless datasets were concatenated). */
  get roots(): string[] {
    return [...new Set(this.s.sources.map((s) => s.root))];
  }

  /** Configs of the (first) parent dataset. */
  get configs(): string[] {
    return this.s.sources[0].configs;
  }

  get config(): string {
    return this.s.sources[0].config;
  }

  get provenance(): Provenance {
    return this.s.sources[0].provenance;
  }

  /** The manifest of the (first) parent dataset. */
  get manifest(): Manifest {
    return this.s.sources[0].manifest;
  }

  /** Column names of this view (standard names where an alias maps them). */
  get columns(): string[] {
    return this.s.selected ?? this.s.sources[0].features.map((f) => f.name);
  }

  /** The schema: per column dtype, shape, unit, standard name and modality. No row is read. */
  get features(): Feature[] {
    const src = this.s.sources[0];
    return this.columns.map((n) => src.feature(n));
  }

  get modality(): string {
    return this.s.sources[0].modality;
  }

  /** True when filters or a region make the row count unknown until counted. */
  get filtered(): boolean {
    return (
      this.s.exprs.length > 0 ||
      this.s.fns.length > 0 ||
      this.s.regions.length > 0 ||
      this.s.split !== null
    );
  }

  /**
   * The parent dataset behind this view and the rows the view selects (ascending dataset
   * rows; null when it selects every row), for code that plans its own reads, such as the
   * cross-match. A shuffle changes no row's membership, so it is not part of this. A
   * concatenation has no single parent: `source` is null.
   */
  async parentRows(): Promise<{ source: Source | null; selection: Float64Array | null }> {
    if (this.s.sources.length !== 1) return { source: null, selection: null };
    return { source: this.s.sources[0], selection: this.filtered ? await this.matchRows() : null };
  }

  /** Number of rows. For a filtered view, call `await count()` (or `materialize()`) first. */
  get length(): number {
    if (!this.filtered) return this.sourceStarts[this.s.sources.length];
    if (this.s.matches.rows) return this.s.matches.rows.length;
    throw new UsageError(
      "the length of a filtered view is unknown until counted: use `await view.count()` first",
    );
  }

  /** Counts the rows of the view (scans the filter columns of the candidate files). */
  async count(): Promise<number> {
    return (await this.matchRows()).length;
  }

  // ---- views -----------------------------------------------------------------------------

  /** Keeps only these columns (names, standard names, or groups: "image", "spectrum", "ifu"). */
  select(columns: string[]): Dataset {
    const resolved = this.s.sources[0].resolve(columns);
    for (const src of this.s.sources.slice(1)) src.resolve(resolved);
    return this.with({ selected: resolved });
  }

  /**
   * Keeps the rows passing an expression over scalar columns (object or string form, evaluated
   * per file on only the columns it names), or a function of the row's scalar columns
   * (`columns` says which to read; default all scalar columns).
   */
  filter(predicate: Expr | string | RowPredicate, options: { columns?: string[] } = {}): Dataset {
    if (typeof predicate === "function") {
      const src = this.s.sources[0];
      const columns =
        options.columns ?? src.features.filter((f) => f.shape.length === 0).map((f) => f.name);
      for (const c of columns) this.checkScalar(c);
      return this.with({ fns: [...this.s.fns, { fn: predicate, columns }] });
    }
    const expr = typeof predicate === "string" ? parseExpr(predicate) : predicate;
    for (const c of exprColumns(expr)) this.checkScalar(c);
    return this.with({ exprs: [...this.s.exprs, expr] });
  }

  private checkScalar(column: string): void {
    for (const src of this.s.sources) {
      const f = src.feature(column);
      if (f.shape.length !== 0) {
        throw new SchemaError(
          `cannot filter on an array column (shape per row [${f.shape.join(", ")}]); filter on scalar columns`,
          { column },
        );
      }
    }
  }

  /** Rows within `radiusArcsec` of (ra, dec) (degrees, ICRS), exact great-circle distance. */
  coneSearch(raDeg: number, decDeg: number, radiusArcsec: number): Dataset {
    if (!(Number.isFinite(raDeg) && Number.isFinite(decDeg) && decDeg >= -90 && decDeg <= 90)) {
      throw new UsageError(`cone centre ra=${raDeg} dec=${decDeg} is not a sky position (degrees)`);
    }
    if (!(radiusArcsec > 0 && radiusArcsec <= 180 * 3600))
      throw new UsageError(`cone radius ${radiusArcsec} arcsec must be in (0, 648000]`);
    return this.with({
      regions: [
        ...this.s.regions,
        { kind: "cone", ra: raDeg, dec: decDeg, radiusDeg: radiusArcsec / 3600 },
      ],
    });
  }

  /**
   * The `limit` rows of this view nearest to (ra, dec) within `radiusArcsec` (degrees, ICRS;
   * exact great-circle distance), nearest first; equal distances keep storage order. Reads the
   * positions of the cone's candidate files, then the asked-for columns of the returned rows
   * only. `matched` counts every row within the radius.
   */
  async nearest(
    raDeg: number,
    decDeg: number,
    radiusArcsec: number,
    options: NearestRowsOptions = {},
  ): Promise<NearestRows> {
    const limit = options.limit ?? 100;
    if (!(limit >= 0 && (Number.isInteger(limit) || limit === Number.POSITIVE_INFINITY)))
      throw new UsageError(`limit ${limit} must be an integer >= 0`);
    const names = options.columns ? this.s.sources[0].resolve(options.columns) : this.columns;
    const cone = this.coneSearch(raDeg, decDeg, radiusArcsec);
    const kept = new NearestHeap(limit);
    let matched = 0;
    for await (const piece of cone.scan(["ra", "dec"])) {
      const base =
        cone.sourceStarts[piece.source] + cone.s.sources[piece.source].starts[piece.file];
      const ra = piece.data.ra as Float64Array;
      const dec = piece.data.dec as Float64Array;
      for (let i = 0; i < piece.rows.length; i++) {
        matched++;
        kept.offer(angularSeparationDeg(raDeg, decDeg, ra[i], dec[i]) * 3600, base + piece.rows[i]);
      }
    }
    const { dist, rows } = kept.sorted();
    const shapes = Object.fromEntries(names.map((n) => [n, this.s.sources[0].feature(n).shape]));
    return {
      length: rows.length,
      columns: await cone.readGlobal(rows, names),
      shapes,
      distArcsec: dist,
      matched,
      truncated: matched > rows.length,
    };
  }

  /** Rows with dec in [decMin, decMax] and ra from raMin eastward to raMax (raMin > raMax crosses 0/360). Degrees. */
  boxSearch(raMin: number, raMax: number, decMin: number, decMax: number): Dataset {
    if (
      ![raMin, raMax, decMin, decMax].every(Number.isFinite) ||
      decMin > decMax ||
      decMin < -90 ||
      decMax > 90
    ) {
      throw new UsageError(
        `box ra ${raMin}..${raMax} dec ${decMin}..${decMax} is not a valid sky box (degrees)`,
      );
    }
    return this.with({
      regions: [...this.s.regions, { kind: "box", raMin, raMax, decMin, decMax }],
    });
  }

  /** A reproducible shuffled view (see BatchOptions.shuffle for how it reads efficiently). */
  shuffle(seed: number, options: { blockRows?: number; windowBlocks?: number } = {}): Dataset {
    checkSeed(seed, "shuffle");
    return this.with({
      order: {
        seed,
        blockRows: options.blockRows ?? this.defaultBlockRows(),
        windowBlocks: options.windowBlocks ?? 16,
      },
    });
  }

  /**
   * Splits by a hash of each object's id and the seed: the same object always lands in the same
   * split whatever the layout, order or other rows. `testSize` is the expected fraction in test.
   */
  trainTestSplit(options: { testSize: number; seed?: number }): { train: Dataset; test: Dataset } {
    const { testSize, seed = 0 } = options;
    checkSeed(seed, "trainTestSplit");
    if (!(testSize > 0 && testSize < 1))
      throw new UsageError(`testSize ${testSize} must be a fraction in (0, 1)`);
    if (this.s.split) throw new UsageError("this view is already a split");
    return {
      train: this.with({ split: { seed, testSize, part: "train" } }),
      test: this.with({ split: { seed, testSize, part: "test" } }),
    };
  }

  // ---- rows ------------------------------------------------------------------------------

  /**
   * The example at position i of the view. On a dataset opened on an adopted Multimodal Universe
   * MaNGA tree, an unselected view's examples are IFU examples (see {@link Dataset.take}).
   */
  async get(i: number): Promise<Example> {
    return (await this.take([i]))[0];
  }

  /**
   * Examples at these positions, in this order (rows are read file by file, coalesced).
   *
   * On a dataset opened on an adopted Multimodal Universe MaNGA tree (`adoptMmuTree`), whose rows
   * are a catalog of the tree's objects, each example of a view without `select` (the whole
   * dataset, a cone, a filter, a shuffle) is the object's IFU example as `MmuIfuFile` reads it
   * from the tree (`spaxels`, `images`, `maps`, `extra`) merged with its catalog row (object_id,
   * ra, dec, healpix, z, spaxel_size, mmu_file, mmu_object; the dataset's provenance). A view
   * with `select` reads exactly the columns named, so `select([...]).take()` stays a catalog
   * read.
   */
  async take(indices: ArrayLike<number>): Promise<Example[]> {
    // No await for a view without filters (a get(i) on a whole dataset).
    const n = this.filtered
      ? await this.sizeForIndexing()
      : this.sourceStarts[this.s.sources.length];
    const rows = Array.from(indices, (i) => {
      if (!Number.isInteger(i))
        throw new UsageError(
          `index ${JSON.stringify(i) ?? String(i)} is not an integer row number`,
        );
      if (!(i >= 0 && i < n)) throw new UsageError(`index ${i} outside [0, ${n})`);
      return this.globalRowAt(i);
    });
    return this.examplesFor(rows, this.columns);
  }

  /**
   * The example whose object_id equals `id` (compared by value). Uses the id index, no scan.
   * Where several rows have the id (the manifest's `idIndex.repeatedIds` counts such rows, and
   * `astropile build` and `info` warn of them), it gives the first the index lists; a filter on
   * object_id gives them all. An adopted MaNGA tree's unselected view gives the IFU example (see
   * {@link Dataset.take}).
   */
  async getById(id: string | number | bigint): Promise<Example> {
    const names = this.columns;
    for (const [k, src] of this.s.sources.entries()) {
      const idFeature = src.feature("object_id");
      const spec = { name: "object_id", dtype: idFeature.dtype, shape: idFeature.shape };
      let candidates: Array<{ file: number; row: number }>;
      if (src.entry.idIndex) {
        candidates = await lookupIdKey(
          src.root,
          src.entry.idIndex,
          idKeyOf(spec, id),
          await src.idIndexFile(),
          src.fileRows(),
        );
      } else {
        candidates = await this.scanForId(src, id);
      }
      for (const c of candidates) {
        const got = (await src.readRows(c.file, ["object_id"], [c.row])).object_id;
        if (!sameId(got, id)) continue; // a hash collision of string ids
        const global = this.sourceStarts[k] + src.starts[c.file] + c.row;
        if (this.filtered && !(await this.rowPasses(k, c.file, c.row))) continue;
        return (await this.examplesFor([global], names))[0];
      }
    }
    throw new NotFoundError(`no object with object_id ${String(id)} in this view`, {
      file: this.s.sources[0].root,
    });
  }

  private async scanForId(
    src: Source,
    id: string | number | bigint,
  ): Promise<Array<{ file: number; row: number }>> {
    const out: Array<{ file: number; row: number }> = [];
    for (let f = 0; f < src.files.length; f++) {
      for (let start = 0; start < src.files[f].rows; start += SCAN_BLOCK_ROWS) {
        const end = Math.min(src.files[f].rows, start + SCAN_BLOCK_ROWS);
        const ids = (await src.readRange(f, ["object_id"], start, end)).object_id;
        for (let i = 0; i < end - start; i++)
          if (sameId(ids, id, i)) out.push({ file: f, row: start + i });
      }
    }
    return out;
  }

  /**
   * Iterates the view in batches of `size` rows with bounded memory. Batches hold the view's
   * columns only: on an adopted MaNGA tree, its catalog (IFU data through `take`, `get`,
   * `getById`, `examples` or `readMmuIfuExamples`).
   */
  async *batches(options: BatchOptions = {}): AsyncGenerator<Batch> {
    const size = options.size ?? 256;
    if (!(Number.isInteger(size) && size > 0))
      throw new UsageError(`batch size ${size} must be a positive integer`);
    const names = options.columns ? this.s.sources[0].resolve(options.columns) : this.columns;
    if (options.shuffle) checkSeed(options.shuffle.seed, "batches shuffle");
    const order = options.shuffle
      ? {
          seed: options.shuffle.seed,
          blockRows: options.shuffle.blockRows ?? this.defaultBlockRows(),
          windowBlocks: options.shuffle.windowBlocks ?? 16,
        }
      : this.s.order;
    const shapes = Object.fromEntries(names.map((n) => [n, this.s.sources[0].feature(n).shape]));
    const per = Object.fromEntries(names.map((n) => [n, shapes[n].reduce((a, b) => a * b, 1)]));
    // Pieces read so far, not yet handed out; the first piece's rows before `head` are gone.
    // A batch inside one piece is a view of it (no copy); only a batch straddling pieces (at
    // file and block borders) is assembled, copying its own rows - never the whole piece.
    const pending: Array<{ data: Record<string, ColumnValues>; rows: number }> = [];
    let pendingRows = 0;
    let head = 0;
    const takeRows = (take: number): Record<string, ColumnValues> => {
      const first = pending[0];
      if (first.rows - head >= take) {
        const columns = Object.fromEntries(
          names.map((n) => [n, sliceRows(first.data[n], per[n], head, head + take)]),
        );
        head += take;
        if (head === first.rows) {
          pending.shift();
          head = 0;
        }
        return columns;
      }
      const columns = Object.fromEntries(
        names.map((n) => [n, allocate(this.s.sources[0].spec(n), take)]),
      );
      for (let at = 0; at < take; ) {
        const piece = pending[0];
        const k = Math.min(take - at, piece.rows - head);
        for (const n of names)
          copyRow(piece.data[n], head * per[n], columns[n], at * per[n], k * per[n]);
        at += k;
        head += k;
        if (head === piece.rows) {
          pending.shift();
          head = 0;
        }
      }
      return columns;
    };
    const add = (data: Record<string, ColumnValues>, rows: number) => {
      if (rows === 0) return;
      pending.push({ data, rows });
      pendingRows += rows;
    };
    const emit = function* (final: boolean): Generator<Batch> {
      while (pendingRows >= size || (final && pendingRows > 0)) {
        const take = Math.min(size, pendingRows);
        yield { length: take, columns: takeRows(take), shapes };
        pendingRows -= take;
      }
    };
    if (order) {
      const space = await this.sizeForIndexing();
      const shuffle = new BlockShuffle(space, order.seed, order.blockRows, order.windowBlocks);
      for (let w = 0; w < shuffle.windowCount; w++) {
        const positions: number[] = [];
        for (const [a, b] of shuffle.windowBlockRanges(w))
          for (let p = a; p < b; p++) positions.push(p);
        const perm = shuffle.windowPermutation(w);
        const rows = positions.map((_, j) => this.indexToGlobal(positions[perm.at(j)]));
        add(await this.readGlobal(rows, names), rows.length);
        yield* emit(false);
      }
    } else {
      for await (const piece of this.scan(names, size)) {
        add(piece.data, piece.rows.length);
        yield* emit(false);
      }
    }
    yield* emit(true);
  }

  /**
   * A data loader for training: batches of typed arrays with shapes (ready to become tensors),
   * read and decoded on worker threads ahead of the consumer, in an order fixed by a seed and an
   * epoch, resumable from a batch index, with memory bounded by `prefetch` batches.
   *
   * ```ts
   * const loader = ds.loader({ batchSize: 64, columns: ["image_array"], shuffle: { seed: 1 }, epoch });
   * for await (const batch of loader) {
   *   const { data, shape } = batch.columns.image_array; // Float32Array, [64, 5, 64, 64]
   * }
   * ```
   */
  loader<T = LoaderBatch>(options: LoaderOptions<T> = {}): Loader<T> {
    const names = options.columns ? this.s.sources[0].resolve(options.columns) : this.columns;
    return new Loader<T>(
      {
        sources: this.s.sources,
        sourceStarts: this.sourceStarts,
        names,
        length: () => this.sizeForIndexing(),
        rowAt: (p) => this.globalRowAt(p),
      },
      options,
    );
  }

  /**
   * Iterates examples one by one (read in batches underneath). Without `options.columns`, an
   * adopted MaNGA tree's unselected view yields IFU examples as {@link Dataset.take} does, each
   * object's IFU data read when it is yielded (one object's in memory at a time).
   */
  async *examples(options: BatchOptions = {}): AsyncGenerator<Example> {
    const src = this.s.sources[0];
    const extension = options.columns ? null : this.extension();
    for await (const batch of this.batches(options)) {
      const cols: Record<string, RowColumn> = emptyRecord();
      for (const [n, values] of Object.entries(batch.columns)) {
        const f = src.feature(n);
        cols[n] = { values, shape: f.shape, dtype: f.dtype, unit: f.unit };
      }
      for (let i = 0; i < batch.length; i++) {
        const ex = toExample(src.modality, src.provenance, cols, i);
        yield extension ? (await extension.extend([ex]))[0] : ex;
      }
    }
  }

  /**
   * What completes this view's examples beyond its rows (an adopted MaNGA tree's IFU data; see
   * ExampleExtender), or null: only for whole rows (no `select`) of one parent dataset.
   */
  private extension(): ExampleExtension | null {
    return this.s.selected === null && this.s.sources.length === 1
      ? this.s.sources[0].exampleExtension
      : null;
  }

  /** Computes (and keeps) the filtered rows, so `length`, `get` and shuffles work on them. */
  async materialize(): Promise<Dataset> {
    await this.matchRows();
    return this;
  }

  /**
   * Where saveToDisk may write: not inside a dataset it reads, nor around one (the new files
   * would mix with, or replace, the ones being read), nor over the config it reads in that
   * dataset; another config of the same dataset is fine. And not into a folder of other files.
   */
  private async checkSaveTarget(path: string, config: string): Promise<void> {
    for (const src of this.s.sources) {
      if (remoteUrl(src.root) !== null) continue;
      const place = await placeAgainst(path, src.root);
      if (place === null || (place === "same" && config !== src.config)) continue;
      throw new UsageError(
        place === "same"
          ? `cannot save to ${path} as config "${config}": that is the config being read; give another config name or another directory`
          : `cannot save to ${path}: it ${place === "holds" ? "holds" : "is inside"} the dataset being read (${src.root}); save elsewhere`,
        { file: path },
      );
    }
    const entries = await readdir(path).catch(() => null);
    if (entries && entries.length > 0 && !entries.includes("astropile.json"))
      throw new UsageError(
        `cannot save to ${path}: it is a folder of other files, not a dataset; give an empty or new directory`,
        { file: path },
      );
  }

  /**
   * Writes this view as a new parent dataset (standard names kept, healpix and _healpix_29
   * recomputed, object_id/ra/dec always included), in the layout of the dataset it comes from
   * unless `layout` says otherwise (see DatasetWriterOptions). Holds `path`'s writer lock while
   * writing (`lock`, `wait`: see DatasetWriterOptions).
   */
  async saveToDisk(
    path: string,
    options: {
      config?: string;
      compression?: Compression;
      maxRowsPerFile?: number;
      memoryBytes?: number;
      name?: string;
    } & Pick<DatasetWriterOptions, "lock" | "wait" | "layout" | "maxBytesPerFile"> = {},
  ): Promise<Manifest> {
    await this.checkSaveTarget(path, options.config ?? this.config);
    const names = [...new Set(["object_id", "ra", "dec", ...this.columns])].filter(
      (n) => n !== "healpix" && n !== "_healpix_29",
    );
    const specs: ColumnSpec[] = names.map((n) => this.s.sources[0].spec(n));
    const surveys = [...new Set(this.s.sources.map((s) => s.provenance.survey))];
    const provenance =
      surveys.length === 1 ? this.provenance : { ...this.provenance, survey: surveys.join("+") };
    const self = this;
    async function* rows(): AsyncGenerator<ColumnBatch> {
      for await (const b of self.batches({ size: 4096, columns: names })) yield b.columns;
    }
    return writeDataset(path, specs, rows(), {
      config: options.config ?? this.config,
      provenance,
      name: options.name,
      compression: options.compression,
      maxRowsPerFile: options.maxRowsPerFile,
      maxBytesPerFile: options.maxBytesPerFile,
      // A new dataset keeps the source's layout; a config added to an existing one takes its.
      layout:
        options.layout ??
        ((await readManifest(path).catch(() => null))
          ? undefined
          : manifestLayout(this.s.sources[0].manifest)),
      memoryBytes: options.memoryBytes,
      lock: options.lock,
      wait: options.wait,
      standardNames: Object.fromEntries(
        this.features.filter((f) => f.standardName).map((f) => [f.name, f.name]),
      ),
    });
  }

  /**
   * Writes this view to a file (or a directory) other tools open as it is: FITS, ECSV, CSV,
   * Parquet, a HuggingFace directory, a HATS catalog, or a format added with
   * `registerExporter`. The same export as `exportDataset(view, options)`, with its options and
   * result (see {@link ExportOptions}): `to` (the format), `out`, and `columns`, `filter`,
   * `cone`, `box` narrowing this view further; `force`, `onProgress`...
   *
   * ```ts
   * const r = await hsc.coneSearch(150.1, 2.2, 60).export({ to: "fits", out: "near.fits" });
   * r.rows; r.bytes; r.columns; r.skipped;
   * ```
   *
   * @throws UsageError when the export implementation (the interop layer) is not loaded: it is
   *   whenever the package is imported as `astropile`; only code importing the dataset layer's
   *   modules alone can meet this.
   */
  async export(options: ExportOptions): Promise<ExportResult> {
    if (!datasetExport)
      throw new UsageError(
        'Dataset.export needs the export formats of the interop layer, which is not loaded: import from "astropile" (or call exportDataset from src/interop/export.ts)',
      );
    return datasetExport(this, options);
  }

  /**
   * Publishes this dataset to `dest`, an S3 prefix (`s3://bucket/prefix`) or an AstroPile data
   * service (`http(s)://host:port/api/v1/datasets/NAME`), as `astropile publish DIR DEST` does
   * (see {@link publishDataset}): the whole dataset directory (every config, the dataset card,
   * the manifest last), each file verified, files already there with the same sha256 skipped (a
   * publish that failed resumes). Returns the plan as carried out.
   *
   * Only a whole local dataset opened from its directory (`openDataset(dir)`, any config) can be
   * published: its directory is what goes up. A remote dataset, a concatenation or a view
   * (selected columns, a filter, a cone or box search, a split, a shuffle) is a UsageError:
   * write a view or a concatenation with {@link Dataset.saveToDisk} first, then publish that.
   */
  async publish(dest: string, options: PublishOptions = {}): Promise<PublishResult> {
    const refusal = this.notPublishable();
    if (refusal)
      throw new UsageError(
        `cannot publish ${refusal}: only a whole local dataset opened from its directory (openDataset(dir)) is published; saveToDisk(dir) this one first, then publish the new dataset`,
      );
    return publishDataset(this.root, dest, options);
  }

  /** Why this is not a whole local dataset opened from one directory, or null. */
  private notPublishable(): string | null {
    const s = this.s;
    if (s.sources.length !== 1) return `a concatenation of ${s.sources.length} datasets`;
    const url = remoteUrl(this.root);
    if (url !== null) return `a remote dataset (${redactUrl(url)}), which is already published`;
    const view: string[] = [];
    if (s.selected !== null) view.push("selected columns");
    if (s.exprs.length > 0 || s.fns.length > 0) view.push("a filter");
    if (s.regions.length > 0) view.push(`a ${s.regions.map((r) => r.kind).join(" and ")} search`);
    if (s.split !== null) view.push(`the ${s.split.part} part of a split`);
    if (s.order !== null) view.push("a shuffle");
    return view.length > 0 ? `a view (${view.join(", ")})` : null;
  }

  /** Closes the open partition files (views share them; reopened on demand). */
  close(): void {
    for (const s of this.s.sources) s.close();
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * Shuffle block size from the view's row size: a window (16 blocks) holds about 64 MiB, at
   * most 1024 rows a block. Derived from the view's columns, not a batch's, so one view has
   * one order.
   */
  private defaultBlockRows(): number {
    const src = this.s.sources[0];
    const rowBytes = this.columns.reduce((sum, n) => sum + bytesPerRow(src.spec(n)), 0);
    return Math.max(
      16,
      Math.min(1024, Math.floor(SHUFFLE_WINDOW_BYTES / 16 / Math.max(1, rowBytes))),
    );
  }

  private async sizeForIndexing(): Promise<number> {
    return this.filtered
      ? (await this.matchRows()).length
      : this.sourceStarts[this.s.sources.length];
  }

  private indexToGlobal(p: number): number {
    return this.filtered ? this.s.matches.rows![p] : p;
  }

  private globalRowAt(i: number): number {
    if (this.s.order) {
      const n = this.filtered
        ? this.s.matches.rows!.length
        : this.sourceStarts[this.s.sources.length];
      const shuffle = new BlockShuffle(
        n,
        this.s.order.seed,
        this.s.order.blockRows,
        this.s.order.windowBlocks,
      );
      return this.indexToGlobal(shuffle.at(i));
    }
    return this.indexToGlobal(i);
  }

  private async matchRows(): Promise<Float64Array> {
    if (!this.filtered) {
      return Float64Array.from({ length: this.sourceStarts[this.s.sources.length] }, (_, i) => i);
    }
    if (this.s.matches.rows) return this.s.matches.rows;
    const parts: Float64Array[] = [];
    for await (const piece of this.scan([])) {
      const base =
        this.sourceStarts[piece.source] + this.s.sources[piece.source].starts[piece.file];
      parts.push(Float64Array.from(piece.rows, (r) => base + r));
    }
    const rows = concatValues(parts) as Float64Array;
    this.s.matches.rows = rows.length === 0 ? new Float64Array(0) : rows;
    return this.s.matches.rows;
  }

  /** Reads columns of global rows, returned in the order given. */
  private async readGlobal(rows: number[], names: string[]): Promise<Record<string, ColumnValues>> {
    if (rows.length === 1) {
      // One row (a get): its file's reader returns it in arrays of its own, as below.
      const k = this.sourceOf(rows[0]);
      const src = this.s.sources[k];
      const [f, r] = src.locate(rows[0] - this.sourceStarts[k]);
      return src.readRows(f, names, [r]);
    }
    const groups = new Map<string, { k: number; f: number; at: number[]; fileRows: number[] }>();
    for (const [at, g] of rows.entries()) {
      const k = this.sourceOf(g);
      const src = this.s.sources[k];
      const [f, r] = src.locate(g - this.sourceStarts[k]);
      const key = `${k}:${f}`;
      let group = groups.get(key);
      if (!group) {
        group = { k, f, at: [], fileRows: [] };
        groups.set(key, group);
      }
      group.at.push(at);
      group.fileRows.push(r);
    }
    // Every row in one file (a get, or rows close together): the reader returns them in the
    // asked order in arrays of its own, which are the result (no zeroed copy to fill).
    if (groups.size === 1) {
      const [group] = groups.values();
      return this.s.sources[group.k].readRows(group.f, names, group.fileRows);
    }
    const first = this.s.sources[0];
    const out: Record<string, ColumnValues> = emptyRecord();
    for (const n of names) out[n] = allocate(first.spec(n), rows.length);
    for (const group of groups.values()) {
      const data = await this.s.sources[group.k].readRows(group.f, names, group.fileRows);
      for (const n of names) {
        const per = first.perRow(n);
        group.at.forEach((dst, j) => {
          copyRow(data[n], j * per, out[n], dst * per, per);
        });
      }
    }
    return out;
  }

  private sourceOf(g: number): number {
    let k = 0;
    while (k + 1 < this.s.sources.length && this.sourceStarts[k + 1] <= g) k++;
    return k;
  }

  private async examplesFor(rows: number[], names: string[]): Promise<Example[]> {
    const withId = names.includes("object_id") ? names : ["object_id", ...names];
    const data = await this.readGlobal(rows, withId);
    const first = this.s.sources[0];
    const cols: Record<string, RowColumn> = emptyRecord();
    for (const n of withId) {
      const f = first.feature(n);
      cols[n] = { values: data[n], shape: f.shape, dtype: f.dtype, unit: f.unit };
    }
    const examples = rows.map((g, i) => {
      const src = this.s.sources[this.sourceOf(g)];
      return toExample(src.modality, src.provenance, cols, i);
    });
    // Callers pass the view's own columns (take, getById): whole rows when nothing is selected.
    const extension = this.extension();
    return extension ? extension.extend(examples) : examples;
  }

  /** Does one row pass every filter of the view? */
  private async rowPasses(k: number, f: number, row: number): Promise<boolean> {
    const src = this.s.sources[k];
    const mask = await this.blockMask(src, f, [row], null);
    return mask[0] === 1;
  }

  /** Columns the filters read. */
  private filterColumns(): string[] {
    const cols = new Set<string>();
    for (const e of this.s.exprs) for (const c of exprColumns(e)) cols.add(c);
    for (const fn of this.s.fns) for (const c of fn.columns) cols.add(c);
    if (this.s.regions.length > 0) {
      cols.add("ra");
      cols.add("dec");
    }
    if (this.s.split) cols.add("object_id");
    return [...cols];
  }

  /** 1 where the row passes: for `rows` of file f (explicit rows or, with `range`, [start, end)). */
  private async blockMask(
    src: Source,
    f: number,
    rows: number[] | null,
    range: [number, number] | null,
  ): Promise<Uint8Array> {
    return (await this.filterBlock(src, f, rows, range)).mask;
  }

  /** blockMask's mask, and the filter columns it read for those rows. */
  private async filterBlock(
    src: Source,
    f: number,
    rows: number[] | null,
    range: [number, number] | null,
  ): Promise<{ mask: Uint8Array; data: Record<string, ColumnValues> }> {
    const cols = this.filterColumns();
    const data = range
      ? await src.readRange(f, cols, range[0], range[1])
      : await src.readRows(f, cols, rows!);
    const n = range ? range[1] - range[0] : rows!.length;
    const mask = new Uint8Array(n).fill(1);
    const lookup = (c: string) => data[c];
    for (const e of this.s.exprs) {
      const m = evaluate(e, n, lookup);
      for (let i = 0; i < n; i++) mask[i] &= m[i];
    }
    for (const region of this.s.regions) {
      const ra = data.ra as Float64Array;
      const dec = data.dec as Float64Array;
      for (let i = 0; i < n; i++) if (mask[i] && !inRegion(region, ra[i], dec[i])) mask[i] = 0;
    }
    if (this.s.split) {
      const { seed, testSize, part } = this.s.split;
      const ids = data.object_id;
      for (let i = 0; i < n; i++) {
        if (!mask[i]) continue;
        const inTest = splitFraction(seed, ids, i) < testSize;
        if (inTest !== (part === "test")) mask[i] = 0;
      }
    }
    for (const { fn, columns } of this.s.fns) {
      for (let i = 0; i < n; i++) {
        if (!mask[i]) continue;
        const row: Record<string, Scalar> = emptyRecord();
        for (const c of columns) {
          const v = (data[c] as ArrayLike<Scalar>)[i];
          row[c] = src.feature(c).dtype === "bool" ? v === 1 : v;
        }
        if (!fn(row)) mask[i] = 0;
      }
    }
    return { mask, data };
  }

  /** False when file f's key range meets no key range of some region of the view. */
  private mayMeetRegions(src: Source, f: number): boolean {
    if (this.s.regions.length === 0) return true;
    const bounds = keyBoundsOf(src);
    for (const region of this.s.regions)
      if (touchingRanges(regionKeyRanges(region), bounds.lo[f], bounds.hi[f]).length === 0)
        return false;
    return true;
  }

  /** Row intervals of file f that can hold region rows: from the file's sorted _healpix_29 keys. */
  private async candidateIntervals(src: Source, f: number): Promise<Array<[number, number]>> {
    const entry = src.files[f];
    if (this.s.regions.length === 0) return [[0, entry.rows]];
    let intervals: Array<[number, number]> = [[0, entry.rows]];
    const bounds = keyBoundsOf(src);
    const lo = bounds.lo[f];
    const hi = bounds.hi[f];
    for (const region of this.s.regions) {
      const touching = touchingRanges(regionKeyRanges(region), lo, hi);
      if (touching.length === 0) return [];
      if (touching.some(([a, b]) => a <= lo && b > hi)) continue; // the whole file is inside the cover
      // Rows in no key order (an adopted Multimodal Universe file): every row is a candidate,
      // and blockMask keeps those whose ra/dec lie in the region.
      if (entry.rowOrder === "any") continue;
      const bounds = await keyLowerBounds(src, f, touching.flat());
      const mine: Array<[number, number]> = [];
      for (let i = 0; i < bounds.length; i += 2) mine.push([bounds[i], bounds[i + 1]]);
      intervals = intersect(
        intervals,
        mine.filter(([a, b]) => b > a),
      );
      if (intervals.length === 0) return [];
    }
    // Every row read is tested against the regions (blockMask), so intervals a few rows apart
    // are read as one: one read instead of two costs less than the rows between.
    return mergeCloseIntervals(intervals, INTERVAL_GAP_ROWS);
  }

  /** The rows of the view, file by file, in blocks, with the asked columns read. */
  /**
   * Reads the view's rows file by file in blocks of about SCAN_BLOCK_BYTES. `batchRows`: blocks
   * are a whole number of such batches (at least one), so that batches are views of a block and
   * only those at file borders are assembled by copying.
   */
  private async *scan(
    names: string[],
    batchRows?: number,
  ): AsyncGenerator<{
    source: number;
    file: number;
    rows: Uint32Array;
    data: Record<string, ColumnValues>;
  }> {
    const filtered = this.filtered;
    const rowBytes = names.reduce((sum, n) => sum + bytesPerRow(this.s.sources[0].spec(n)), 0);
    let blockRows = Math.max(
      1,
      Math.min(SCAN_BLOCK_ROWS, Math.floor(SCAN_BLOCK_BYTES / Math.max(1, rowBytes))),
    );
    if (batchRows) blockRows = Math.max(1, Math.floor(blockRows / batchRows)) * batchRows;
    for (const [k, src] of this.s.sources.entries()) {
      for (let f = 0; f < src.files.length; f++) {
        // Most files of a large dataset are far from a region: skipped without an await.
        if (!this.mayMeetRegions(src, f)) continue;
        const intervals = await this.candidateIntervals(src, f);
        await prefetchIfMost(src, f, intervals, names);
        for (const [a, b] of intervals) {
          for (let start = a; start < b; start += blockRows) {
            const end = Math.min(b, start + blockRows);
            let rows: Uint32Array;
            // The filter's columns as read for the mask: the asked columns are taken from them
            // when they are all among them (a cone's ra and dec are not read twice).
            let read: Record<string, ColumnValues> | null = null;
            if (filtered) {
              const { mask, data } = await this.filterBlock(src, f, null, [start, end]);
              if (names.every((n) => data[n] !== undefined)) read = data;
              let count = 0;
              for (let i = 0; i < mask.length; i++) count += mask[i];
              rows = new Uint32Array(count);
              for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) rows[j++] = start + i;
            } else {
              // A plain loop: Uint32Array.from with a map function was 5% of an uncompressed
              // batches() epoch.
              rows = new Uint32Array(end - start);
              for (let i = 0; i < rows.length; i++) rows[i] = start + i;
            }
            if (rows.length === 0) continue;
            const data =
              names.length === 0
                ? {}
                : read
                  ? pickRows(src, read, names, rows, start, end)
                  : rows.length === end - start
                    ? await src.readRange(f, names, start, end)
                    : await src.readRows(f, names, rows);
            yield { source: k, file: f, rows, data };
          }
        }
      }
    }
  }
}

/**
 * Whether a source's files can live on a server: its root is a remote (virtual) path, or it is
 * the local index of a Multimodal Universe tree adopted from a URL (whose data files are links to
 * remote paths). A local dataset's files never are.
 */
function mayBeRemote(src: Source): boolean {
  if (remoteUrl(src.root) !== null) return true;
  const from = src.manifest.provenance.adoptedFrom;
  return typeof from === "string" && isRemoteUrl(from);
}

/**
 * A remote file of which a scan reads most of the bytes (its rows asked for, times the share of
 * a row's bytes in the asked columns) is fetched whole first, in large ranges into the range
 * cache, sha256-checked against the manifest (see prefetchWhole); its reads then hit the cache.
 * Adopted MMU files are not: their manifest sha256 is a digest of path, size and version only.
 */
async function prefetchIfMost(
  src: Source,
  f: number,
  intervals: Array<[number, number]>,
  names: string[],
): Promise<void> {
  const entry = src.files[f];
  // The arithmetic first: a cone over thousands of files asks rows of a few, and looking for a
  // remote link (a readlink per file) cost ~4 ms a cone on a 3072-file dataset.
  let asked = 0;
  for (const [a, b] of intervals) asked += b - a;
  if (asked === 0 || entry.rows === 0 || !mayBeRemote(src)) return;
  const all = src.entry.columns.reduce((sum, c) => sum + bytesPerRow(c), 0);
  const mine = names.reduce((sum, n) => sum + bytesPerRow(src.spec(n)), 0);
  if (all === 0 || (asked / entry.rows) * Math.min(1, mine / all) < 0.5) return;
  const url = remoteUrl(followRemoteLink(join(src.root, entry.path)));
  if (url === null) return;
  const adopted = src.manifest.provenance.adoptedFrom !== undefined;
  await prefetchWhole(url, adopted ? undefined : (entry.sha256 ?? undefined));
}

/**
 * The `limit` smallest (distance, row) pairs seen, in a binary max-heap: the root is the pair
 * to drop first. Ties on distance go to the smaller row (storage order).
 */
class NearestHeap {
  private readonly dist: number[] = [];
  private readonly row: number[] = [];
  constructor(private readonly limit: number) {}

  /** a after b: a is dropped before b. */
  private after(i: number, j: number): boolean {
    const d = this.dist;
    return d[i] > d[j] || (d[i] === d[j] && this.row[i] > this.row[j]);
  }

  private swap(i: number, j: number): void {
    [this.dist[i], this.dist[j]] = [this.dist[j], this.dist[i]];
    [this.row[i], this.row[j]] = [this.row[j], this.row[i]];
  }

  offer(dist: number, row: number): void {
    if (this.limit === 0) return;
    const n = this.dist.length;
    if (n < this.limit) {
      this.dist.push(dist);
      this.row.push(row);
      for (let i = n; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!this.after(i, parent)) break;
        this.swap(i, parent);
        i = parent;
      }
      return;
    }
    if (dist > this.dist[0] || (dist === this.dist[0] && row > this.row[0])) return;
    this.dist[0] = dist;
    this.row[0] = row;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < n && this.after(l, top)) top = l;
      if (r < n && this.after(r, top)) top = r;
      if (top === i) break;
      this.swap(i, top);
      i = top;
    }
  }

  /** The pairs kept, nearest first. */
  sorted(): { dist: Float64Array; rows: number[] } {
    const order = this.dist.map((_, i) => i);
    order.sort((a, b) => this.dist[a] - this.dist[b] || this.row[a] - this.row[b]);
    return {
      dist: Float64Array.from(order, (i) => this.dist[i]),
      rows: order.map((i) => this.row[i]),
    };
  }
}

const keyRangeCache = new WeakMap<Region, Array<[bigint, bigint]>>();

/**
 * Key ranges a region query plans with. Rows are tested exactly after the read, so the cover
 * only has to be tight enough: 32 ranges cover a cone with ~1.3-1.5x its area in ~0.3
 * millisecond, where 1000 ranges (1.01x) cost ~9 ms per query, more than reading the extra rows.
 */
const REGION_MAX_RANGES = 32;

/**
 * Each file's inclusive key range as numbers, parsed once per source: region queries test every
 * file, and parsing two decimal keys per file per query cost ~3 ms a cone over 3072 files.
 */
const keyBoundsCache = new WeakMap<Source, { lo: BigInt64Array; hi: BigInt64Array }>();

function keyBoundsOf(src: Source): { lo: BigInt64Array; hi: BigInt64Array } {
  let bounds = keyBoundsCache.get(src);
  if (!bounds) {
    const lo = new BigInt64Array(src.files.length);
    const hi = new BigInt64Array(src.files.length);
    src.files.forEach((entry, f) => {
      lo[f] = BigInt(entry.keyMin);
      hi[f] = BigInt(entry.keyMax);
    });
    bounds = { lo, hi };
    keyBoundsCache.set(src, bounds);
  }
  return bounds;
}

/**
 * The ranges of a sorted, merged list of half-open key ranges that meet the inclusive key range
 * [lo, hi]: a binary search for the first one ending after lo, then those starting by hi.
 */
function touchingRanges(
  ranges: ReadonlyArray<[bigint, bigint]>,
  lo: bigint,
  hi: bigint,
): Array<[bigint, bigint]> {
  let a = 0;
  let b = ranges.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (ranges[mid][1] > lo) b = mid;
    else a = mid + 1;
  }
  const out: Array<[bigint, bigint]> = [];
  for (let i = a; i < ranges.length && ranges[i][0] <= hi; i++) out.push(ranges[i]);
  return out;
}

/** The order-29 key ranges covering a region, computed once per region. */
function regionKeyRanges(region: Region): Array<[bigint, bigint]> {
  let ranges = keyRangeCache.get(region);
  if (!ranges) {
    ranges =
      region.kind === "cone"
        ? coneKeyRanges(region.ra, region.dec, region.radiusDeg, { maxRanges: REGION_MAX_RANGES })
        : boxKeyRanges(region.raMin, region.raMax, region.decMin, region.decMax, {
            maxRanges: REGION_MAX_RANGES,
          });
    keyRangeCache.set(region, ranges);
  }
  return ranges;
}

export function inRegion(region: Region, ra: number, dec: number): boolean {
  if (region.kind === "cone")
    return angularSeparationDeg(ra, dec, region.ra, region.dec) <= region.radiusDeg;
  if (dec < region.decMin || dec > region.decMax) return false;
  const width = region.raMax - region.raMin;
  if (width >= 360) return true;
  const span = (((region.raMax - region.raMin) % 360) + 360) % 360;
  const offset = (((ra - region.raMin) % 360) + 360) % 360;
  return offset <= span;
}

/** Rows between two kept keys of a file's `_healpix_29` column (see keyFences). */
const KEY_FENCE_ROWS = 1024;

/**
 * Every KEY_FENCE_ROWS-th `_healpix_29` key of each file of a source, read once per open source
 * (in blocks): a region query then reads one block of keys per bound instead of the whole
 * column (1.6 MB for a 200,000-row file, on every query).
 */
const keyFences = new WeakMap<Source, Map<number, BigInt64Array>>();

async function fencesOf(src: Source, f: number): Promise<BigInt64Array> {
  let perFile = keyFences.get(src);
  if (!perFile) {
    perFile = new Map();
    keyFences.set(src, perFile);
  }
  let fences = perFile.get(f);
  if (!fences) {
    const rows = src.files[f].rows;
    fences = new BigInt64Array(Math.ceil(rows / KEY_FENCE_ROWS));
    for (let start = 0; start < rows; start += SCAN_BLOCK_ROWS) {
      const end = Math.min(rows, start + SCAN_BLOCK_ROWS);
      const keys = (await src.readRange(f, ["_healpix_29"], start, end))
        ._healpix_29 as BigInt64Array;
      for (let r = start; r < end; r += KEY_FENCE_ROWS)
        fences[r / KEY_FENCE_ROWS] = keys[r - start];
    }
    perFile.set(f, fences);
  }
  return fences;
}

/**
 * For each key, the first row of file f whose `_healpix_29` is >= it (the file's rows are in key
 * order). Keys that fall between the same two kept keys share one read of the keys between them
 * (a cone's 32 key ranges are mostly close together: their 64 bounds take a few reads, not 64).
 */
async function keyLowerBounds(src: Source, f: number, keys: bigint[]): Promise<number[]> {
  const fences = await fencesOf(src, f);
  const blocks = new Map<number, BigInt64Array>();
  const out: number[] = [];
  for (const key of keys) {
    // The first kept key >= key: the answer is at most its row, and past the kept key before it.
    const next = lowerBound(fences, key);
    if (next === 0) {
      out.push(0);
      continue;
    }
    const start = (next - 1) * KEY_FENCE_ROWS;
    let block = blocks.get(next);
    if (!block) {
      const end = Math.min(src.files[f].rows, next * KEY_FENCE_ROWS);
      block = (await src.readRange(f, ["_healpix_29"], start, end))._healpix_29 as BigInt64Array;
      blocks.set(next, block);
    }
    out.push(start + lowerBound(block, key));
  }
  return out;
}

/** Most rows between two candidate intervals of a file that are still read as one. */
const INTERVAL_GAP_ROWS = 64;

/** Sorted disjoint intervals, those at most `gap` rows apart joined. */
function mergeCloseIntervals(
  intervals: Array<[number, number]>,
  gap: number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a, b] of intervals) {
    const last = out[out.length - 1];
    if (last && a - last[1] <= gap) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * The rows `rows` (file rows, ascending, within [start, end)) of the columns `names`, taken from
 * columns already read for rows [start, end).
 */
function pickRows(
  src: Source,
  data: Record<string, ColumnValues>,
  names: string[],
  rows: Uint32Array,
  start: number,
  end: number,
): Record<string, ColumnValues> {
  const out: Record<string, ColumnValues> = emptyRecord();
  if (rows.length === end - start) {
    for (const n of names) out[n] = data[n];
    return out;
  }
  const at = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) at[i] = rows[i] - start;
  for (const n of names) out[n] = gatherRows(data[n], src.perRow(n), at);
  return out;
}

function lowerBound(keys: BigInt64Array, key: bigint): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function intersect(
  a: Array<[number, number]>,
  b: Array<[number, number]>,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a0, a1] of a) {
    for (const [b0, b1] of b) {
      const lo = Math.max(a0, b0);
      const hi = Math.min(a1, b1);
      if (hi > lo) out.push([lo, hi]);
    }
  }
  out.sort((x, y) => x[0] - y[0]);
  return out;
}

function sameId(values: ColumnValues, id: string | number | bigint, i = 0): boolean {
  const v = values[i];
  if (typeof v === "string") return v === String(id);
  try {
    return BigInt(v as number | bigint) === BigInt(id);
  } catch {
    return false;
  }
}

/** Stable fraction in [0, 1) from an object id and a seed (same id, same seed: same split). */
export function splitFraction(seed: number, ids: ColumnValues, i: number): number {
  // FNV-1a barely changes its high bits when only the last characters differ (consecutive ids),
  // so the hash goes through the splitmix64 finaliser before its top 53 bits are used.
  let z = BigInt.asUintN(64, fnv1a64(`${seed}:${String(ids[i])}`));
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  z ^= z >> 31n;
  return Number(z >> 11n) / 2 ** 53;
}
