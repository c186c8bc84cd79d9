// Writing one HDF5 partition file. Rows arrive in batches and are written chunk by chunk, so
// memory stays bounded by the batch size whatever the file size. Columns of numbers and
// fixed-length strings (nearly every file) go through AstroPile's own writer (hdf5-writer.ts:
// native zlib, one write per chunk); files with variable-length strings go through libhdf5
// (h5wasm), each column a chunked, resizable dataset grown block by block. The file is written
// under a temporary name, fsynced and renamed: a reader never sees a half-written file under the
// final name.

import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { endianness } from "node:os";
import { basename, dirname, join } from "node:path";
import { fsyncPath } from "../core/atomic-file.ts";
import {
  allocate,
  batchRows,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
  sliceRows,
  utf8Length,
  valuesPerRow,
} from "../core/columns.ts";
import { SchemaError, UsageError, WriteError } from "../core/errors.ts";
import { sha256Of } from "../core/hash.ts";
import {
  BOOL_ATTRIBUTE,
  type Dataset,
  guard,
  type H5File,
  h5wasm,
  h5wasmDtype,
  hdf5Ready,
  writeAttribute,
} from "./hdf5.ts";
import { clearObjectTimes } from "./hdf5-times.ts";
import { Hdf5Writer, nativelyWritable } from "./hdf5-writer.ts";
import { ContentDigest } from "./identity.ts";

export type Compression = "none" | "gzip" | "lzf";

export interface WriterOptions {
  /** Compression of every chunked column. Default gzip level 4 (what h5py users expect). */
  compression?: Compression;
  gzipLevel?: number;
  /**
   * Columns whose gzip chunks are deflated with zlib's run-length strategy (Z_RLE), as per-row
   * floats and `_healpix_29` always are: for columns of runs and skewed bytes but no repeated
   * strings, twice as fast for about the same size (see hdf5-writer.ts deflateStrategy). Files
   * with a variable-length string column are written by libhdf5, which deflates as it does.
   */
  runLengthColumns?: readonly string[];
  /** Target bytes per chunk for light columns (default 32 KiB); heavy rows get one row per chunk. */
  chunkBytes?: number;
  /**
   * Rows the file will hold, when the caller knows: chunks are then cut to split them evenly, so
   * the last one is not mostly padding (an uncompressed chunk is stored whole). Only a hint: any
   * other count is written correctly.
   */
  expectedRows?: number;
  /** File-level attributes (provenance: project, survey, release). */
  attrs?: Record<string, string | number>;
  /**
   * Default true: hash and fsync before the rename. Scratch files (sorted runs that a crash
   * makes worthless anyway) skip both; their sha256 is then "".
   */
  durable?: boolean;
  /**
   * Zero the object times libhdf5 stamps into the file, so the same rows give the same bytes (and
   * sha256), however they were batched. Default: true for durable files.
   */
  reproducible?: boolean;
  /**
   * Default true: hash the values as they are appended, for {@link PartitionWriter.contentLines}
   * (a partition file's identity). Files that need no identity (sidecars, scratch runs) skip it:
   * SHA-256 over every value, ~0.5 s of a 1e7-row positions sidecar.
   */
  contentDigest?: boolean;
}

export interface CloseOptions {
  /** Root attributes written last (e.g. the file's identity, which depends on every row). */
  attrs?: Record<string, string>;
}

export interface WrittenFile {
  path: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/**
 * Light columns' chunks: 32 KiB, one block of the remote range cache. A row read must take whole
 * chunks (a Fletcher32 or gzip chunk is checked or decoded whole), so a remote `get(i)` moves one
 * chunk per column: 256 KiB chunks made it 1.5 MB for six scalar columns. The price: a full local
 * scan of light columns makes 8x the preads and inflate calls, ~10% more CPU (measured on 2e6
 * rows of five light columns), and gzip output grows under 1% (its window is 32 KiB). h5py's own
 * guess for a growable column is smaller still (about 8 KiB).
 */
const DEFAULT_CHUNK_BYTES = 32 * 1024;
/**
 * Appended rows are written in blocks of about this many bytes (the rest at close). Blocks have a
 * fixed number of rows whatever the batches, so chunks land at the same places in the file.
 */
const WRITE_BUFFER_BYTES = 8 * 2 ** 20;

/** Rows of at least this many bytes (a cutout, a long spectrum) get one row per chunk. */
const HEAVY_ROW_BYTES = 16 * 1024;

/**
 * Rows per chunk: one for heavy rows, so a random row read decompresses only that row; enough
 * light rows to fill ~chunkBytes otherwise, so scans make few large reads.
 */
export function chunkRows(spec: ColumnSpec, chunkBytes = DEFAULT_CHUNK_BYTES): number {
  const rowBytes = Math.max(1, bytesPerRow(spec));
  if (rowBytes >= HEAVY_ROW_BYTES) return 1;
  return Math.max(1, Math.floor(chunkBytes / rowBytes));
}

/**
 * Rows per chunk for a file known to hold `expectedRows`: as many chunks as `rows` per chunk
 * need, each just long enough to hold them all, so the last one is (nearly) full. An
 * uncompressed chunk is stored whole, padding included: 100,000 rows in chunks of 32,768 took
 * the space of 131,072.
 */
export function evenChunkRows(rows: number, expectedRows: number | undefined): number {
  if (expectedRows === undefined || !(expectedRows > rows)) return rows;
  return Math.ceil(expectedRows / Math.ceil(expectedRows / rows));
}

export function validateSpec(spec: ColumnSpec, file?: string): void {
  const place = { file, column: spec.name };
  if (!spec.name || spec.name.includes("/"))
    throw new SchemaError("column names must be non-empty and have no '/'", place);
  if (!spec.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new SchemaError(`row shape [${spec.shape.join(", ")}] must be positive integers`, place);
  }
  if (spec.dtype === "string" && spec.shape.length > 0 && spec.stringLength === undefined) {
    throw new SchemaError("string arrays per row need a fixed stringLength", place);
  }
  if (
    spec.stringLength !== undefined &&
    !(Number.isInteger(spec.stringLength) && spec.stringLength > 0)
  ) {
    throw new SchemaError(`stringLength ${spec.stringLength} must be a positive integer`, place);
  }
}

export class PartitionWriter {
  readonly path: string;
  private readonly tempPath: string;
  private readonly specs: ColumnSpec[];
  /** One of the two: libhdf5's file, or AstroPile's own writer. */
  private readonly file: H5File | null;
  private readonly native: Hdf5Writer | null;
  private readonly datasets = new Map<string, Dataset>();
  /** Variable-length strings: h5wasm cannot write slices of them, so they are written at close. */
  private readonly pendingStrings = new Map<string, string[][]>();
  /** Rows written to the file. */
  private rowCount = 0;
  /** Rows appended but not yet written, per chunked column. */
  private readonly buffered = new Map<string, ColumnValues[]>();
  private bufferedRows = 0;
  /** Rows written per block (see WRITE_BUFFER_BYTES). */
  private readonly blockRows: number;
  private readonly digest: ContentDigest | null;
  private state: "open" | "closed" | "aborted" = "open";

  private readonly durable: boolean;
  private readonly reproducible: boolean;
  private readonly options: WriterOptions;
  private readonly compression: Compression;
  /** Whether rows were written yet (the chunked columns are created at the first write). */
  private created = false;

  private constructor(
    path: string,
    tempPath: string,
    specs: ColumnSpec[],
    file: H5File | Hdf5Writer,
    options: WriterOptions,
    compression: Compression,
  ) {
    this.path = path;
    this.options = options;
    this.compression = compression;
    this.durable = options.durable ?? true;
    this.reproducible = options.reproducible ?? this.durable;
    const rowBytes = specs.reduce((sum, spec) => sum + bytesPerRow(spec), 0);
    this.blockRows = Math.max(1, Math.floor(WRITE_BUFFER_BYTES / Math.max(1, rowBytes)));
    this.digest = options.contentDigest === false ? null : new ContentDigest(specs);
    this.tempPath = tempPath;
    this.specs = specs;
    this.native = file instanceof Hdf5Writer ? file : null;
    this.file = file instanceof Hdf5Writer ? null : file;
  }

  static async create(
    path: string,
    specs: ColumnSpec[],
    options: WriterOptions = {},
  ): Promise<PartitionWriter> {
    const compression = options.compression ?? "gzip";
    if (compression === "lzf") {
      // h5wasm registers every filter as mandatory; LZF then fails on any chunk it cannot shrink
      // (h5py marks it optional and stores such chunks raw). Reading LZF works; writing does not.
      throw new UsageError(
        'LZF writing is not supported by h5wasm (incompressible chunks fail); use "gzip" or "none". LZF files are read fine.',
        { file: path },
      );
    }
    const names = new Set<string>();
    for (const spec of specs) {
      validateSpec(spec, path);
      if (names.has(spec.name))
        throw new SchemaError("column given twice", { file: path, column: spec.name });
      names.add(spec.name);
    }
    await mkdir(dirname(path), { recursive: true });
    const tempPath = join(
      dirname(path),
      `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
    );
    const native = specs.every(nativelyWritable) && endianness() === "LE";
    // Only files libhdf5 writes load it (~0.2 s at first use).
    if (!native) await hdf5Ready();
    const file = guard({ file: tempPath }, "cannot create HDF5 file", WriteError, () =>
      native
        ? new Hdf5Writer(
            tempPath,
            specs,
            compression === "gzip"
              ? {
                  gzip: options.gzipLevel ?? 4,
                  shuffle: true,
                  runLength: new Set(options.runLengthColumns),
                }
              : "fletcher32",
            (spec) => evenChunkRows(chunkRows(spec, options.chunkBytes), options.expectedRows),
          )
        : new (h5wasm().File)(tempPath, "w", { libver: ["v110", "v110"] }),
    );
    const writer = new PartitionWriter(path, tempPath, specs, file, options, compression);
    try {
      for (const [k, v] of Object.entries(options.attrs ?? {})) writer.setRootAttribute(k, v);
      // The native writer takes attributes now and rows as they come; libhdf5's file gathers
      // rows in blocks, and its columns (and their attributes) are made at the first write.
      for (const spec of specs) {
        if (writer.native) writer.annotate(spec);
        else if (spec.dtype === "string" && spec.stringLength === undefined)
          writer.pendingStrings.set(spec.name, []);
        else writer.buffered.set(spec.name, []);
      }
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return writer;
  }

  private setRootAttribute(name: string, value: string | number): void {
    if (this.native) this.native.setAttribute(null, name, value);
    else writeAttribute(this.file!, name, value);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.rowCount + this.bufferedRows;
  }

  /**
   * Creates a chunked column, at the first write. With `data` (every row of a file that fits in
   * one write block, a small file), the column is created with it, exactly that long (not
   * resizable) and in chunks no longer than the file, so a file of 100 rows takes a few kB, not
   * whole chunks and the index of a growable dataset. Otherwise it starts empty and grows
   * block by block, in chunks of about `chunkBytes`.
   */
  private createColumn(spec: ColumnSpec, data: ColumnValues | null): Dataset {
    const place = { file: this.path, column: spec.name };
    const rows = evenChunkRows(chunkRows(spec, this.options.chunkBytes), this.options.expectedRows);
    const n = data === null ? 0 : data.length / valuesPerRow(spec);
    const dataset = guard(place, "cannot create column", WriteError, () =>
      this.file!.create_dataset({
        name: spec.name,
        data: (data ?? allocate(spec, 0)) as string[] | Float64Array,
        shape: [n, ...spec.shape],
        maxshape: [data === null ? null : n, ...spec.shape],
        chunks: [data === null ? rows : Math.min(rows, n), ...spec.shape],
        dtype: h5wasmDtype(spec.dtype, spec.stringLength),
        // Uncompressed chunks get the Fletcher32 checksum filter (HDF5 filter 3), so libhdf5
        // notices changed bytes on read; gzip chunks are covered by zlib's Adler-32.
        ...(this.compression === "gzip"
          ? { compression: "gzip" as const, compression_opts: this.options.gzipLevel ?? 4 }
          : { compression: FLETCHER32, compression_opts: [] }),
      }),
    );
    this.annotate(spec, dataset);
    this.datasets.set(spec.name, dataset);
    return dataset;
  }

  /** A column's attributes: on its libhdf5 dataset, or (without one) in the native writer. */
  private annotate(spec: ColumnSpec, dataset?: Dataset): void {
    const set = (name: string, value: string) => {
      if (dataset) writeAttribute(dataset, name, value);
      else this.native!.setAttribute(spec.name, name, value);
    };
    if (spec.unit) set("unit", spec.unit);
    if (spec.description) set("description", spec.description);
    if (spec.dtype === "bool") set(BOOL_ATTRIBUTE, "bool");
  }

  /** Appends a batch of rows (every column, same row count). */
  append(batch: ColumnBatch): void {
    if (this.state !== "open") throw new UsageError(`writer is ${this.state}`, { file: this.path });
    const n = batchRows(batch, this.specs, this.path);
    if (n === 0) return;
    for (const spec of this.specs)
      checkValues(spec, batch[spec.name], this.path, this.rowCount + this.bufferedRows);
    if (this.native) {
      const native = this.native;
      if (this.digest)
        for (const spec of this.specs) this.digest.update(spec.name, batch[spec.name]);
      guard({ file: this.path }, "cannot write rows", WriteError, () => native.append(batch, n));
      this.rowCount += n;
      return;
    }
    for (const spec of this.specs) {
      const values = batch[spec.name];
      this.digest?.update(spec.name, values);
      const pending = this.pendingStrings.get(spec.name);
      if (pending) pending.push(values as string[]);
      else this.buffered.get(spec.name)!.push(values);
    }
    this.bufferedRows += n;
    // Small batches are gathered first: each write into the wasm heap has a fixed cost.
    while (this.bufferedRows >= this.blockRows) this.flush(this.blockRows);
  }

  /**
   * Writes the first `n` gathered rows: one resize and one slice write per column. `final`: the
   * last write of the file; if it is also the first, the columns are created with their rows.
   */
  private flush(n = this.bufferedRows, final = false): void {
    const whole = final && !this.created && n > 0;
    this.created ||= n > 0 || final;
    if (n === 0) {
      // An empty file still has its (empty, growable) columns.
      for (const spec of this.specs)
        if (this.buffered.has(spec.name) && !this.datasets.has(spec.name))
          this.createColumn(spec, null);
      return;
    }
    const start = this.rowCount;
    for (const [name, pieces] of this.buffered) {
      const spec = this.specs.find((s) => s.name === name)!;
      const per = valuesPerRow(spec);
      const all = concatValues(pieces);
      const values = n === this.bufferedRows ? all : sliceRows(all, per, 0, n);
      pieces.length = 0;
      if (n < this.bufferedRows) pieces.push(sliceRows(all, per, n, this.bufferedRows));
      if (whole) {
        this.createColumn(spec, values);
        continue;
      }
      const dataset = this.datasets.get(name) ?? this.createColumn(spec, null);
      guard({ file: this.path, column: name }, "cannot write rows", WriteError, () => {
        dataset.resize([start + n, ...spec.shape]);
        dataset.write_slice([[start, start + n]], values);
      });
    }
    this.rowCount += n;
    this.bufferedRows -= n;
  }

  /**
   * One line per column (name, dtype, shape, string length, SHA-256 of the values appended so
   * far), for the file's identity (see identity.ts).
   */
  contentLines(): string[] {
    if (!this.digest)
      throw new UsageError("this writer keeps no content digest (contentDigest: false)", {
        file: this.path,
      });
    return this.digest.lines();
  }

  /** Finishes the file: writes pending columns, closes, fsyncs, renames into place. */
  async close(options: CloseOptions = {}): Promise<WrittenFile> {
    if (this.state !== "open") throw new UsageError(`writer is ${this.state}`, { file: this.path });
    try {
      if (this.native) {
        const native = this.native;
        guard({ file: this.path }, "cannot finish HDF5 file", WriteError, () => {
          for (const [k, v] of Object.entries(options.attrs ?? {})) native.setAttribute(null, k, v);
          native.close();
        });
        this.state = "closed";
        return await this.publish();
      }
      this.flush(this.bufferedRows, true);
      for (const [name, pieces] of this.pendingStrings) {
        const spec = this.specs.find((s) => s.name === name)!;
        const values = concatValues(pieces) as string[];
        guard({ file: this.path, column: name }, "cannot write strings", WriteError, () => {
          const dataset = this.file!.create_dataset({
            name,
            data: values,
            shape: [values.length],
            dtype: "S",
          });
          this.annotate(spec, dataset);
          this.datasets.set(name, dataset);
        });
      }
      const file = this.file!;
      const objects = guard({ file: this.path }, "cannot finish HDF5 file", WriteError, () => {
        for (const [k, v] of Object.entries(options.attrs ?? {})) writeAttribute(file, k, v);
        // Where each column's object header is: with more than 8 columns the root group keeps its
        // links in a fractal heap, which clearObjectTimes does not walk.
        return this.reproducible ? [...this.datasets.values()].map(objectAddress) : [];
      });
      guard({ file: this.path }, "cannot close HDF5 file", WriteError, () => file.close());
      this.state = "closed";
      if (this.reproducible) clearObjectTimes(this.tempPath, objects);
      return await this.publish();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Hashes and fsyncs the closed temporary file (when durable) and renames it into place. */
  private async publish(): Promise<WrittenFile> {
    const digest = this.durable
      ? await fsyncAndHash(this.tempPath)
      : { sha256: "", bytes: (await stat(this.tempPath)).size };
    await rename(this.tempPath, this.path);
    if (this.durable) await fsyncPath(dirname(this.path));
    return { path: this.path, rows: this.rowCount, bytes: digest.bytes, sha256: digest.sha256 };
  }

  /** Drops the temporary file; the final path is never touched. */
  async abort(): Promise<void> {
    if (this.state === "open") {
      try {
        if (this.native) this.native.abort();
        else this.file!.close();
      } catch {
        // already failing; the temp file is removed below either way
      }
    }
    this.state = "aborted";
    await rm(this.tempPath, { force: true });
  }
}

/** HDF5's Fletcher32 checksum filter, as h5wasm's create_dataset takes it (with no options). */
const FLETCHER32 = 3;

/** The file address of a dataset's object header: an HDF5 object reference is that address. */
function objectAddress(dataset: Dataset): number {
  return Number(Buffer.from(dataset.create_reference().ref_data).readBigUInt64LE(0));
}

function checkValues(spec: ColumnSpec, values: ColumnValues, file: string, firstRow: number): void {
  if (spec.dtype === "string" && spec.stringLength !== undefined) {
    const max = spec.stringLength;
    const strings = values as string[];
    for (let i = 0; i < strings.length; i++) {
      const s = strings[i];
      if (typeof s !== "string") {
        throw new SchemaError(`expected a string, found ${typeof s}`, {
          file,
          column: spec.name,
          detail: `row ${firstRow + Math.floor(i / valuesPerRow(spec))}`,
        });
      }
      if (s.length > max || (s.length * 3 > max && utf8Length(s) > max)) {
        throw new SchemaError(
          `string of ${utf8Length(s)} UTF-8 bytes exceeds the fixed length ${max}`,
          {
            file,
            column: spec.name,
            detail: `row ${firstRow + Math.floor(i / valuesPerRow(spec))}`,
          },
        );
      }
    }
  } else if (spec.dtype === "bool") {
    const v = values as Uint8Array;
    for (let i = 0; i < v.length; i++) {
      if (v[i] > 1) {
        throw new SchemaError(`bool values must be 0 or 1, found ${v[i]}`, {
          file,
          column: spec.name,
          detail: `row ${firstRow + i}`,
        });
      }
    }
  }
}

/**
 * Streams the file once: sha256 and length for the manifest, and fsync so the rename publishes
 * durable bytes; both on one handle, overlapped (the hash reads the page cache while the kernel
 * writes back).
 */
async function fsyncAndHash(path: string): Promise<{ sha256: string; bytes: number }> {
  const handle = await open(path, "r+");
  try {
    const [digest] = await Promise.all([sha256Of(handle), handle.sync()]);
    return digest;
  } finally {
    await handle.close();
  }
}
