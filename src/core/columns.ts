// The in-memory column model shared by the HDF5 reader and writer.
// A batch holds whole rows column by column; a column with per-row shape [a, b] stores row i
// at values[i*a*b .. (i+1)*a*b] (row-major, axis 0 the row), as HDF5 and numpy lay it out.

import { ColumnLengthError, SchemaError } from "./errors.ts";
import { int64Words } from "./words.ts";

export const DTYPES = [
  "float32",
  "float64",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "bool",
  "string",
] as const;
export type Dtype = (typeof DTYPES)[number];

/** "an int64", "a float32", "a uint8": a dtype (or its text) with its article, for messages. */
export function aDtype(dtype: string): string {
  return `${dtype.startsWith("i") ? "an" : "a"} ${dtype}`;
}

export interface ColumnSpec {
  name: string;
  dtype: Dtype;
  /** Shape of one row: [] for a scalar, [L] for a spectrum, [bands, H, W] for an image. */
  shape: number[];
  /** Strings only: fixed length in UTF-8 bytes; absent means variable-length. */
  stringLength?: number;
  unit?: string;
  description?: string;
}

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** bool columns are Uint8Array of 0/1; strings are string[]. */
export type ColumnValues = NumericArray | string[];
export type ColumnBatch = Record<string, ColumnValues>;

type ArrayCtor = { new (n: number): NumericArray; BYTES_PER_ELEMENT: number };

const CTORS: Record<Exclude<Dtype, "string">, ArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** The typed-array class holding values of a numeric or bool dtype. */
export function arrayClass(dtype: Exclude<Dtype, "string">): ArrayCtor {
  return CTORS[dtype];
}

export function isDtype(x: unknown): x is Dtype {
  return typeof x === "string" && (DTYPES as readonly string[]).includes(x);
}

/** Number of values in one row of the column. */
export function valuesPerRow(spec: Pick<ColumnSpec, "shape">): number {
  let n = 1;
  for (const d of spec.shape) n *= d;
  return n;
}

/** Bytes of one value of a numeric dtype (bool: one byte). */
export function dtypeBytes(dtype: Exclude<Dtype, "string">): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

/** Bytes of one row as stored (variable-length strings are estimated at 16 bytes). */
export function bytesPerRow(spec: ColumnSpec): number {
  const per =
    spec.dtype === "string" ? (spec.stringLength ?? 16) : CTORS[spec.dtype].BYTES_PER_ELEMENT;
  return per * valuesPerRow(spec);
}

/**
 * Bytes of one row, exactly (bigint): for sizes taken from outside (a spec, a header) before
 * they are checked against a memory budget, where a float product could round or overflow.
 */
export function exactBytesPerRow(spec: ColumnSpec): bigint {
  const per =
    spec.dtype === "string" ? (spec.stringLength ?? 16) : CTORS[spec.dtype].BYTES_PER_ELEMENT;
  let n = BigInt(per);
  for (const d of spec.shape) n *= BigInt(d);
  return n;
}

export function allocate(spec: ColumnSpec, rows: number): ColumnValues {
  const n = rows * valuesPerRow(spec);
  if (spec.dtype === "string") return new Array<string>(n).fill("");
  return new CTORS[spec.dtype](n);
}

/** Does `values` have the JS type the column's dtype calls for? */
export function matchesDtype(spec: ColumnSpec, values: ColumnValues): boolean {
  if (spec.dtype === "string") return Array.isArray(values);
  return values instanceof CTORS[spec.dtype];
}

function typeName(values: unknown): string {
  if (Array.isArray(values)) return "Array";
  if (values === null || values === undefined) return String(values);
  return (values as object).constructor?.name ?? typeof values;
}

/**
 * Checks that a batch has every column of `specs` with the right JS type and a whole number of
 * rows, all columns the same row count. Returns that row count.
 */
export function batchRows(batch: ColumnBatch, specs: ColumnSpec[], file?: string): number {
  let rows = -1;
  let first = "";
  for (const spec of specs) {
    const values = Object.hasOwn(batch, spec.name) ? batch[spec.name] : undefined;
    if (values === undefined) {
      throw new SchemaError("batch lacks a column", { file, column: spec.name });
    }
    if (!matchesDtype(spec, values)) {
      throw new SchemaError(
        `expected ${spec.dtype === "string" ? "string[]" : CTORS[spec.dtype].name} for dtype ${spec.dtype}, found ${typeName(values)}`,
        { file, column: spec.name },
      );
    }
    const per = valuesPerRow(spec);
    if (values.length % per !== 0) {
      throw new ColumnLengthError(
        `${values.length} values is not a whole number of rows of shape [${spec.shape.join(", ")}]`,
        { file, column: spec.name },
      );
    }
    const n = values.length / per;
    if (rows === -1) {
      rows = n;
      first = spec.name;
    } else if (n !== rows) {
      throw new ColumnLengthError(`has ${n} rows but column "${first}" has ${rows}`, {
        file,
        column: spec.name,
      });
    }
  }
  return Math.max(rows, 0);
}

/** Rows [start, end) of a column (a view for typed arrays, a copy for strings). */
export function sliceRows(
  values: ColumnValues,
  per: number,
  start: number,
  end: number,
): ColumnValues {
  return Array.isArray(values)
    ? values.slice(start * per, end * per)
    : values.subarray(start * per, end * per);
}

/** The rows at `indices` (in that order) of a column. */
export function gatherRows(
  values: ColumnValues,
  per: number,
  indices: ArrayLike<number>,
): ColumnValues {
  const n = indices.length;
  if (Array.isArray(values)) {
    const out = new Array<string>(n * per);
    for (let i = 0; i < n; i++) {
      const src = indices[i] * per;
      for (let j = 0; j < per; j++) out[i * per + j] = values[src + j];
    }
    return out;
  }
  const ctor = values.constructor as ArrayCtor;
  const out = new ctor(n * per);
  if (per === 1 && values.BYTES_PER_ELEMENT === 8 && values.byteOffset % 4 === 0) {
    // 64-bit values moved as two 32-bit words: no BigInt made per value, NaN payloads kept.
    const o = int64Words(out as BigInt64Array);
    const v = int64Words(values as BigInt64Array);
    for (let i = 0; i < n; i++) {
      const src = 2 * indices[i];
      o[2 * i] = v[src];
      o[2 * i + 1] = v[src + 1];
    }
  } else if (per === 1) {
    // biome-ignore lint/suspicious/noExplicitAny: same element type on both sides
    const o = out as any;
    // biome-ignore lint/suspicious/noExplicitAny: same element type on both sides
    const v = values as any;
    for (let i = 0; i < n; i++) o[i] = v[indices[i]];
  } else {
    // biome-ignore lint/suspicious/noExplicitAny: same element type on both sides
    const o = out as any;
    for (let i = 0; i < n; i++)
      o.set(values.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
  }
  return out;
}

/**
 * Row i of the result is row `rowOf[i]` of `sources[sourceOf[i]]` (columns of one element type),
 * for i < n: the gather of a k-way merge. Numeric values move as their bits (32-bit words where
 * they fit), so no BigInt is made per value and NaN payloads are kept.
 */
export function gatherRowsFrom(
  sources: ColumnValues[],
  per: number,
  sourceOf: ArrayLike<number>,
  rowOf: ArrayLike<number>,
  n: number,
): ColumnValues {
  const first = sources[0];
  if (Array.isArray(first)) {
    const out = new Array<string>(n * per);
    for (let i = 0; i < n; i++) {
      const v = sources[sourceOf[i]] as string[];
      const src = rowOf[i] * per;
      for (let j = 0; j < per; j++) out[i * per + j] = v[src + j];
    }
    return out;
  }
  const ctor = first.constructor as ArrayCtor;
  const out = new ctor(n * per);
  const rowBytes = first.BYTES_PER_ELEMENT * per;
  // The narrowest unit that every row's bytes are a whole number of, and every view aligns to.
  const aligned = (b: number) =>
    rowBytes % b === 0 &&
    out.byteOffset % b === 0 &&
    sources.every((v) => (v as ArrayBufferView).byteOffset % b === 0);
  const unit = aligned(4) ? 4 : aligned(2) ? 2 : 1;
  const w = rowBytes / unit;
  const o = wordsOf(out, unit);
  const views = sources.map((v) => wordsOf(v as NumericArray, unit));
  if (w === 1) {
    for (let i = 0; i < n; i++) o[i] = views[sourceOf[i]]![rowOf[i]]!;
  } else if (w === 2) {
    for (let i = 0; i < n; i++) {
      const v = views[sourceOf[i]]!;
      const src = 2 * rowOf[i];
      o[2 * i] = v[src]!;
      o[2 * i + 1] = v[src + 1]!;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const src = rowOf[i] * w;
      o.set(views[sourceOf[i]]!.subarray(src, src + w), i * w);
    }
  }
  return out;
}

/** Unsigned words of `unit` bytes over a numeric array's bytes (aligned to `unit`). */
type Words = Uint8Array | Uint16Array | Uint32Array;

function wordsOf(v: NumericArray, unit: 1 | 2 | 4): Words {
  const View = unit === 4 ? Uint32Array : unit === 2 ? Uint16Array : Uint8Array;
  return new View(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength / unit);
}

/**
 * The inverse of a gather, for one value per row: row i of `src` goes to row `slotOf[i]` of
 * `dsts[destOf[i]]` (arrays of src's type), rows with a negative destination skipped, for i < n.
 * Values move as their bits (32-bit words for 8-byte values), so no BigInt is made and NaN
 * payloads are kept.
 */
export function scatterRowsTo(
  src: NumericArray,
  dsts: NumericArray[],
  destOf: Int32Array,
  slotOf: Int32Array,
  n: number,
): void {
  const size = src.BYTES_PER_ELEMENT;
  const unit = size >= 4 ? 4 : (size as 1 | 2);
  const from = wordsOf(src, unit);
  const to = dsts.map((d) => wordsOf(d, unit));
  // Two loops, so each stays simple for V8: one word a value, or two.
  if (size === 8) {
    for (let i = 0; i < n; i++) {
      const d = destOf[i]!;
      if (d < 0) continue;
      const o = to[d]!;
      const s = 2 * slotOf[i]!;
      o[s] = from[2 * i]!;
      o[s + 1] = from[2 * i + 1]!;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const d = destOf[i]!;
      if (d >= 0) to[d]![slotOf[i]!] = from[i]!;
    }
  }
}

/** Concatenates pieces of one column. */
export function concatValues(pieces: ColumnValues[]): ColumnValues {
  if (pieces.length === 1) return pieces[0];
  if (pieces.length === 0) return [];
  if (Array.isArray(pieces[0])) return ([] as string[]).concat(...(pieces as string[][]));
  let n = 0;
  for (const p of pieces) n += p.length;
  const ctor = pieces[0].constructor as ArrayCtor;
  const out = new ctor(n);
  let at = 0;
  for (const p of pieces) {
    // biome-ignore lint/suspicious/noExplicitAny: pieces share one element type
    (out as any).set(p, at);
    at += p.length;
  }
  return out;
}

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Whether `x` is finite once stored as float32 (a float64 beyond ±FLOAT32_MAX becomes ±Infinity
 * there, e.g. an inverse variance computed from a tiny variance).
 */
export function isFiniteFloat32(x: number): boolean {
  return Math.abs(x) <= FLOAT32_MAX;
}

/** UTF-8 byte length, for checking fixed-length string columns before HDF5 truncates silently. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Copies one row of `per` values from src (value offset srcAt) to dst (value offset dstAt). */
export function copyRow(
  src: ColumnValues,
  srcAt: number,
  dst: ColumnValues,
  dstAt: number,
  per: number,
): void {
  if (Array.isArray(src)) {
    const d = dst as string[];
    for (let j = 0; j < per; j++) d[dstAt + j] = src[srcAt + j];
  } else if (per === 1) {
    // Same element type on both sides; the cast only satisfies the type checker.
    (dst as Float64Array)[dstAt] = (src as Float64Array)[srcAt];
  } else {
    (dst as Float64Array).set((src as Float64Array).subarray(srcAt, srcAt + per), dstAt);
  }
}
