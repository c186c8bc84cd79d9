// Writes a whole parent dataset (one config) from row batches arriving in any sky order, with
// memory bounded by `memoryBytes` whatever the dataset size:
//   1. each batch gets `_healpix_29` and goes to an external sort by key (sorted runs spilled
//      to scratch HDF5 files when the buffer passes the budget), and its keys to a histogram of
//      rows per sky cell; `healpix` (order 4) is computed from the sorted keys;
//   2. at finish the partition pixels are chosen from the histogram (partitioning.ts: pixels
//      sized by the data in the adaptive layout, order 4 in the mmu layout), and the merged,
//      key-ordered rows are cut into partition files at each planned piece and at the row/byte
//      caps (only where the key changes, so key ranges are disjoint), while an object_id index
//      (id key → file, row) is sorted the same way, and ra, dec, object_id go to the positions
//      sidecar in that same row order;
//   3. the manifest is written last, atomically, then the dataset card.
import { rename, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import {
  batchRows,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  sliceRows,
  valuesPerRow,
} from "../core/columns.ts";
import { crashPoint } from "../core/crash-point.ts";
import { InternalError, SchemaError, UsageError, WriteError } from "../core/errors.ts";
import type { WriterLock } from "../core/lock.ts";
import { emptyRecord, own } from "../core/records.ts";
import { ang2pix } from "../sky/index.ts";
import { writeCard } from "./card.ts";
import { ExternalSorter } from "./external-sort.ts";
import { ID_INDEX_COLUMNS, idKeyFunction, writeIdIndex } from "./id-index.ts";
import {
  CONTENT_ATTRIBUTE,
  contentDigest,
  fileIdentity,
  fileListIdentity,
  IDENTITY_ATTRIBUTE,
} from "./identity.ts";
import {
  DEFAULT_LAYOUT,
  isSafeConfigName,
  KEY_ORDER,
  LAYOUTS,
  type Layout,
  layoutPath,
  PARTITION_SHIFT,
  pixelDir,
} from "./layout.ts";
import {
  type ColumnEntry,
  emptyManifest,
  type FileEntry,
  type Manifest,
  manifestLayout,
  type Provenance,
  readManifest,
  writeManifest,
} from "./manifest.ts";
import { lockOutput } from "./output-lock.ts";
import { PartitionWriter, type WriterOptions, type WrittenFile } from "./partition-writer.ts";
import {
  choosePartitions,
  DEFAULT_FILE_BYTES,
  DEFAULT_FILE_ROWS,
  DEFERRED_MAX_ROWS,
  DeferredCellHistogram,
  type PartitionPiece,
} from "./partitioning.ts";
import { PositionsWriter } from "./positions.ts";

export interface DatasetWriterOptions
  extends Pick<WriterOptions, "compression" | "gzipLevel" | "chunkBytes"> {
  /** Config (sub-dataset) name, e.g. "pdr3_dud_22.5". */
  config: string;
  provenance: Provenance;
  /** Dataset name in the manifest; default the root directory's name. */
  name?: string;
  /**
   * Directory scheme: "adaptive" (default for a new dataset: partition pixels chosen by the
   * data, see `choosePartitions`) or "mmu" (Multimodal Universe's fixed order-4 `healpix=N`
   * layout, for datasets its loaders must read). A config added to an existing dataset takes the
   * dataset's layout (asking for another is a UsageError).
   */
  layout?: Layout;
  /**
   * Target of one file: at most this many rows (default 1,000,000) and `maxBytesPerFile`
   * uncompressed bytes (default 128 MiB). Partition pixels are chosen to fit it; a file is also
   * cut when it reaches either cap (only where the `_healpix_29` key changes).
   */
  maxRowsPerFile?: number;
  /** Uncompressed bytes per file (rows x bytes of one row); default 128 MiB. */
  maxBytesPerFile?: number;
  /**
   * The pieces to cut the rows into, instead of choosing them from the rows written (the build
   * runner gives each work unit its part of the whole build's plan). Every row must fall in one.
   */
  partitions?: PartitionPiece[];
  /** Bytes of rows held in memory before spilling to sorted runs (also bounds merge blocks). */
  memoryBytes?: number;
  /** Standard names of survey columns (e.g. {"FLUX_G": "flux_g"}), recorded in the manifest. */
  standardNames?: Record<string, string>;
  onProgress?: (progress: WriteProgress) => void;
  /** Rows per block of the object_id index (the manifest keeps each block's first key). */
  idIndexBlockRows?: number;
  /**
   * Compression of the object_id index: "gzip" (default) or "none" (about 5x the bytes, no
   * deflate to write or inflate to read; the build's work units write theirs so, since the
   * build merges them into one gzip index).
   */
  idIndexCompression?: "gzip" | "none";
  /**
   * The writer lock of `root`. Default: the writer takes it (`lockOutput`) before it touches
   * anything in `root` and releases it when it finishes or aborts; another writer of `root`
   * then fails with a LockedError (or waits, with `wait`). A WriterLock the caller holds on
   * `root` is used and left held. `false` takes none: only for a directory inside an output
   * whose lock the caller holds (the build runner's work units).
   */
  lock?: WriterLock | false;
  /** When another writer holds `root`'s lock: wait for it instead of failing at once. */
  wait?: boolean;
}

export interface WriteProgress {
  phase: "ingest" | "merge" | "done";
  rowsIn: number;
  rowsOut: number;
  files: number;
}

/** Columns every file has; the writer computes the last two. */
export const STANDARD_COLUMNS: ColumnSpec[] = [
  {
    name: "healpix",
    dtype: "int64",
    shape: [],
    description: "HEALPix NESTED pixel at order 4 (nside 16)",
  },
  {
    name: "_healpix_29",
    dtype: "int64",
    shape: [],
    description: "HEALPix NESTED pixel at order 29; rows sorted by it",
  },
];

/** Completed pixels whose files may still be closing while the next are written (see closing). */
const CLOSING_PIXELS = 8;

const DEFAULTS = {
  maxRowsPerFile: DEFAULT_FILE_ROWS,
  maxBytesPerFile: DEFAULT_FILE_BYTES,
  memoryBytes: 256 * 2 ** 20,
};

export class DatasetWriter {
  readonly root: string;
  readonly specs: ColumnSpec[];
  private readonly inputSpecs: ColumnSpec[];
  private readonly options: DatasetWriterOptions & typeof DEFAULTS;
  private readonly scratch: string;
  private readonly rows: ExternalSorter;
  /** Rows per sky cell, from which the partition pixels are chosen at finish. */
  private readonly hist: DeferredCellHistogram;
  private readonly layout: Layout;
  private rowsIn = 0;
  private state: "open" | "finished" | "aborted" = "open";
  /** The lock this writer checks before publishing; `ownLock` when it took it itself. */
  private readonly lock: WriterLock | null;
  private readonly ownLock: WriterLock | null;

  private constructor(
    root: string,
    inputSpecs: ColumnSpec[],
    options: DatasetWriterOptions,
    layout: Layout,
    lock: WriterLock | null,
    ownLock: WriterLock | null,
  ) {
    this.root = root;
    this.layout = layout;
    this.lock = lock;
    this.ownLock = ownLock;
    this.inputSpecs = inputSpecs;
    this.specs = [...inputSpecs, ...STANDARD_COLUMNS];
    // Options given as undefined keep their defaults.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...DEFAULTS, ...(given as DatasetWriterOptions) };
    this.scratch = join(
      root,
      `.astropile-scratch-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    // `healpix` follows from the sorted keys: computed after the sort, not carried through it
    // (one column less to gather and to spill).
    this.rows = new ExternalSorter(
      this.specs.filter((s) => s.name !== "healpix"),
      "_healpix_29",
      join(this.scratch, "rows"),
      this.options.memoryBytes,
    );
    // Its kept keys (8 bytes a row) stay within an eighth of the budget.
    this.hist = new DeferredCellHistogram(
      Math.min(DEFERRED_MAX_ROWS, Math.floor(this.options.memoryBytes / 64)),
    );
  }

  /**
   * `columns` are the survey's columns; they must include object_id, ra and dec (float64 degrees,
   * ICRS). `healpix` and `_healpix_29` are computed here (given ones are recomputed).
   */
  static async create(
    root: string,
    columns: ColumnSpec[],
    options: DatasetWriterOptions,
  ): Promise<DatasetWriter> {
    if (!isSafeConfigName(options.config)) {
      throw new UsageError(
        `config name "${options.config}" must be one path segment of letters, digits, . _ + -`,
      );
    }
    for (const [k, v] of Object.entries({
      maxRowsPerFile: options.maxRowsPerFile,
      maxBytesPerFile: options.maxBytesPerFile,
      memoryBytes: options.memoryBytes,
    })) {
      if (v !== undefined && !(Number.isInteger(v) && v > 0))
        throw new UsageError(`${k} must be a positive integer, got ${v}`);
    }
    if ((options.maxRowsPerFile ?? 0) > 2 ** 31)
      throw new UsageError("maxRowsPerFile must be at most 2^31");
    if (options.layout !== undefined && !LAYOUTS.includes(options.layout))
      throw new UsageError(
        `layout must be one of ${LAYOUTS.join(", ")}, got ${JSON.stringify(options.layout)}`,
      );
    const inputSpecs = columns.filter((c) => !STANDARD_COLUMNS.some((s) => s.name === c.name));
    for (const name of ["object_id", "ra", "dec"]) {
      if (!inputSpecs.some((c) => c.name === name))
        throw new SchemaError(`a dataset needs a "${name}" column`, { column: name });
    }
    for (const name of ["ra", "dec"]) {
      const spec = inputSpecs.find((c) => c.name === name)!;
      if (spec.dtype !== "float64" || spec.shape.length !== 0) {
        throw new SchemaError(
          `must be a float64 scalar (degrees), found ${spec.dtype}[${spec.shape.join(", ")}]`,
          { column: name },
        );
      }
    }
    idKeyFunction(inputSpecs.find((c) => c.name === "object_id")!);
    // The lock first: nothing of this writer may appear in root while another one writes there.
    let lock: WriterLock | null = null;
    let ownLock: WriterLock | null = null;
    if (options.lock === undefined) {
      ownLock = await lockOutput(root, {
        wait: options.wait,
        command: `write config "${options.config}"`,
      });
      lock = ownLock;
    } else if (options.lock !== false) {
      lock = options.lock;
      if (lock.dir !== resolve(root))
        throw new UsageError(`the lock given is the lock of ${lock.dir}, not of ${resolve(root)}`);
      lock.assertHeld();
    }
    let layout = options.layout ?? DEFAULT_LAYOUT;
    try {
      const existing = await readManifest(root).catch(() => null);
      if (existing?.configs[options.config]) {
        throw new UsageError(
          `config "${options.config}" already exists in ${root}; write to a new config or a new directory`,
        );
      }
      if (existing) {
        const theirs = manifestLayout(existing);
        if (options.layout !== undefined && options.layout !== theirs)
          throw new UsageError(
            `${root} has the "${theirs}" layout: a config added to it cannot have the "${options.layout}" layout (write to a new directory)`,
          );
        layout = theirs;
      }
    } catch (err) {
      await ownLock?.release();
      throw err;
    }
    return new DatasetWriter(root, inputSpecs, options, layout, lock, ownLock);
  }

  /** Adds a batch of rows in any sky order. */
  write(batch: ColumnBatch): Promise<void> {
    return this.add(batch, null);
  }

  /**
   * @internal For the builder: rows with their `_healpix_29` keys already computed from these
   * same `ra`/`dec` (its scan stored them with the rows), so they are not computed twice.
   */
  writeKeyed(batch: ColumnBatch, keys: BigInt64Array): Promise<void> {
    return this.add(batch, keys);
  }

  private async add(batch: ColumnBatch, given: BigInt64Array | null): Promise<void> {
    if (this.state !== "open") throw new UsageError(`dataset writer is ${this.state}`);
    const n = batchRows(batch, this.inputSpecs);
    if (n === 0) return;
    const ra = batch.ra as Float64Array;
    const dec = batch.dec as Float64Array;
    for (let i = 0; i < n; i++) {
      const raOk = ra[i] >= -360 && ra[i] <= 360;
      if (!(raOk && Number.isFinite(dec[i]) && dec[i] >= -90 && dec[i] <= 90)) {
        throw new SchemaError(
          `invalid position ra=${ra[i]} dec=${dec[i]} (degrees; ra must be in [-360, 360], dec in [-90, 90])`,
          {
            column: raOk ? "dec" : "ra",
            detail: `input row ${this.rowsIn + i}`,
          },
        );
      }
    }
    if (given && given.length !== n)
      throw new UsageError(`${given.length} keys given for a batch of ${n} rows`);
    const keys = given ?? ang2pix(KEY_ORDER, ra, dec);
    const full: ColumnBatch = emptyRecord();
    // batchRows checked that each is the batch's own property.
    for (const spec of this.inputSpecs) full[spec.name] = batch[spec.name];
    full._healpix_29 = keys;
    // Planned pieces given: nothing is chosen from the rows.
    if (!this.options.partitions) this.hist.addKeys(keys);
    await this.rows.add(full, n);
    this.rowsIn += n;
    this.options.onProgress?.({ phase: "ingest", rowsIn: this.rowsIn, rowsOut: 0, files: 0 });
  }

  /**
   * Merges the sorted rows into partition files, the id index and the positions sidecar, then
   * writes the manifest.
   */
  async finish(): Promise<Manifest> {
    return this.finishFiles(true);
  }

  /**
   * @internal For the builder's work units, whose files another step moves into a dataset and
   * lists in its manifest: the files and sidecars as {@link finish} writes them, described by
   * the manifest returned, which is not written (nor the card).
   */
  async finishUnpublished(): Promise<Manifest> {
    return this.finishFiles(false);
  }

  private async finishFiles(publish: boolean): Promise<Manifest> {
    if (this.state !== "open") throw new UsageError(`dataset writer is ${this.state}`);
    const ids = new ExternalSorter(
      ID_INDEX_COLUMNS,
      "id_key",
      join(this.scratch, "ids"),
      this.options.memoryBytes,
    );
    let positions: PositionsWriter | null = null;
    let out: PartitionFiles | null = null;
    try {
      const idSpec = this.specs.find((s) => s.name === "object_id")!;
      const idKey = idKeyFunction(idSpec);
      positions = await PositionsWriter.create(this.root, this.options.config, idSpec, {
        rows: this.rowsIn,
      });
      const rowBytes = this.specs.reduce((sum, s) => sum + bytesPerRow(s), 0);
      const pieces =
        this.options.partitions ??
        choosePartitions(
          // Rows that fit one file need no finer counts than order 4 (see DeferredCellHistogram).
          this.hist.finish(
            (rows) =>
              rows <= this.options.maxRowsPerFile &&
              rows * rowBytes <= this.options.maxBytesPerFile,
          ),
          {
            layout: this.layout,
            rowBytes,
            maxRows: this.options.maxRowsPerFile,
            maxBytes: this.options.maxBytesPerFile,
          },
        );
      out = new PartitionFiles(
        this.root,
        this.options.config,
        this.layout,
        pieces,
        this.specs,
        this.options,
        ids,
        idKey,
      );
      let rowsOut = 0;
      for await (const batch of this.rows.sorted()) {
        const keys = batch._healpix_29 as BigInt64Array;
        const healpix = new BigInt64Array(keys.length);
        for (let i = 0; i < keys.length; i++) healpix[i] = keys[i] >> PARTITION_SHIFT;
        batch.healpix = healpix;
        // Files take every row of a batch in order, and manifest.files lists them in the order
        // they were started, so the sidecar's row order is the config's.
        await out.add(batch);
        positions.append(batch);
        rowsOut += keys.length;
        this.options.onProgress?.({
          phase: "merge",
          rowsIn: this.rowsIn,
          rowsOut,
          files: out.fileCount,
        });
      }
      const files = await out.finish();
      // The sidecars record the file list they describe: readers refuse them for another list.
      const fileList = fileListIdentity(this.options.config, files);
      const positionsEntry = await positions.close(fileList);
      positions = null;
      const idIndex = await writeIdIndex(
        this.root,
        this.options.config,
        ids,
        fileList,
        this.options.idIndexBlockRows,
        this.options.idIndexCompression,
      );
      const manifest =
        (publish ? await readManifest(this.root).catch(() => null) : null) ??
        emptyManifest(
          this.options.name ?? basename(this.root),
          this.options.provenance,
          this.layout,
        );
      if (manifestLayout(manifest) !== this.layout)
        throw new UsageError(
          `${this.root} got the "${manifestLayout(manifest)}" layout while this writer wrote "${this.layout}" files`,
        );
      if (manifest.configs[this.options.config]) {
        throw new UsageError(
          `config "${this.options.config}" appeared in ${this.root} while writing`,
        );
      }
      manifest.configs[this.options.config] = {
        columns: this.specs.map((s) => columnEntry(s, this.options.standardNames)),
        rows: this.rowsIn,
        compression: this.options.compression ?? "gzip",
        idIndex,
        positions: positionsEntry,
      };
      manifest.files.push(...files);
      this.lock?.assertHeld();
      if (publish) {
        await writeManifest(this.root, manifest);
        await writeCard(this.root, manifest);
      }
      this.state = "finished";
      this.options.onProgress?.({
        phase: "done",
        rowsIn: this.rowsIn,
        rowsOut: this.rowsIn,
        files: files.length,
      });
      return manifest;
    } catch (err) {
      this.state = "aborted";
      await out?.settle();
      await positions?.abort();
      throw err;
    } finally {
      await ids.close();
      await this.rows.close();
      await rm(this.scratch, { recursive: true, force: true });
      await this.ownLock?.release();
    }
  }

  /** Drops scratch runs. Partition files already written stay invisible: no manifest lists them. */
  async abort(): Promise<void> {
    if (this.state === "open") this.state = "aborted";
    await this.rows.close();
    await rm(this.scratch, { recursive: true, force: true });
    await this.ownLock?.release();
  }
}

function columnEntry(spec: ColumnSpec, standardNames: Record<string, string> = {}): ColumnEntry {
  const entry: ColumnEntry = { name: spec.name, dtype: spec.dtype, shape: spec.shape };
  if (spec.stringLength !== undefined) entry.stringLength = spec.stringLength;
  if (spec.unit) entry.unit = spec.unit;
  if (spec.description) entry.description = spec.description;
  const std = own(standardNames, spec.name);
  if (std) entry.standardName = std;
  return entry;
}

/**
 * The partition files of a config, written in key order: a new file starts at each planned piece
 * (partitioning.ts) and when the current file reaches the caps, but never between equal keys, so
 * the files of a pixel hold disjoint, contiguous key ranges. Files are named k-of-n once their
 * pixel is complete.
 */
class PartitionFiles {
  private writer: PartitionWriter | null = null;
  /** Current pixel (order, pixel) and the piece of the open file. */
  private order = -1;
  private pixel = -1;
  /** Consecutive pixels from `pixel` the current files cover (see PartitionPiece.pixels). */
  private pixels = 1;
  private piece = 0;
  private filePiece = -1;
  private rows = 0;
  private keyMin = 0n;
  private keyMax = 0n;
  /** The current pixel's files, closing (see closeFile). */
  private pixelFiles: Array<{
    written: Promise<WrittenFile>;
    identity: string;
    keyMin: bigint;
    keyMax: bigint;
  }> = [];
  /** Files closed so far (the next file's ordinal). */
  private closedFiles = 0;
  /**
   * Completed pixels whose files are still being hashed, fsynced and renamed, in key order, while
   * the next files are written: each file waited for its own fsync before (a build of 3072 small
   * files spent a third of its time idle). At most CLOSING_PIXELS at once.
   */
  private readonly closing: Array<Promise<FileEntry[]>> = [];
  private collected = 0;
  private readonly entries: FileEntry[] = [];
  private readonly maxRows: number;
  private readonly idColumnPer: number;

  constructor(
    private readonly root: string,
    private readonly config: string,
    private readonly layout: Layout,
    private readonly pieces: PartitionPiece[],
    private readonly specs: ColumnSpec[],
    private readonly options: DatasetWriterOptions & typeof DEFAULTS,
    private readonly ids: ExternalSorter,
    private readonly idKey: (values: ColumnValues, i: number) => bigint,
  ) {
    const rowBytes = specs.reduce((sum, s) => sum + bytesPerRow(s), 0);
    this.maxRows = Math.max(
      1,
      Math.min(options.maxRowsPerFile, Math.floor(options.maxBytesPerFile / rowBytes)),
    );
    this.idColumnPer = valuesPerRow(specs.find((s) => s.name === "object_id")!);
  }

  get fileCount(): number {
    return this.closedFiles;
  }

  async add(batch: ColumnBatch): Promise<void> {
    const keys = batch._healpix_29 as BigInt64Array;
    let at = 0;
    while (at < keys.length) {
      const key = keys[at];
      while (this.piece < this.pieces.length && key > this.pieces[this.piece].keyHi) this.piece++;
      const piece = this.pieces[this.piece];
      if (!piece || key < piece.keyLo)
        throw new InternalError(
          `row with _healpix_29 ${key} falls in none of the ${this.pieces.length} planned partition pieces`,
          { file: this.root },
        );
      const pixels = piece.pixels ?? 1;
      if (piece.order !== this.order || piece.pixel !== this.pixel || pixels !== this.pixels) {
        await this.finishPixel();
        this.order = piece.order;
        this.pixel = piece.pixel;
        this.pixels = pixels;
      }
      if (this.writer && this.filePiece !== this.piece) await this.closeFile();
      // A full file is closed only once the key changes, so equal keys never straddle two files.
      if (this.writer && this.rows >= this.maxRows && key !== this.keyMax) await this.closeFile();
      if (!this.writer) await this.openFile(key);
      // This file takes rows up to the cap (and every row equal to its last), within the piece.
      const end = upperBound(keys, piece.keyHi, at + 1);
      let take = Math.max(1, Math.min(end - at, this.maxRows - this.rows));
      while (at + take < end && keys[at + take] === keys[at + take - 1]) take++;
      const slice: ColumnBatch = emptyRecord();
      for (const spec of this.specs)
        slice[spec.name] = sliceRows(batch[spec.name], valuesPerRow(spec), at, at + take);
      this.writer!.append(slice);
      await this.indexIds(slice.object_id, take);
      this.rows += take;
      this.keyMax = keys[at + take - 1];
      at += take;
    }
  }

  /** Records (id key, file ordinal, row) for the object_id index. */
  private async indexIds(values: ColumnValues, n: number): Promise<void> {
    const idKeys = new BigInt64Array(n);
    for (let i = 0; i < n; i++) idKeys[i] = this.idKey(values, i * this.idColumnPer);
    const ordinal = this.closedFiles;
    const file = new Uint32Array(n).fill(ordinal);
    const row = new Uint32Array(n);
    for (let i = 0; i < n; i++) row[i] = this.rows + i;
    await this.ids.add({ id_key: idKeys, file, row }, n);
  }

  /** Directory of the current pixel's files in this layout. */
  private dir(): string {
    return pixelDir(
      this.config,
      this.pixel,
      this.layout === "mmu" ? undefined : this.order,
      this.pixels,
    );
  }

  private async openFile(firstKey: bigint): Promise<void> {
    const k = this.pixelFiles.length + 1;
    const pending = join(this.root, this.dir(), `.pending-${k}.hdf5`);
    this.writer = await PartitionWriter.create(pending, this.specs, {
      compression: this.options.compression,
      gzipLevel: this.options.gzipLevel,
      chunkBytes: this.options.chunkBytes,
    });
    crashPoint(`dataset-writer:file-${this.fileCount + 1}`);
    this.filePiece = this.piece;
    this.rows = 0;
    this.keyMin = firstKey;
    this.keyMax = firstKey;
  }

  private async closeFile(): Promise<void> {
    if (!this.writer) return;
    // The identity goes into the file and its manifest entry (see identity.ts); it depends on
    // the content only, not on the path the file gets once its pixel is complete.
    const content = contentDigest(this.writer.contentLines());
    const identity = fileIdentity({
      config: this.config,
      order: this.order,
      pixel: this.pixel,
      pixels: this.pixels,
      keyMin: this.keyMin,
      keyMax: this.keyMax,
      rows: this.writer.rows,
      content,
    });
    // Closing finishes the HDF5 file at once; its hash, fsync and rename go on while the next
    // files are written (the promise is awaited when its pixel's files are renamed).
    const written = this.writer.close({
      attrs: { [IDENTITY_ATTRIBUTE]: identity, [CONTENT_ATTRIBUTE]: content },
    });
    written.catch(() => {}); // seen when awaited; never an unhandled rejection meanwhile
    this.pixelFiles.push({ written, identity, keyMin: this.keyMin, keyMax: this.keyMax });
    this.closedFiles++;
    this.writer = null;
  }

  private async finishPixel(): Promise<void> {
    await this.closeFile();
    if (this.pixelFiles.length === 0) return;
    const files = this.pixelFiles;
    this.pixelFiles = [];
    const { order, pixel, pixels } = this;
    const done = (async () => {
      const entries: FileEntry[] = [];
      for (const [i, f] of files.entries()) {
        const w = await f.written;
        const rel = layoutPath(this.layout, this.config, order, pixel, i + 1, files.length, pixels);
        try {
          await rename(w.path, join(this.root, rel));
        } catch (err) {
          throw new WriteError(
            `cannot put the partition file in place (${(err as Error).message})`,
            { file: join(this.root, rel) },
            { cause: err },
          );
        }
        entries.push({
          path: rel,
          config: this.config,
          order,
          pixel,
          ...(pixels === 1 ? {} : { pixels }),
          keyMin: f.keyMin.toString(),
          keyMax: f.keyMax.toString(),
          rows: w.rows,
          bytes: w.bytes,
          sha256: w.sha256,
          identity: f.identity,
        });
      }
      return entries;
    })();
    done.catch(() => {});
    this.closing.push(done);
    while (this.closing.length - this.collected > CLOSING_PIXELS) await this.collect();
  }

  /** Waits for the oldest closing pixel and records its files. */
  private async collect(): Promise<void> {
    const entries = await this.closing[this.collected];
    this.closing[this.collected++] = Promise.resolve([]);
    this.entries.push(...entries);
  }

  /** Waits for every file still closing, failed or not (before an aborted writer cleans up). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.closing, ...this.pixelFiles.map((f) => f.written)]);
  }

  async finish(): Promise<FileEntry[]> {
    await this.finishPixel();
    while (this.collected < this.closing.length) await this.collect();
    return this.entries;
  }
}

/** First index in [from, keys.length) whose key is greater than `key` (keys sorted). */
function upperBound(keys: BigInt64Array, key: bigint, from: number): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Writes a whole config from an iterable of batches; returns the new manifest. */
export async function writeDataset(
  root: string,
  columns: ColumnSpec[],
  batches: AsyncIterable<ColumnBatch> | Iterable<ColumnBatch>,
  options: DatasetWriterOptions,
): Promise<Manifest> {
  const writer = await DatasetWriter.create(root, columns, options);
  try {
    for await (const batch of batches) await writer.write(batch);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.finish();
}
