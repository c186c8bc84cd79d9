// Reading one HDF5 partition file: a flat file with one HDF5 dataset per column, axis 0 the row.
// Only the columns asked for are read; row lists are sorted and coalesced into few reads.

import { statSync } from "node:fs";
import {
  allocate,
  arrayClass,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  copyRow,
  type Dtype,
  valuesPerRow,
} from "../core/columns.ts";
import {
  AstroPileError,
  ColumnLengthError,
  CorruptFileError,
  ManifestMismatchError,
  MissingColumnError,
  NotFoundError,
  SchemaError,
  UsageError,
} from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import {
  compressionOf,
  type Dataset,
  FILTER_NAMES,
  guard,
  type H5File,
  h5wasm,
  hdf5Reason,
  type Metadata,
  openHdf5,
  storedType,
} from "./hdf5.ts";
import { UNDEFINED } from "./hdf5-chunk-index.ts";
import {
  DirectColumn,
  DirectFile,
  type DirectLayout,
  NotCovered,
  SHARED_READ_BYTES,
} from "./hdf5-direct.ts";
import { type DatasetMetadata, readFileMetadata } from "./hdf5-metadata.ts";
import {
  CONTENT_ATTRIBUTE,
  FILE_LIST_ATTRIBUTE,
  fileIdentity,
  IDENTITY_ATTRIBUTE,
  type IdentityParts,
  identityMismatchText,
} from "./identity.ts";
import { followRemoteLink, openRemote, remoteUrl } from "./remote-hook.ts";

export interface ColumnInfo extends ColumnSpec {
  /** Storage details as found in the file. */
  chunks: number[] | null;
  compression: string;
  /** Every HDF5 filter of the column, in pipeline order (e.g. ["fletcher32"], ["shuffle", "gzip"]). */
  filters: string[];
  /** HDF5 type as stored, e.g. "float64 big-endian". */
  storedAs: string;
  attrs: Record<string, unknown>;
  /** Row count of this column (axis 0). */
  rows: number;
}

export interface OpenOptions {
  /** Row count the manifest promises: a file with another count is a ManifestMismatchError. */
  expectRows?: number;
  /**
   * What the manifest says about the file, checked on open without reading data (the key range
   * reads two values); a difference is a ManifestMismatchError naming the file and what differs.
   */
  expect?: FileExpectation;
  /**
   * How column values are read. "auto" (default): each column's chunks are located once by
   * parsing the file's own structures and read with plain file reads and Node's native zlib,
   * falling back to h5wasm (libhdf5 in WebAssembly) for any layout that path does not cover.
   * "h5wasm": always through h5wasm. The integrity checks of `expect` are the same either way.
   */
  reader?: "auto" | "h5wasm";
}

/** Which path reads a column (see {@link OpenOptions.reader}). */
export type ReadPath = "direct" | "h5wasm";

/** A manifest entry's promises about a file (see {@link OpenOptions.expect}). */
export interface FileExpectation {
  /** Size on disk in bytes. */
  bytes?: number;
  /**
   * The file's identity (root attribute `astropile_identity`), and the manifest entry's fields
   * it commits to: the identity recomputed from them and the file's content digest (root
   * attribute `astropile_content`) must be it too, so an entry whose pixel, key range or rows
   * were changed is caught without reading data. null: the manifest records none (a dataset
   * written before identities), so the file must have none either (ask for keyRange too).
   */
  identity?: { value: string; entry: Omit<IdentityParts, "content"> } | null;
  /** A sidecar's file-list identity (root attribute `astropile_file_list`); null as above. */
  fileList?: string | null;
  /** Columns the file must have; dtype and shape are compared when a column is first described. */
  columns?: ReadonlyArray<Pick<ColumnSpec, "name" | "dtype" | "shape" | "stringLength">>;
  /** First and last `_healpix_29` of the file (rows are sorted by it). */
  keyRange?: { min: bigint; max: bigint };
}

/** Rows separated by at most this many bytes of unwanted data are read in one call. */
const COALESCE_GAP_BYTES = 64 * 1024;
/** Rows of gap a sparse gather still reads through (from decoded chunks kept in memory). */
const SPARSE_GAP_ROWS = 8;

export class PartitionFile {
  readonly path: string;
  /** Number of rows (the common axis-0 length of every column). */
  readonly length: number;
  /** The file opened through libhdf5; null when its metadata was read without (`own`). */
  private readonly file: H5File | null;
  /** A file of the own writer's structures, opened without libhdf5 (see hdf5-metadata.ts). */
  private readonly own: OwnFile | null;
  /** Every dataset name at the root; described (metadata read) on first use. */
  private readonly names: string[];
  private readonly infos = new Map<string, ColumnInfo>();
  /** h5wasm dataset objects, kept so each read skips the lookup by name. */
  private readonly handles = new Map<string, Dataset>();
  /** Columns as the manifest describes them, compared with the file when described. */
  private readonly expected = new Map<
    string,
    Pick<ColumnSpec, "name" | "dtype" | "shape" | "stringLength">
  >();
  private closed = false;
  private readonly reader: "auto" | "h5wasm";
  /** The file opened for plain reads, on first use of the fast path. */
  private raw: DirectFile | undefined;
  /** Per column: its fast-path reader, or null when h5wasm reads it. */
  private readonly direct = new Map<string, DirectColumn | null>();

  private constructor(
    path: string,
    file: H5File | OwnFile,
    names: string[],
    length: number,
    reader: "auto" | "h5wasm" = "auto",
  ) {
    this.path = path;
    this.own = file instanceof OwnFile ? file : null;
    this.file = file instanceof OwnFile ? null : file;
    if (this.own) this.raw = this.own.raw;
    this.names = names;
    this.length = length;
    this.reader = reader;
  }

  /**
   * Opens a partition file. Without `expectRows`, reads every column's metadata (never data) and
   * checks that all columns have the same number of rows. With `expectRows` (the manifest's
   * count), columns are described when first used and each is checked against that count, so
   * opening a file of a large dataset costs one library call. Groups (MaNGA's per-object groups)
   * are not columns.
   */
  static async open(path: string, options: OpenOptions = {}): Promise<PartitionFile> {
    const expect = options.expect;
    const own = options.reader === "h5wasm" ? null : OwnFile.open(path);
    if (own) {
      try {
        // The length of the file it opened (no second stat); its reads stay within it.
        if (expect?.bytes !== undefined) checkSize(path, expect.bytes, own.length);
        return PartitionFile.opened(path, own, own.names, () => own.infos(), options);
      } catch (err) {
        own.close();
        throw err;
      }
    }
    if (expect?.bytes !== undefined) checkSize(path, expect.bytes);
    const file = await openHdf5(path);
    try {
      const names = guard({ file: path }, "cannot list datasets", CorruptFileError, () =>
        file.keys(),
      );
      return PartitionFile.opened(
        path,
        file,
        names,
        () => {
          const infos: ColumnInfo[] = [];
          for (const name of names) {
            const info = describeEntity(path, file, name);
            if (info) infos.push(info);
          }
          return infos;
        },
        options,
      );
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** The checks of `open` on a file opened either way; `describeAll` describes every column. */
  private static opened(
    path: string,
    file: H5File | OwnFile,
    names: string[],
    describeAll: () => ColumnInfo[],
    options: OpenOptions,
  ): PartitionFile {
    const expect = options.expect;
    if (options.expectRows !== undefined) {
      const pf = new PartitionFile(path, file, names, options.expectRows, options.reader);
      if (expect) pf.check(expect);
      return pf;
    }
    const infos = describeAll();
    const first = infos[0];
    const length = first ? first.rows : 0;
    for (const info of infos) {
      if (info.rows !== length) {
        throw new ColumnLengthError(
          `has ${info.rows} rows but column "${first?.name}" has ${length}`,
          {
            file: path,
            column: info.name,
          },
        );
      }
    }
    const pf = new PartitionFile(
      path,
      file,
      infos.map((i) => i.name),
      length,
      options.reader,
    );
    for (const info of infos) pf.infos.set(info.name, info);
    if (expect) pf.check(expect);
    return pf;
  }

  /** The open-time checks of a manifest entry's promises (see FileExpectation). */
  private check(expect: FileExpectation): void {
    for (const column of expect.columns ?? []) {
      this.expected.set(column.name, column);
      if (!this.names.includes(column.name))
        throw new ManifestMismatchError("column listed in the manifest is missing from the file", {
          file: this.path,
          column: column.name,
        });
      const info = this.infos.get(column.name);
      if (info) this.compare(info);
    }
    if (expect.identity) this.checkIdentity(expect.identity.value, expect.identity.entry);
    else if (expect.identity === null && this.rootAttr(IDENTITY_ATTRIBUTE) !== undefined)
      // Stamped after this manifest was written (an `index --force` stopped before it saved the
      // manifest): the file may have kept its size, so its bytes are not the listed ones.
      throw new ManifestMismatchError(
        "file has an identity but the manifest records none: it was rewritten after the manifest (run `astropile index --force` again)",
        { file: this.path },
      );
    if (typeof expect.fileList === "string") this.checkAttr(FILE_LIST_ATTRIBUTE, expect.fileList);
    if (expect.keyRange && this.length > 0) {
      const column = "_healpix_29";
      if (!this.names.includes(column))
        throw new ManifestMismatchError("file has no _healpix_29 column to check its key range", {
          file: this.path,
        });
      const first = (this.readRange([column], 0, 1)[column] as BigInt64Array)[0];
      const last = (
        this.readRange([column], this.length - 1, this.length)[column] as BigInt64Array
      )[0];
      if (first !== expect.keyRange.min || last !== expect.keyRange.max)
        throw new ManifestMismatchError(
          `rows span _healpix_29 ${first}..${last} but the manifest says ${expect.keyRange.min}..${expect.keyRange.max}`,
          { file: this.path, column },
        );
    }
  }

  /** The identity attribute, and the identity the entry's fields and the content digest give. */
  private checkIdentity(want: string, entry: Omit<IdentityParts, "content">): void {
    this.checkAttr(IDENTITY_ATTRIBUTE, want);
    const content = this.rootAttr(CONTENT_ATTRIBUTE);
    const got =
      typeof content === "string" ? fileIdentity({ ...entry, content }) : "(no content digest)";
    if (got !== want)
      throw new ManifestMismatchError(identityMismatchText(entry), { file: this.path });
  }

  /** One root attribute's value (only that one is read), or undefined. */
  private rootAttr(name: string): unknown {
    return guard({ file: this.path }, "cannot read file attributes", CorruptFileError, () => {
      if (this.own) return Object.hasOwn(this.own.attrs, name) ? this.own.attrs[name] : undefined;
      const attrs = this.file!.attrs;
      return name in attrs ? attrs[name].value : undefined;
    });
  }

  private checkAttr(name: string, want: string): void {
    const got = this.rootAttr(name);
    if (got === undefined)
      throw new ManifestMismatchError(
        `file has no ${name} attribute but the manifest records ${want.slice(0, 12)}…: not the file the manifest lists`,
        { file: this.path },
      );
    if (got !== want)
      throw new ManifestMismatchError(
        `${name} is ${String(got).slice(0, 12)}… but the manifest records ${want.slice(0, 12)}…: not the file the manifest lists`,
        { file: this.path },
      );
  }

  /** A described column against the manifest's description of it, if any. */
  private compare(info: ColumnInfo): void {
    const want = this.expected.get(info.name);
    if (!want) return;
    const text = (c: Pick<ColumnSpec, "dtype" | "shape" | "stringLength">) =>
      `${c.dtype}${c.dtype === "string" ? `(${c.stringLength ?? "variable"})` : ""}[${c.shape.join(", ")}]`;
    if (text(info) !== text(want))
      throw new ManifestMismatchError(
        `column is ${text(info)} in the file but ${text(want)} in the manifest`,
        { file: this.path, column: info.name },
      );
  }

  /** Metadata of one column, read once; checked against the file's row count. */
  private describe(name: string): ColumnInfo | undefined {
    let info = this.infos.get(name);
    if (info || !this.names.includes(name)) return info;
    info = this.own ? this.own.info(name) : describeEntity(this.path, this.file!, name);
    if (!info) return undefined;
    this.compare(info);
    if (info.rows !== this.length) {
      throw new ManifestMismatchError(
        `column has ${info.rows} rows but the manifest says ${this.length}`,
        {
          file: this.path,
          column: name,
        },
      );
    }
    this.infos.set(name, info);
    return info;
  }

  /** Every column with dtype, per-row shape, storage and attributes. */
  columns(): ColumnInfo[] {
    return this.names.map((n) => this.describe(n)).filter((i): i is ColumnInfo => i !== undefined);
  }

  hasColumn(name: string): boolean {
    return this.describe(name) !== undefined;
  }

  column(name: string): ColumnInfo {
    const info = this.describe(name);
    if (!info) {
      throw new MissingColumnError(
        `no such column; the file has: ${this.columns()
          .map((c) => c.name)
          .join(", ")}`,
        { file: this.path, column: name },
      );
    }
    return info;
  }

  /** File-level attributes (e.g. Multimodal Universe's project/survey/release). */
  attrs(): Record<string, unknown> {
    return guard({ file: this.path }, "cannot read file attributes", CorruptFileError, () =>
      this.own ? { ...this.own.attrs } : readAttrs(this.file!),
    );
  }

  /** A UsageError unless [start, end) is a range of whole rows of the file. */
  private checkRowRange(start: number, end: number, column?: string): void {
    if (
      Number.isInteger(start) &&
      Number.isInteger(end) &&
      0 <= start &&
      start <= end &&
      end <= this.length
    )
      return;
    throw new UsageError(`row range [${start}, ${end}) outside [0, ${this.length})`, {
      file: this.path,
      ...(column !== undefined && { column }),
    });
  }

  /** Rows [start, end) of the given columns. */
  readRange(columns: string[], start: number, end: number): ColumnBatch {
    this.checkOpen();
    this.checkRowRange(start, end);
    const out: ColumnBatch = emptyRecord();
    for (const name of columns) out[name] = this.readColumnRange(this.column(name), start, end);
    return out;
  }

  /**
   * Rows [start, end) of a numeric or bool column, as values in native byte order, written into
   * `out` from byte `at`: for callers that own the memory (the loader's batch buffers), so no
   * array is allocated. False when the fast path does not cover the column or the range (read
   * it with readRange then); the bytes of the range may have been written by then.
   */
  readColumnInto(name: string, start: number, end: number, out: Uint8Array, at: number): boolean {
    this.checkOpen();
    this.checkRowRange(start, end, name);
    const info = this.column(name);
    if (info.dtype === "string" || (info.dtype as string) === "unsupported") return false;
    if (start === end) return true;
    const direct = this.directColumn(info);
    if (!direct?.readInto(start, end, out, at)) return false;
    const size = direct.layout.elementSize;
    if (direct.layout.bigEndian && size > 1) {
      const b = Buffer.from(out.buffer, out.byteOffset + at, (end - start) * direct.rowBytes);
      if (size === 2) b.swap16();
      else if (size === 4) b.swap32();
      else b.swap64();
    }
    return true;
  }

  /**
   * The rows at `rows` (any order, repeats allowed), returned in that order. Rows are sorted and
   * nearby rows coalesced so each column is read in a few contiguous slices.
   */
  readRows(columns: string[], rows: ArrayLike<number>): ColumnBatch {
    this.checkOpen();
    const n = rows.length;
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      if (!(Number.isInteger(r) && r >= 0 && r < this.length)) {
        throw new UsageError(`row ${r} outside [0, ${this.length})`, { file: this.path });
      }
    }
    // One row, or rows already sorted and consecutive: one range read, no gathering copy (and
    // no sorted order to build: a get(i) comes this way).
    let consecutive = n > 0;
    for (let i = 1; i < n && consecutive; i++) consecutive = rows[i] === rows[i - 1] + 1;
    if (consecutive) return this.readRange(columns, rows[0], rows[n - 1] + 1);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => rows[a] - rows[b]);
    const out: ColumnBatch = emptyRecord();
    for (const name of columns) {
      const info = this.column(name);
      const per = valuesPerRow(info);
      const rowBytes = Math.max(
        1,
        per * (info.dtype === "string" ? (info.stringLength ?? 16) : bytesOf(info.dtype)),
      );
      const gapRows = Math.floor(COALESCE_GAP_BYTES / rowBytes);
      const result = allocate(info, n);
      let i = 0;
      while (i < n) {
        // Grow a run while the next wanted row is close enough that reading the gap is cheaper.
        const runStart = rows[order[i]];
        let j = i + 1;
        while (j < n && rows[order[j]] - rows[order[j - 1]] <= gapRows + 1) j++;
        let runEnd = rows[order[j - 1]] + 1;
        // A sparse run (most of its rows not wanted: a shuffled loader's batch gathers rows from
        // all over a file) is read in short runs through the decoded-chunk cache instead: the
        // next batch wants other rows of the same chunks, and copying the whole range for each
        // batch cost more than the rows.
        const sparse = 2 * (j - i) < runEnd - runStart;
        if (sparse) {
          j = i + 1;
          while (j < n && rows[order[j]] - rows[order[j - 1]] <= SPARSE_GAP_ROWS + 1) j++;
          runEnd = rows[order[j - 1]] + 1;
        }
        const chunk = this.readColumnRange(info, runStart, runEnd, sparse);
        for (let k = i; k < j; k++) {
          const src = (rows[order[k]] - runStart) * per;
          const dst = order[k] * per;
          copyRow(chunk, src, result, dst, per);
        }
        i = j;
      }
      out[name] = result;
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.raw?.close();
    this.file?.close();
  }

  /** Which path reads `column`: "direct" (plain file reads, native zlib) or "h5wasm". */
  readPath(column: string): ReadPath {
    this.checkOpen();
    return this.directColumn(this.column(column)) ? "direct" : "h5wasm";
  }

  /** The h5wasm dataset of a column, opened once. */
  private handle(info: ColumnInfo): Dataset {
    // Every column of an own file is read by the fast path (all its chunks are stored).
    if (!this.file) throw new Error(`internal: ${this.path} was opened without libhdf5`);
    const file = this.file;
    let dataset = this.handles.get(info.name);
    if (!dataset) {
      dataset = guard(
        { file: this.path, column: info.name },
        "cannot open dataset",
        CorruptFileError,
        () => file.get(info.name) as Dataset,
      );
      this.handles.set(info.name, dataset);
    }
    return dataset;
  }

  /**
   * The fast-path reader of a column, set up once: its object header is found through libhdf5
   * (an object reference is the header's address) and its layout and chunk index parsed from the
   * file. null when the layout is one the fast path leaves to h5wasm, or disagrees with what
   * libhdf5 reported (then libhdf5 is believed).
   */
  private directColumn(info: ColumnInfo): DirectColumn | null {
    const known = this.direct.get(info.name);
    if (known !== undefined) return known;
    if (this.own) return this.own.column(info.name);
    let column: DirectColumn | null = null;
    if (this.reader === "auto" && (info.dtype as string) !== "unsupported") {
      const place = { file: this.path, column: info.name };
      const dataset = this.handle(info);
      const address = guard(place, "cannot locate dataset", CorruptFileError, () =>
        Number(Buffer.from(dataset.create_reference().ref_data).readBigUInt64LE(0)),
      );
      try {
        this.raw ??= new DirectFile(this.path);
        const layout = this.raw.layout(address, place);
        if (agrees(info, layout)) column = new DirectColumn(this.raw, layout, place);
      } catch (err) {
        if (!(err instanceof NotCovered)) throw err;
      }
    }
    this.direct.set(info.name, column);
    return column;
  }

  private checkOpen(): void {
    if (this.closed) throw new UsageError("file is closed", { file: this.path });
  }

  private readColumnRange(
    info: ColumnInfo,
    start: number,
    end: number,
    keepChunks = false,
  ): ColumnValues {
    const place = () => ({ file: this.path, column: info.name, detail: `rows ${start}..${end}` });
    if ((info.dtype as string) === "unsupported") {
      throw new SchemaError(`cannot read a column stored as ${info.storedAs}`, place());
    }
    if (start === end) return allocate(info, 0);
    const direct = this.directColumn(info);
    if (direct) {
      // A few bytes (a light column's row): read through the shared buffer, then copied.
      const shared = (end - start) * direct.rowBytes <= SHARED_READ_BYTES;
      const bytes = shared
        ? direct.readShared(start, end, keepChunks)
        : direct.readBytes(start, end, keepChunks);
      // null: a chunk in the range was never written; libhdf5 knows the fill value.
      if (bytes) return fromBytes(info, direct.layout, bytes, shared);
    }
    const ds = this.handle(info);
    let raw: unknown;
    try {
      raw = ds.slice([[start, end]]);
    } catch (err) {
      throw new CorruptFileError(damaged(info, hdf5Reason(err)), place(), { cause: err });
    }
    return normalise(info, raw, place());
  }
}

/** Does the parsed layout say what libhdf5 said about the column? */
function agrees(info: ColumnInfo, layout: DirectLayout): boolean {
  if (layout.dims.length !== info.shape.length + 1 || layout.dims[0] !== info.rows) return false;
  if (!info.shape.every((d, i) => d === layout.dims[i + 1])) return false;
  if (info.dtype === "string")
    return layout.typeClass === 3 && layout.elementSize === info.stringLength;
  if (info.dtype === "bool")
    return layout.elementSize === 1 && (layout.typeClass === 0 || layout.typeClass === 8);
  const want = info.dtype.startsWith("float") ? 1 : 0;
  return layout.typeClass === want && layout.elementSize === bytesOf(info.dtype);
}

/**
 * Values from bytes in the file's order: byte-swapped to native if big-endian, strings decoded.
 * `shared`: the bytes are the direct reader's shared buffer, copied into a new array.
 */
function fromBytes(
  info: ColumnInfo,
  layout: DirectLayout,
  bytes: Uint8Array,
  shared = false,
): ColumnValues {
  const size = layout.elementSize;
  if (info.dtype === "string") {
    // As h5wasm decodes fixed-length strings: cut at the first NUL, then decode.
    const decoder = new TextDecoder(layout.cset === 1 ? "utf-8" : "ascii");
    const n = bytes.length / size;
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const at = i * size;
      let end = bytes.indexOf(0, at);
      if (end < 0 || end > at + size) end = at + size;
      out[i] = decoder.decode(bytes.subarray(at, end));
    }
    return out;
  }
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  if (layout.bigEndian && size > 1) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (size === 2) b.swap16();
    else if (size === 4) b.swap32();
    else b.swap64();
  }
  const Ctor = arrayClass(info.dtype) as unknown as {
    new (buffer: ArrayBufferLike, offset: number, length: number): Exclude<ColumnValues, string[]>;
    new (length: number): Exclude<ColumnValues, string[]>;
  };
  const view = new Ctor(bytes.buffer, bytes.byteOffset, bytes.length / size);
  if (!shared) return view;
  const out = new Ctor(view.length);
  out.set(view as never);
  return out;
}

/** Why a read failed, in words: a filter failing on read means the stored bytes changed. */
function damaged(info: ColumnInfo, reason: string): string {
  if (!/filter returned failure|pipeline read failed/i.test(reason))
    return `cannot read: ${reason}`;
  const checks = info.filters.filter((f) => f === "fletcher32" || f === "gzip");
  return checks.length > 0
    ? `stored bytes are damaged: the ${checks.join(" and ")} check failed on read (${reason})`
    : `cannot read: ${reason}`;
}

/**
 * The size on disk against the manifest's, before libhdf5 reads anything: `known` when the file
 * is open already (nothing more is asked of the file system), else from a stat (or the server).
 */
function checkSize(path: string, bytes: number, known?: number): void {
  if (known !== undefined) {
    if (known !== bytes) sizeMismatch(followRemoteLink(path), known, bytes);
    return;
  }
  path = followRemoteLink(path);
  let size: number;
  try {
    size = remoteUrl(path) !== null ? openRemote(path).size : statSync(path).size;
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new ManifestMismatchError(
        "file listed in the manifest does not exist on the server",
        {
          file: path,
        },
        { cause: err },
      );
    if (err instanceof AstroPileError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new ManifestMismatchError("file listed in the manifest does not exist", { file: path });
    throw new CorruptFileError(`cannot open: ${(err as Error).message}`, { file: path });
  }
  if (size !== bytes) sizeMismatch(path, size, bytes);
}

function sizeMismatch(path: string, size: number, bytes: number): never {
  throw new ManifestMismatchError(`file has ${size} bytes but the manifest says ${bytes}`, {
    file: path,
  });
}

function bytesOf(dtype: Dtype): number {
  if (dtype === "string") return 16;
  if (dtype === "bool" || dtype.endsWith("8")) return 1;
  return Number.parseInt(dtype.replace(/\D/g, ""), 10) / 8;
}

function describeEntity(path: string, file: H5File, name: string): ColumnInfo | undefined {
  const place = { file: path, column: name };
  const entity = guard(place, "cannot open dataset", CorruptFileError, () => file.get(name));
  if (!(entity instanceof h5wasm().Dataset)) return undefined;
  return guard(place, "cannot read dataset metadata", CorruptFileError, () =>
    describe(name, entity),
  );
}

function describe(name: string, dataset: Dataset): ColumnInfo {
  return columnInfo(
    name,
    dataset.metadata,
    readAttrs(dataset),
    dataset.filters.map((f) => f.id),
  );
}

/** A column's description from libhdf5's metadata (or the same fields parsed from the file). */
function columnInfo(
  name: string,
  meta: Pick<Metadata, "type" | "size" | "signed" | "littleEndian" | "vlen" | "shape" | "chunks"> &
    Partial<Metadata>,
  attrs: Record<string, unknown>,
  filterIds: number[],
): ColumnInfo {
  const type = storedType(meta as Metadata, Object.keys(attrs));
  const shape = meta.shape ?? [];
  const filters = filterIds.map((id) => FILTER_NAMES[id] ?? `filter ${id}`);
  return {
    name,
    dtype: type.dtype as Dtype,
    shape: shape.slice(1),
    stringLength: type.stringLength,
    unit: typeof attrs.unit === "string" ? attrs.unit : undefined,
    description: typeof attrs.description === "string" ? attrs.description : undefined,
    chunks: meta.chunks,
    compression: compressionOf(filters),
    filters,
    storedAs: type.describe,
    attrs,
    // A scalar dataset (shape []) is one value, not a column of rows.
    rows: shape.length === 0 ? 1 : shape[0],
  };
}

function readAttrs(entity: { attrs: Record<string, { value: unknown }> }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, a] of Object.entries(entity.attrs)) {
    const v = a.value;
    out[k] = ArrayBuffer.isView(v) && (v as Uint8Array).length === 1 ? (v as Uint8Array)[0] : v;
  }
  return out;
}

/** Brings what h5wasm returns to the column model's JS type (bool enum → Uint8Array, strings unpadded). */
function normalise(
  info: ColumnInfo,
  raw: unknown,
  place: { file: string; column: string },
): ColumnValues {
  if (info.dtype === "string") {
    if (!Array.isArray(raw)) throw new SchemaError("string column did not read as strings", place);
    // Fixed-length strings may be space- or NULL-padded; FITS habits leave trailing spaces.
    return info.stringLength === undefined
      ? (raw as string[])
      : (raw as string[]).map((s) => s.replace(/\0+$/, ""));
  }
  if (info.dtype === "bool") {
    const v = raw as Int8Array | Uint8Array;
    return new Uint8Array(v.buffer, v.byteOffset, v.length);
  }
  if (!ArrayBuffer.isView(raw)) throw new SchemaError(`expected ${info.dtype} values`, place);
  return raw as ColumnValues;
}

/**
 * A file whose metadata was read without libhdf5 (hdf5-metadata.ts) and whose every column the
 * fast path reads whole: every chunk stored, so no fill value is ever needed.
 */
class OwnFile {
  readonly names: string[];
  private readonly columns = new Map<string, { info: ColumnInfo; column: DirectColumn }>();

  private constructor(
    readonly raw: DirectFile,
    readonly attrs: Record<string, string | number>,
    datasets: DatasetMetadata[],
  ) {
    this.names = datasets.map((d) => d.name);
    for (const d of datasets) {
      const place = { file: raw.path, column: d.name };
      const info = infoOf(d);
      if ((info.dtype as string) === "unsupported") throw new NotCovered(info.storedAs);
      const column = new DirectColumn(raw, d.layout, place);
      if (!stored(column, d.layout)) throw new NotCovered("chunks never written");
      this.columns.set(d.name, { info, column });
    }
  }

  /**
   * The file opened this way, or null: its structures are not the ones read here, or are
   * damaged (libhdf5 then opens it, or reports the damage as it always has).
   */
  static open(path: string): OwnFile | null {
    let raw: DirectFile;
    try {
      raw = new DirectFile(path);
    } catch {
      return null;
    }
    try {
      const meta = readFileMetadata(raw, { file: path });
      return new OwnFile(raw, meta.attrs, meta.datasets);
    } catch {
      raw.close();
      return null;
    }
  }

  infos(): ColumnInfo[] {
    return [...this.columns.values()].map((c) => c.info);
  }

  info(name: string): ColumnInfo | undefined {
    return this.columns.get(name)?.info;
  }

  column(name: string): DirectColumn | null {
    return this.columns.get(name)?.column ?? null;
  }

  /** The file's length in bytes. */
  get length(): number {
    return this.raw.length;
  }

  close(): void {
    this.raw.close();
  }
}

/** Every chunk of the column's grid is stored (or its contiguous storage allocated). */
function stored(column: DirectColumn, layout: DirectLayout): boolean {
  const { storage, dims } = layout;
  if (storage.kind === "contiguous") return storage.address !== UNDEFINED;
  let cells = 1;
  for (let i = 0; i < dims.length; i++) cells *= Math.ceil(dims[i] / storage.chunk[i]);
  return column.storedChunks() === cells;
}

/** A column's description from its parsed header, as {@link describe} gives it from h5wasm. */
function infoOf(d: DatasetMetadata): ColumnInfo {
  const { layout } = d;
  const meta = {
    type: layout.typeClass,
    size: layout.elementSize,
    signed: layout.signed,
    littleEndian: !layout.bigEndian,
    vlen: false,
    shape: layout.dims,
    chunks: layout.storage.kind === "chunked" ? layout.storage.chunk : null,
  };
  return columnInfo(
    d.name,
    meta,
    { ...d.attrs },
    layout.filters.map((f) => f.id),
  );
}
