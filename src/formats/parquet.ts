// Parquet files in the storage column model. Writing goes through apache-arrow (columns become
// Arrow record batches without copying values) and parquet-wasm (the Rust arrow-rs Parquet
// writer): chosen over hyparquet-writer by measurement (BENCHMARKS.md, "Parquet writers").
// Array columns become Arrow fixed-size lists of the flattened row (row-major), with the row
// shape, unit and dtype in the field's metadata; the Arrow schema is stored in the file
// (`ARROW:schema`), so pyarrow gets the fixed-size lists back and DuckDB reads plain lists.
// Reading (used for HATS catalogs) uses parquet-wasm too, by row group and column.

import { openAsBlob } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import * as arrow from "apache-arrow";
import { discardFile, publishFile, tempPathFor } from "../core/atomic-file.ts";
import {
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  type Dtype,
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
import {
  parquetWasm,
  type WasmParquetFile,
  type WasmRecordBatch,
  type WasmWriterProperties,
} from "./parquet-wasm.ts";

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

function arrowScalarType(spec: ColumnSpec): arrow.DataType {
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
 * metadata. Columns are not nullable (the column model has no nulls).
 */
function arrowSchemaFor(
  specs: ColumnSpec[],
  metadata: Record<string, string> = {},
  file?: string,
): arrow.Schema {
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

function leafData(spec: ColumnSpec, values: ColumnValues): arrow.Data {
  const type = arrowScalarType(spec);
  if (spec.dtype === "string") {
    return arrow.vectorFromArray(values as string[], new arrow.Utf8()).data[0];
  }
  if (spec.dtype === "bool") {
    return arrow.makeData({
      type: type as arrow.Bool,
      length: values.length,
      data: packBits(values as Uint8Array),
    });
  }
  // biome-ignore lint/suspicious/noExplicitAny: the typed array matches the Arrow type by construction
  return arrow.makeData({ type: type as any, length: values.length, data: values as any });
}

/** One batch of the column model as an Arrow record batch of `schema` (values are not copied). */
function toArrowBatch(
  schema: arrow.Schema,
  specs: ColumnSpec[],
  batch: ColumnBatch,
  file?: string,
): arrow.RecordBatch {
  const n = batchRows(batch, specs, file);
  const children = specs.map((spec, i) => {
    const leaf = leafData(spec, batch[spec.name]);
    if (spec.shape.length === 0) return leaf;
    return arrow.makeData({
      type: schema.fields[i].type as arrow.FixedSizeList,
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
    const per = s.dtype === "string" ? (s.stringLength ?? 16) : bytesOf(s.dtype);
    rowBytes += per * valuesPerRow(s);
  }
  return Math.max(
    1,
    Math.min(MAX_ROW_GROUP_ROWS, Math.floor(ROW_GROUP_BYTES / Math.max(1, rowBytes))),
  );
}

function bytesOf(dtype: Exclude<Dtype, "string">): number {
  return {
    float32: 4,
    float64: 8,
    int8: 1,
    int16: 2,
    int32: 4,
    int64: 8,
    uint8: 1,
    uint16: 2,
    uint32: 4,
    uint64: 8,
    bool: 1,
  }[dtype];
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

/** A Parquet file opened for reading (footer and schema read; columns read on demand). */
export class ParquetReader {
  readonly path: string;
  /** The columns as the column model sees them (dtype, shape from fixed-size lists, unit). */
  readonly specs: ColumnSpec[];
  readonly rows: number;
  readonly rowGroups: number;
  /** Key-value metadata of the Arrow schema. */
  readonly metadata: Record<string, string>;
  private readonly file: WasmParquetFile;

  private constructor(path: string, file: WasmParquetFile, schema: arrow.Schema) {
    this.path = path;
    this.file = file;
    const md = file.metadata();
    const fmd = md.fileMetadata();
    this.rows = Number(fmd.numRows());
    this.rowGroups = md.numRowGroups();
    this.metadata = Object.fromEntries(schema.metadata);
    this.specs = schema.fields.map((f) => specOfField(f, path));
  }

  static async open(path: string): Promise<ParquetReader> {
    let blob: Blob;
    try {
      blob = await openAsBlob(path);
    } catch (e) {
      throw new CorruptFileError(
        `cannot open ${path}: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
    try {
      const file = await parquetWasm().ParquetFile.fromFile(blob);
      const schema = arrow.tableFromIPC(file.schema().intoIPCStream()).schema;
      return new ParquetReader(path, file, schema);
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
    for (const n of names) {
      if (!this.specs.some((s) => s.name === n))
        throw new SchemaError(
          `no such column; the file has: ${this.specs.map((s) => s.name).join(", ")}`,
          { file: this.path, column: n },
        );
    }
    let table: arrow.Table;
    try {
      const t = await this.file.read({ columns: names, offset: range.offset, limit: range.limit });
      table = arrow.tableFromIPC(t.intoIPCStream());
    } catch (e) {
      throw new CorruptFileError(
        `cannot read columns ${names.join(", ")}: ${(e as Error)?.message ?? String(e)}`,
        { file: this.path },
        { cause: e },
      );
    }
    const out: ColumnBatch = {};
    for (const n of names) {
      const spec = this.specs.find((s) => s.name === n)!;
      out[n] = columnValues(table.getChild(n)!, spec, this.path);
    }
    return { length: table.numRows, columns: out };
  }

  close(): void {
    this.file.free();
  }
}

function dtypeOfArrow(type: arrow.DataType, file: string, column: string): Dtype {
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

function specOfField(field: arrow.Field, file: string): ColumnSpec {
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

/** An Arrow column as the column model's values; nulls become NaN (floats) or an error. */
function columnValues(vector: arrow.Vector, spec: ColumnSpec, file: string): ColumnValues {
  let leaf: arrow.Vector = vector;
  if (vector.nullCount > 0 && spec.shape.length > 0)
    throw new FormatError("null rows in an array column are not supported", {
      file,
      column: spec.name,
    });
  const leafData: arrow.Data[] = [];
  for (const d of vector.data) {
    let x: arrow.Data = d;
    while (arrow.DataType.isFixedSizeList(x.type)) {
      const size = (x.type as arrow.FixedSizeList).listSize;
      x = x.children[0].slice(x.offset * size, x.length * size);
    }
    leafData.push(x);
  }
  leaf = new arrow.Vector(leafData);
  if (spec.dtype === "string") {
    const out = new Array<string>(leaf.length);
    for (let i = 0; i < leaf.length; i++) out[i] = leaf.get(i) ?? "";
    return out;
  }
  if (spec.dtype === "bool") {
    const out = new Uint8Array(leaf.length);
    for (let i = 0; i < leaf.length; i++) out[i] = leaf.get(i) ? 1 : 0;
    return out;
  }
  const values = leaf.toArray() as ColumnValues;
  if (leaf.nullCount > 0) {
    if (spec.dtype !== "float32" && spec.dtype !== "float64")
      throw new FormatError(`${leaf.nullCount} null values in an integer column`, {
        file,
        column: spec.name,
      });
    const v = values as Float64Array;
    for (let i = 0; i < leaf.length; i++) if (!leaf.isValid(i)) v[i] = Number.NaN;
  }
  return values;
}
