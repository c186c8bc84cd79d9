// Parquet files in the storage column model. Writing goes through apache-arrow (columns become
// Arrow record batches without copying values) and parquet-wasm (the Rust arrow-rs Parquet
// writer): chosen over hyparquet-writer by measurement (BENCHMARKS.md, "Parquet writers").
// Array columns become Arrow fixed-size lists of the flattened row (row-major), with the row
// shape, unit and dtype in the field's metadata; the Arrow schema is stored in the file
// (`ARROW:schema`), so pyarrow gets the fixed-size lists back and DuckDB reads plain lists.
// Reading (used for HATS catalogs) uses hyparquet, pure JavaScript, whose errors on a damaged
// file can be caught (parquet-wasm's reader aborts the process on damaged data pages).

import { type FileHandle, open, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import type * as Arrow from "apache-arrow";
import type { AsyncBuffer, FileMetaData, SchemaTree } from "hyparquet";
import { discardFile, publishFile, tempPathFor } from "../core/atomic-file.ts";
import {
  allocate,
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  type Dtype,
  dtypeBytes,
  isDtype,
  valuesPerRow,
} from "../core/columns.ts";
import {
  AstroPileError,
  CorruptFileError,
  FormatError,
  SchemaError,
  UsageError,
  WriteError,
} from "../core/errors.ts";
import { parquetWasm, type WasmRecordBatch, type WasmWriterProperties } from "./parquet-wasm.ts";

const require = createRequire(import.meta.url);
let arrowModule: typeof Arrow | undefined;

/**
 * apache-arrow, loaded on first use: importing it took ~85 ms of every command and script,
 * Parquet or not. Its CommonJS build, so synchronous callers can have it; every use in AstroPile
 * goes through here, so one copy is ever loaded (Arrow's classes are compared by identity).
 */
export function arrowLib(): typeof Arrow {
  arrowModule ??= require("apache-arrow") as typeof Arrow;
  return arrowModule;
}

/**
 * hyparquet and its codecs, loaded on first use (ESM only, so asynchronously): a ParquetReader
 * is made by `open`, which loads them first.
 */
async function hyparquetLib() {
  const [hyparquet, { compressors }] = await Promise.all([
    import("hyparquet"),
    import("hyparquet-compressors"),
  ]);
  return { ...hyparquet, compressors };
}

/** `arrow.X` reads X from the module loaded on first use (see arrowLib). */
const arrow = new Proxy({} as typeof Arrow, {
  get: (_, name) => arrowLib()[name as keyof typeof Arrow],
});

/** Compression codecs of the Parquet writer. */
export type ParquetCompression = "zstd" | "snappy" | "none";

export interface ParquetWriteOptions {
  /** Codec of every column chunk. Default "zstd". */
  compression?: ParquetCompression;
  /**
   * Rows per row group. Default: as many rows as fill about 64 MiB uncompressed (at most
   * 1 048 576, at least 1), so a reader can fetch a row group of images or of catalog rows at a
   * sensible size.
   */
  rowGroupRows?: number;
  /** Extra key-value pairs stored in the Arrow schema's metadata (and so in the file). */
  metadata?: Record<string, string>;
  /** Called after each batch handed to the writer, with the rows handed so far. */
  onProgress?: (rows: number) => void;
}

export interface ParquetWriteResult {
  path: string;
  rows: number;
  /** Bytes of the file written. */
  bytes: number;
}

/** Target uncompressed bytes of one row group. */
const ROW_GROUP_BYTES = 64 * 2 ** 20;
const MAX_ROW_GROUP_ROWS = 1 << 20;

function arrowScalarType(spec: ColumnSpec): Arrow.DataType {
  switch (spec.dtype) {
    case "float32":
      return new arrow.Float32();
    case "float64":
      return new arrow.Float64();
    case "int8":
      return new arrow.Int8();
    case "int16":
      return new arrow.Int16();
    case "int32":
      return new arrow.Int32();
    case "int64":
      return new arrow.Int64();
    case "uint8":
      return new arrow.Uint8();
    case "uint16":
      return new arrow.Uint16();
    case "uint32":
      return new arrow.Uint32();
    case "uint64":
      return new arrow.Uint64();
    case "bool":
      return new arrow.Bool();
    case "string":
      return new arrow.Utf8();
  }
}

/** Checks a column spec can be written: known dtype, whole non-negative shape. */
function checkSpec(spec: ColumnSpec, file?: string): void {
  if (!isDtype(spec.dtype)) {
    throw new SchemaError(`dtype "${String(spec.dtype)}" cannot be written to Parquet`, {
      file,
      column: spec.name,
    });
  }
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new SchemaError(`shape [${String(spec.shape)}] is not a list of positive integers`, {
      file,
      column: spec.name,
    });
  }
  if (valuesPerRow(spec) > 2 ** 31 - 1) {
    throw new SchemaError(`rows of shape [${spec.shape.join(", ")}] are too large for Parquet`, {
      file,
      column: spec.name,
    });
  }
}

/**
 * The Arrow schema of a Parquet export: scalars as they are, array columns as fixed-size lists
 * of the flattened row, with `shape` (JSON), `dtype`, `unit` and `description` in the field
 * metadata. Columns are not nullable (the column model has no nulls). Also the schema of the
 * service's Arrow answers.
 * @internal
 */
export function arrowSchemaFor(
  specs: ColumnSpec[],
  metadata: Record<string, string> = {},
  file?: string,
): Arrow.Schema {
  const names = new Set<string>();
  const fields = specs.map((spec) => {
    checkSpec(spec, file);
    if (names.has(spec.name))
      throw new SchemaError("column named twice", { file, column: spec.name });
    names.add(spec.name);
    const meta = new Map<string, string>([
      ["dtype", spec.dtype],
      ["shape", JSON.stringify(spec.shape)],
    ]);
    if (spec.unit) meta.set("unit", spec.unit);
    if (spec.description) meta.set("description", spec.description);
    const scalar = arrowScalarType(spec);
    const type =
      spec.shape.length === 0
        ? scalar
        : new arrow.FixedSizeList(valuesPerRow(spec), new arrow.Field("item", scalar, false));
    return new arrow.Field(spec.name, type, false, meta);
  });
  return new arrow.Schema(fields, new Map(Object.entries(metadata)));
}

function packBits(values: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) if (values[i]) out[i >> 3] |= 1 << (i & 7);
  return out;
}

function leafData(spec: ColumnSpec, values: ColumnValues): Arrow.Data {
  const type = arrowScalarType(spec);
  if (spec.dtype === "string") {
    return arrow.vectorFromArray(values as string[], new arrow.Utf8()).data[0];
  }
  if (spec.dtype === "bool") {
    return arrow.makeData({
      type: type as Arrow.Bool,
      length: values.length,
      data: packBits(values as Uint8Array),
    });
  }
  // biome-ignore lint/suspicious/noExplicitAny: the typed array matches the Arrow type by construction
  return arrow.makeData({ type: type as any, length: values.length, data: values as any });
}

/**
 * @internal One batch of the column model as an Arrow record batch of `schema` (values are not
 * copied).
 */
export function toArrowBatch(
  schema: Arrow.Schema,
  specs: ColumnSpec[],
  batch: ColumnBatch,
  file?: string,
): Arrow.RecordBatch {
  const n = batchRows(batch, specs, file);
  const children = specs.map((spec, i) => {
    const leaf = leafData(spec, batch[spec.name]);
    if (spec.shape.length === 0) return leaf;
    return arrow.makeData({
      type: schema.fields[i].type as Arrow.FixedSizeList,
      length: n,
      child: leaf,
    });
  });
  return new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children }),
  );
}

function writerProperties(
  compression: ParquetCompression,
  rowGroupRows: number,
  metadata: Record<string, string>,
): WasmWriterProperties {
  const pw = parquetWasm();
  const codec =
    compression === "zstd"
      ? pw.Compression.ZSTD
      : compression === "snappy"
        ? pw.Compression.SNAPPY
        : pw.Compression.UNCOMPRESSED;
  let builder = new pw.WriterPropertiesBuilder()
    .setCompression(codec)
    .setMaxRowGroupSize(rowGroupRows)
    .setCreatedBy("astropile (parquet-wasm)");
  if (Object.keys(metadata).length > 0)
    builder = builder.setKeyValueMetadata(new Map(Object.entries(metadata)));
  return builder.build();
}

/** Default rows per row group for rows of these columns (about 64 MiB a group). */
export function defaultRowGroupRows(specs: ColumnSpec[]): number {
  let rowBytes = 0;
  for (const s of specs) {
    const per = s.dtype === "string" ? (s.stringLength ?? 16) : dtypeBytes(s.dtype);
    rowBytes += per * valuesPerRow(s);
  }
  return Math.max(
    1,
    Math.min(MAX_ROW_GROUP_ROWS, Math.floor(ROW_GROUP_BYTES / Math.max(1, rowBytes))),
  );
}

async function openTemp(path: string): Promise<{ handle: FileHandle; temp: string }> {
  const temp = tempPathFor(path);
  try {
    return { handle: await open(temp, "w"), temp };
  } catch (e) {
    throw new WriteError(
      `cannot write ${path}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
}

/**
 * Streams batches of the column model into one Parquet file at `path` (written under a
 * temporary name and renamed: a failure leaves no file and no temporary behind). Memory holds
 * one input batch and the row group being encoded. Every batch is checked against `specs`
 * (columns present, JS types, whole rows): a bad batch is a SchemaError / ColumnLengthError
 * naming the file and column.
 */
export async function writeParquetFile(
  path: string,
  specs: ColumnSpec[],
  batches: AsyncIterable<ColumnBatch> | Iterable<ColumnBatch>,
  options: ParquetWriteOptions = {},
): Promise<ParquetWriteResult> {
  const compression = options.compression ?? "zstd";
  if (!["zstd", "snappy", "none"].includes(compression))
    throw new UsageError(`compression "${compression}" is not one of zstd, snappy, none`);
  if (specs.length === 0)
    throw new SchemaError("a Parquet file needs at least one column", { file: path });
  const metadata = options.metadata ?? {};
  const schema = arrowSchemaFor(specs, metadata, path);
  const rowGroupRows = options.rowGroupRows ?? defaultRowGroupRows(specs);
  if (!(Number.isInteger(rowGroupRows) && rowGroupRows > 0))
    throw new UsageError(`rowGroupRows ${rowGroupRows} must be a positive integer`);
  const props = writerProperties(compression, rowGroupRows, metadata);
  const pw = parquetWasm();
  const { handle, temp } = await openTemp(path);
  let rows = 0;
  // An error thrown by the input (or by a batch check) is kept to rethrow as it is: the wasm
  // writer only sees a failed stream.
  let inputError: unknown;
  const iterator =
    Symbol.asyncIterator in batches
      ? (batches as AsyncIterable<ColumnBatch>)[Symbol.asyncIterator]()
      : (batches as Iterable<ColumnBatch>)[Symbol.iterator]();
  const nextWasmBatches = async (): Promise<WasmRecordBatch[] | null> => {
    for (;;) {
      const r = await iterator.next();
      if (r.done) return null;
      const rb = toArrowBatch(schema, specs, r.value, path);
      if (rb.numRows === 0) continue;
      rows += rb.numRows;
      const table = pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([rb]), "stream"));
      options.onProgress?.(rows);
      const out = table.recordBatches();
      table.free(); // the batches hold their own references; wasm memory is not kept for GC
      return out;
    }
  };
  try {
    const first = await nextWasmBatches();
    if (first === null) {
      // No rows: a file with the schema and no row group.
      const empty = pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(schema), "stream"));
      await handle.write(pw.writeParquet(empty, props));
    } else {
      let pending: WasmRecordBatch[] | null = first;
      const input = new ReadableStream<WasmRecordBatch>({
        async pull(ctrl) {
          try {
            const out = pending ?? (await nextWasmBatches());
            pending = null;
            if (out === null) ctrl.close();
            else for (const b of out) ctrl.enqueue(b);
          } catch (e) {
            inputError = e;
            ctrl.error(e);
          }
        },
      });
      const output = await pw.transformParquetStream(input, props);
      const reader = output.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await handle.write(value as Uint8Array);
      }
      // The wasm writer may end its output normally when its input fails: the input decides.
      if (inputError !== undefined) throw inputError;
    }
  } catch (e) {
    await discardFile(handle, temp);
    const err = inputError ?? e;
    if (err instanceof AstroPileError) throw err;
    throw new WriteError(
      `cannot write Parquet ${path}: ${(err as Error)?.message ?? String(err)}`,
      { file: path },
      { cause: err },
    );
  }
  await publishFile(handle, temp, path);
  return { path, rows, bytes: (await stat(path)).size };
}

/**
 * A Parquet file opened for reading: footer and schema read at open, columns read on demand.
 * Reading uses hyparquet (pure JavaScript, with hyparquet-compressors for zstd, gzip, brotli,
 * lz4): a damaged file throws an error that is caught and reported, where the wasm reader
 * aborted the process on damaged pages.
 */
export class ParquetReader {
  readonly path: string;
  /** The columns as the column model sees them (dtype, shape from fixed-size lists, unit). */
  readonly specs: ColumnSpec[];
  /** Columns of types the column model has no dtype for (timestamps, nested lists...): not readable. */
  readonly unsupported: string[];
  readonly rows: number;
  readonly rowGroups: number;
  /** Key-value metadata of the file (the Arrow schema's metadata when the file has one). */
  readonly metadata: Record<string, string>;
  private readonly file: AsyncBuffer;
  private readonly footer: FileMetaData;
  private readonly lib: Awaited<ReturnType<typeof hyparquetLib>>;

  private constructor(
    path: string,
    file: AsyncBuffer,
    footer: FileMetaData,
    lib: Awaited<ReturnType<typeof hyparquetLib>>,
  ) {
    this.path = path;
    this.lib = lib;
    this.file = file;
    this.footer = footer;
    this.rows = Number(footer.num_rows);
    this.rowGroups = footer.row_groups.length;
    const kv = Object.fromEntries(
      (footer.key_value_metadata ?? []).map((k) => [k.key, k.value ?? ""]),
    );
    const arrowSchema = decodeArrowSchema(kv["ARROW:schema"]);
    this.metadata = arrowSchema ? Object.fromEntries(arrowSchema.metadata) : kv;
    const specs: ColumnSpec[] = [];
    const unsupported: string[] = [];
    const top = lib.parquetSchema(footer).children;
    for (const node of top) {
      const name = node.element.name;
      const field = arrowSchema?.fields.find((f) => f.name === name);
      try {
        specs.push(field ? specOfField(field, path) : specOfParquet(node, path));
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
        unsupported.push(name);
      }
    }
    this.specs = specs;
    this.unsupported = unsupported;
  }

  static async open(path: string): Promise<ParquetReader> {
    const lib = await hyparquetLib();
    let file: AsyncBuffer;
    try {
      file = await lib.asyncBufferFromFile(path);
    } catch (e) {
      throw new CorruptFileError(
        `cannot open: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
    try {
      return new ParquetReader(path, file, await lib.parquetMetadataAsync(file), lib);
    } catch (e) {
      if (e instanceof AstroPileError) throw e;
      throw new CorruptFileError(
        `not a readable Parquet file: ${(e as Error)?.message ?? String(e)}`,
        { file: path },
        { cause: e },
      );
    }
  }

  /** Rows [offset, offset + limit) of the named columns (default all) in the column model. */
  async read(
    columns?: string[],
    range: { offset?: number; limit?: number } = {},
  ): Promise<{ length: number; columns: ColumnBatch }> {
    const names = columns ?? this.specs.map((s) => s.name);
    const specs = names.map((n) => {
      const spec = this.specs.find((s) => s.name === n);
      if (!spec)
        throw new SchemaError(
          `no such column (or of a type AstroPile cannot read); the file has: ${this.specs.map((s) => s.name).join(", ")}`,
          { file: this.path, column: n },
        );
      return spec;
    });
    const start = Math.min(this.rows, Math.max(0, range.offset ?? 0));
    const end = Math.min(this.rows, start + (range.limit ?? this.rows));
    const n = end - start;
    const out: ColumnBatch = {};
    for (const s of specs) out[s.name] = allocate(s, n);
    const filled = new Map<string, number>(names.map((c) => [c, 0]));
    try {
      await this.lib.parquetRead({
        file: this.file,
        metadata: this.footer,
        columns: names,
        rowStart: start,
        rowEnd: end,
        compressors: this.lib.compressors,
        onChunk: (chunk) => {
          const spec = specs.find((s) => s.name === chunk.columnName);
          if (!spec) return;
          const lo = Math.max(chunk.rowStart, start);
          const hi = Math.min(chunk.rowEnd, end);
          if (hi <= lo) return;
          storeRows(
            spec,
            chunk.columnData,
            lo - chunk.rowStart,
            hi - lo,
            out[spec.name],
            lo - start,
            this.path,
          );
          filled.set(spec.name, (filled.get(spec.name) ?? 0) + (hi - lo));
        },
      });
    } catch (e) {
      if (e instanceof AstroPileError) throw e;
      throw new CorruptFileError(
        `cannot read columns ${names.join(", ")}: ${(e as Error)?.message ?? String(e)}`,
        { file: this.path },
        { cause: e },
      );
    }
    for (const [c, got] of filled) {
      if (got !== n)
        throw new CorruptFileError(`column gave ${got} of ${n} rows`, {
          file: this.path,
          column: c,
        });
    }
    return { length: n, columns: out };
  }

  /** Nothing to release (kept for symmetry with the writers; reads hold no open descriptor). */
  close(): void {}
}

/** The Arrow schema stored in a Parquet file by Arrow writers (`ARROW:schema`, base64 IPC). */
function decodeArrowSchema(value: string | undefined): Arrow.Schema | null {
  if (!value) return null;
  try {
    return arrow.tableFromIPC(Buffer.from(value, "base64")).schema;
  } catch {
    return null; // a schema we cannot decode: fall back to the Parquet schema
  }
}

const PARQUET_TYPES: Record<string, Dtype> = {
  BOOLEAN: "bool",
  INT32: "int32",
  INT64: "int64",
  FLOAT: "float32",
  DOUBLE: "float64",
};
const CONVERTED: Record<string, Dtype> = {
  INT_8: "int8",
  INT_16: "int16",
  INT_32: "int32",
  INT_64: "int64",
  UINT_8: "uint8",
  UINT_16: "uint16",
  UINT_32: "uint32",
  UINT_64: "uint64",
  UTF8: "string",
};

/** A scalar column of a Parquet file without an Arrow schema. */
function specOfParquet(node: SchemaTree, file: string): ColumnSpec {
  const e = node.element;
  const name = e.name;
  if (node.children.length > 0 || e.repetition_type === "REPEATED")
    throw new SchemaError("nested or repeated columns need the Arrow schema", {
      file,
      column: name,
    });
  const lt = e.logical_type as { type?: string; bitWidth?: number; isSigned?: boolean } | undefined;
  let dtype: Dtype | undefined;
  if (lt?.type === "INTEGER" && lt.bitWidth)
    dtype = `${lt.isSigned ? "int" : "uint"}${lt.bitWidth}` as Dtype;
  else if (lt?.type === "STRING") dtype = "string";
  else if (e.converted_type) dtype = CONVERTED[e.converted_type];
  else if (e.type) dtype = PARQUET_TYPES[e.type];
  if (!dtype)
    throw new SchemaError(`Parquet type ${e.type} is not supported`, { file, column: name });
  return { name, dtype, shape: [] };
}

/** Writes `count` rows of a decoded chunk (from row `from`) into the output at row `at`. */
function storeRows(
  spec: ColumnSpec,
  data: ArrayLike<unknown>,
  from: number,
  count: number,
  out: ColumnValues,
  at: number,
  file: string,
): void {
  const per = valuesPerRow(spec);
  const o = out as unknown as unknown[];
  const store = (value: unknown, k: number) => {
    if (value === null || value === undefined) {
      if (spec.dtype === "float32" || spec.dtype === "float64") o[k] = Number.NaN;
      else if (spec.dtype === "string") o[k] = "";
      else
        throw new FormatError(`null value in a ${spec.dtype} column`, {
          file,
          column: spec.name,
          detail: `row ${Math.floor(k / per)}`,
        });
    } else if (spec.dtype === "bool") o[k] = value ? 1 : 0;
    else if (spec.dtype === "int64" || spec.dtype === "uint64") o[k] = BigInt(value as bigint);
    else if (spec.dtype === "string") o[k] = String(value);
    else o[k] = Number(value);
  };
  if (spec.shape.length === 0) {
    for (let i = 0; i < count; i++) store(data[from + i], at + i);
    return;
  }
  for (let i = 0; i < count; i++) {
    const flat: unknown[] = [];
    flatten(data[from + i], flat);
    if (flat.length !== per)
      throw new FormatError(`row holds ${flat.length} values, not ${per}`, {
        file,
        column: spec.name,
        detail: `row ${at + i}`,
      });
    for (let j = 0; j < per; j++) store(flat[j], (at + i) * per + j);
  }
}

function flatten(value: unknown, out: unknown[]): void {
  if (value !== null && typeof value === "object" && "length" in (value as object)) {
    const a = value as ArrayLike<unknown>;
    for (let i = 0; i < a.length; i++) flatten(a[i], out);
  } else out.push(value);
}

function dtypeOfArrow(type: Arrow.DataType, file: string, column: string): Dtype {
  if (arrow.DataType.isFloat(type)) {
    if (type.precision === arrow.Precision.SINGLE) return "float32";
    if (type.precision === arrow.Precision.DOUBLE) return "float64";
  } else if (arrow.DataType.isInt(type)) {
    return `${type.isSigned ? "int" : "uint"}${type.bitWidth}` as Dtype;
  } else if (arrow.DataType.isBool(type)) {
    return "bool";
  } else if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)) {
    return "string";
  }
  throw new SchemaError(`Arrow type ${String(type)} is not supported`, { file, column });
}

function specOfField(field: Arrow.Field, file: string): ColumnSpec {
  const meta = field.metadata;
  let type = field.type;
  const shape: number[] = [];
  while (arrow.DataType.isFixedSizeList(type)) {
    shape.push(type.listSize);
    type = type.children[0].type;
  }
  const dtype = dtypeOfArrow(type, file, field.name);
  let declared: number[] | undefined;
  try {
    const s = meta.get("shape");
    if (s) declared = JSON.parse(s);
  } catch {
    declared = undefined;
  }
  const total = shape.reduce((a, b) => a * b, 1);
  const useDeclared =
    Array.isArray(declared) &&
    declared.every((d) => Number.isInteger(d) && d > 0) &&
    declared.reduce((a, b) => a * b, 1) === total &&
    (shape.length > 0 || declared.length === 0);
  const spec: ColumnSpec = { name: field.name, dtype, shape: useDeclared ? declared! : shape };
  const unit = meta.get("unit");
  if (unit) spec.unit = unit;
  const description = meta.get("description");
  if (description) spec.description = description;
  return spec;
}
