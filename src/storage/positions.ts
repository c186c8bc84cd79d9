// The positions sidecar of a config: `<config>/positions.hdf5`, columns ra, dec (float64) and
// object_id, uncompressed, holding every row of the config. Row i is row i of the config as the
// dataset layer numbers rows: the config's files in manifest order, each file's rows in order.
// A cross-match reads it in a few large slices instead of opening thousands of partition files.
import { join, posix, resolve } from "node:path";
import {
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
  sliceRows,
} from "../core/columns.ts";
import { ManifestError, ManifestMismatchError, SchemaError, UsageError } from "../core/errors.ts";
import type { WriterLock } from "../core/lock.ts";
import { idKeyFunction } from "./id-index.ts";
import { FILE_LIST_ATTRIBUTE, fileListIdentity } from "./identity.ts";
import { sidecarExpectation } from "./integrity.ts";
import {
  type FileEntry,
  type Manifest,
  type PositionsEntry,
  readManifest,
  writeManifest,
} from "./manifest.ts";
import { lockOutput } from "./output-lock.ts";
import { PartitionFile } from "./partition-file.ts";
import { PartitionWriter } from "./partition-writer.ts";

export type { PositionsEntry };

export const POSITIONS_NAME = "positions.hdf5";

/** Rows copied per read when the sidecar is made from other files. */
const COPY_ROWS = 65536;

export interface PositionsOptions {
  /** Target bytes per chunk (default 256 KiB: the sidecar is scanned, not read a row at a time). */
  chunkBytes?: number;
  /**
   * Rows the sidecar will hold, when known: its chunks then split them evenly. Its chunks are
   * uncompressed and stored whole, so without it a last chunk mostly empty is stored as padding
   * (nearly a quarter of the file at 100,000 rows).
   */
  rows?: number;
}

/**
 * Cross-matches scan the sidecar from end to end, so its chunks stay larger than the partition
 * files' (whose rows are also read one at a time, where every chunk read whole costs).
 */
const SCAN_CHUNK_BYTES = 256 * 1024;

/** The sidecar's columns: ra, dec and the dataset's object_id type (name, dtype, length only). */
export function positionsColumns(objectIdSpec: ColumnSpec): ColumnSpec[] {
  idKeyFunction(objectIdSpec);
  const id: ColumnSpec = { name: "object_id", dtype: objectIdSpec.dtype, shape: [] };
  if (objectIdSpec.stringLength !== undefined) id.stringLength = objectIdSpec.stringLength;
  return [
    { name: "ra", dtype: "float64", shape: [], unit: "deg" },
    { name: "dec", dtype: "float64", shape: [], unit: "deg" },
    id,
  ];
}

/**
 * Rows go to the file in blocks of this many, whatever the batches: with the object times cleared,
 * the same rows then give the same bytes, however they were batched.
 */
const BLOCK_ROWS = 32768;

/** Streams rows into the sidecar; the file appears (renamed into place) only at close. */
export class PositionsWriter {
  private pending: ColumnBatch[] = [];
  private pendingRows = 0;
  private written = 0;

  private constructor(
    private readonly rel: string,
    private readonly specs: ColumnSpec[],
    private readonly writer: PartitionWriter,
  ) {}

  static async create(
    root: string,
    config: string,
    objectIdSpec: ColumnSpec,
    options: PositionsOptions = {},
  ): Promise<PositionsWriter> {
    const rel = posix.join(config, POSITIONS_NAME);
    const specs = positionsColumns(objectIdSpec);
    const writer = await PartitionWriter.create(join(root, rel), specs, {
      compression: "none",
      chunkBytes: options.chunkBytes ?? SCAN_CHUNK_BYTES,
      expectedRows: options.rows,
      reproducible: true,
      contentDigest: false,
    });
    return new PositionsWriter(rel, specs, writer);
  }

  get rows(): number {
    return this.written + this.pendingRows;
  }

  /** Appends the ra, dec and object_id of a batch (other columns are ignored). */
  append(batch: ColumnBatch): void {
    // Positions stored as float32 (some Multimodal Universe files) go to the sidecar's float64
    // columns exactly: every float32 is a float64.
    const wide = (v: ColumnValues): ColumnValues =>
      v instanceof Float32Array ? Float64Array.from(v) : v;
    const picked: ColumnBatch = {
      ra: wide(batch.ra!),
      dec: wide(batch.dec!),
      object_id: batch.object_id!,
    };
    const n = batchRows(picked, this.specs, this.writer.path);
    if (n === 0) return;
    this.pending.push(picked);
    this.pendingRows += n;
    if (this.pendingRows >= BLOCK_ROWS) this.drain(false);
  }

  /** Hands whole blocks (and at the end the rest) to the file writer. */
  private drain(final: boolean): void {
    if (this.pendingRows === 0) return;
    const joined: ColumnBatch = {};
    for (const name of ["ra", "dec", "object_id"])
      joined[name] = concatValues(this.pending.map((b) => b[name]));
    let at = 0;
    while (this.pendingRows - at >= BLOCK_ROWS || (final && at < this.pendingRows)) {
      const end = Math.min(this.pendingRows, at + BLOCK_ROWS);
      const block: ColumnBatch = {};
      for (const name of ["ra", "dec", "object_id"])
        block[name] = sliceRows(joined[name], 1, at, end);
      this.writer.append(block);
      at = end;
    }
    this.written += at;
    this.pendingRows -= at;
    this.pending = [];
    if (this.pendingRows > 0) {
      const rest: ColumnBatch = {};
      for (const name of ["ra", "dec", "object_id"])
        rest[name] = sliceRows(joined[name], 1, at, at + this.pendingRows);
      this.pending.push(rest);
    }
  }

  /** Finishes the sidecar of the file list whose identity is `fileList` (see identity.ts). */
  async close(fileList: string): Promise<PositionsEntry> {
    try {
      this.drain(true);
    } catch (err) {
      await this.writer.abort();
      throw err;
    }
    const written = await this.writer.close({ attrs: { [FILE_LIST_ATTRIBUTE]: fileList } });
    return {
      path: this.rel,
      rows: written.rows,
      bytes: written.bytes,
      sha256: written.sha256,
      fileList,
    };
  }

  async abort(): Promise<void> {
    await this.writer.abort();
  }
}

/** Writes the sidecar from batches already in the config's row order (of file list `fileList`). */
export async function writePositions(
  root: string,
  config: string,
  rows: AsyncIterable<ColumnBatch> | Iterable<ColumnBatch>,
  objectIdSpec: ColumnSpec,
  fileList: string,
  options?: PositionsOptions,
): Promise<PositionsEntry> {
  const writer = await PositionsWriter.create(root, config, objectIdSpec, options);
  try {
    for await (const batch of rows) writer.append(batch);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.close(fileList);
}

/** Rows [start, end) of an HDF5 file that has ra, dec and object_id columns. */
export interface PositionsPiece {
  /** Absolute path. */
  path: string;
  /** The file's row count (checked on open). */
  fileRows: number;
  start: number;
  end: number;
}

/**
 * Writes the sidecar by copying the pieces in the order given (partition files, or the sidecars
 * of smaller datasets), a block of rows at a time.
 */
export async function copyPositions(
  root: string,
  config: string,
  objectIdSpec: ColumnSpec,
  pieces: Iterable<PositionsPiece>,
  /** Identity of the file list whose rows the pieces are (see identity.ts). */
  fileList: string,
): Promise<PositionsEntry> {
  const list = [...pieces];
  const rows = list.reduce((sum, p) => sum + (p.end - p.start), 0);
  const writer = await PositionsWriter.create(root, config, objectIdSpec, { rows });
  let file: PartitionFile | null = null;
  try {
    for (const piece of list) {
      if (file?.path !== piece.path) {
        file?.close();
        file = await PartitionFile.open(piece.path, { expectRows: piece.fileRows });
      }
      for (let at = piece.start; at < piece.end; at += COPY_ROWS)
        writer.append(
          file.readRange(["ra", "dec", "object_id"], at, Math.min(piece.end, at + COPY_ROWS)),
        );
    }
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    file?.close();
  }
  return writer.close(fileList);
}

/** The object_id column of a config as the manifest describes it. */
export function objectIdSpecOf(manifest: Manifest, config: string, file?: string): ColumnSpec {
  const column = manifest.configs[config]?.columns.find((c) => c.name === "object_id");
  if (!column)
    throw new ManifestError(`config "${config}" has no object_id column`, {
      file,
      column: "object_id",
    });
  return column;
}

/**
 * Writes the positions sidecar of a config written before sidecars existed, and records it in
 * the manifest. Holds the dataset's writer lock meanwhile: `lock`, one the caller holds on
 * `root`; else it is taken here (another writer of `root` makes it fail with a LockedError, or
 * wait with `wait`).
 */
export async function buildPositions(
  root: string,
  config: string,
  options: { lock?: WriterLock; wait?: boolean } = {},
): Promise<PositionsEntry> {
  const own = options.lock
    ? null
    : await lockOutput(root, { wait: options.wait, command: `index "${config}"`, create: false });
  const lock = options.lock ?? own!;
  try {
    if (lock.dir !== resolve(root))
      throw new UsageError(`the lock given is the lock of ${lock.dir}, not of ${resolve(root)}`);
    lock.assertHeld();
    return await writePositionsOf(root, config, lock);
  } finally {
    await own?.release();
  }
}

/**
 * (Re)creates the sidecar of an existing config from its partition files, then records it in the
 * manifest. For datasets written before the sidecar existed.
 */
async function writePositionsOf(
  root: string,
  config: string,
  lock: WriterLock,
): Promise<PositionsEntry> {
  const manifestPath = join(root, "astropile.json");
  const manifest = await readManifest(root);
  if (!manifest.configs[config])
    throw new ManifestError(`no config "${config}" in the manifest`, { file: manifestPath });
  const files = manifest.files.filter((f) => f.config === config);
  const entry = await copyPositions(
    root,
    config,
    objectIdSpecOf(manifest, config, manifestPath),
    files.map((f) => ({ path: join(root, f.path), fileRows: f.rows, start: 0, end: f.rows })),
    fileListIdentity(config, files),
  );
  // Re-read: record the sidecar only if the config's files did not change meanwhile.
  const now = await readManifest(root);
  const sameFiles = (a: FileEntry[], b: FileEntry[]) =>
    a.length === b.length &&
    a.every(
      (f, i) => f.path === b[i].path && f.sha256 === b[i].sha256 && f.identity === b[i].identity,
    );
  if (
    !now.configs[config] ||
    !sameFiles(
      now.files.filter((f) => f.config === config),
      files,
    )
  )
    throw new ManifestMismatchError(
      `config "${config}" changed while its positions were written; run again`,
      { file: manifestPath },
    );
  now.configs[config].positions = entry;
  lock.assertHeld();
  await writeManifest(root, now);
  return entry;
}

/** A config's sidecar opened for reading. Usable in a worker thread. */
export class PositionsFile {
  private constructor(private readonly file: PartitionFile) {}

  /**
   * Opens and checks the sidecar against the manifest entry: size, row count, columns, and the
   * file list it was built from, which must be `fileList`, the identity of the config's file list
   * in the manifest now (see identity.ts; without it only the entry's own record is compared).
   */
  static async open(
    root: string,
    entry: PositionsEntry,
    fileList?: string,
  ): Promise<PositionsFile> {
    const file = await PartitionFile.open(join(root, entry.path), {
      expectRows: entry.rows,
      expect: sidecarExpectation(root, "positions sidecar", entry, fileList),
    });
    try {
      for (const name of ["ra", "dec", "object_id"]) {
        // Describing a column checks its rows against entry.rows.
        const info = file.column(name);
        if (name !== "object_id" && (info.dtype !== "float64" || info.shape.length !== 0))
          throw new SchemaError(`expected float64 scalars, found ${info.dtype}`, {
            file: file.path,
            column: name,
          });
      }
    } catch (err) {
      file.close();
      throw err;
    }
    return new PositionsFile(file);
  }

  get path(): string {
    return this.file.path;
  }

  get rows(): number {
    return this.file.length;
  }

  /** ra and dec of rows [start, end). */
  async readRange(start: number, end: number): Promise<{ ra: Float64Array; dec: Float64Array }> {
    const b = this.file.readRange(["ra", "dec"], start, end);
    return { ra: b.ra as Float64Array, dec: b.dec as Float64Array };
  }

  /** object_id of the given rows, in that order (ascending rows read in the fewest slices). */
  async readIds(rows: ArrayLike<number>): Promise<ColumnValues> {
    return this.file.readRows(["object_id"], rows).object_id;
  }

  /** object_id of rows [start, end). */
  async readIdRange(start: number, end: number): Promise<ColumnValues> {
    return this.file.readRange(["object_id"], start, end).object_id;
  }

  close(): void {
    this.file.close();
  }
}
