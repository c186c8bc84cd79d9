// The safetensors format (HuggingFace): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the tensors' bytes, little-endian and
// row-major. The service sends one example this way ("arrays as binary with shape and dtype"):
// every array is a tensor any safetensors reader (Python, Rust, transformers.js) maps without
// parsing numbers, and the rest of the example (strings, nesting) rides in the metadata.

import { FormatError } from "../core/errors.ts";

type TypedArrayClass = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
};

/** Safetensors dtype names for the typed arrays the column model uses. */
const DTYPES: Record<SafetensorsDtype, TypedArrayClass> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  I16: Int16Array,
  U16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
  F32: Float32Array,
  F64: Float64Array,
};

/** The dtypes this reader and writer know (BOOL is one byte per value, as U8). */
export type SafetensorsDtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "I16"
  | "U16"
  | "I32"
  | "U32"
  | "I64"
  | "U64"
  | "F32"
  | "F64";

/** The values of a tensor, flat. */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** One tensor: its values flat in row-major order, and their shape. */
export interface Tensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

/** The tensors of a safetensors file and its string metadata. */
export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted when decoding (bytes): safetensors' own readers refuse above 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function dtypeOfArray(data: ArrayBufferView): SafetensorsDtype {
  for (const [name, ctor] of Object.entries(DTYPES)) {
    if (name === "BOOL") continue;
    if (data instanceof ctor) return name as SafetensorsDtype;
  }
  throw new FormatError(`no safetensors dtype for ${data.constructor.name}`);
}

/** Bytes of a safetensors file holding `tensors` (in the order given) and `metadata`. */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  if (!LITTLE_ENDIAN) throw new FormatError("safetensors output needs a little-endian machine");
  // Null-prototype records throughout: "__proto__" may name a column like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new FormatError(`"__metadata__" cannot name a tensor`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length)
      throw new FormatError(
        `tensor "${name}" has ${t.data.length} values for shape [${t.shape.join(", ")}]`,
      );
    if (dtypeOfArray(t.data) !== (t.dtype === "BOOL" ? "U8" : t.dtype))
      throw new FormatError(`tensor "${name}" is ${t.data.constructor.name}, not ${t.dtype}`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    parts.push(bytes);
    offset += bytes.length;
  }
  // The header is padded with spaces so the tensors start 8-byte aligned (as the Python writer
  // does), letting a reader map them without copying.
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) {
    json += " ".repeat(pad);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * The tensors and metadata of safetensors bytes. Every tensor is a copy (aligned, native
 * order). A header that is not what the format says (length past the end, bad JSON, unknown
 * dtype, shape and byte range that disagree, ranges overlapping or leaving holes) is a
 * FormatError naming `source` and the tensor.
 */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors bytes"): Safetensors {
  const fail = (message: string, detail?: string): never => {
    throw new FormatError(message, { file: source, detail });
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8)))
    fail(`header length ${headerLength} is past the end of the ${bytes.length} bytes`, "byte 0");
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(`the header is not JSON: ${(err as Error).message}`, "bytes 8..");
  }
  if (!isRecord(header)) return fail("the header is not a JSON object");
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = Object.create(null);
  const tensors: Record<string, Tensor> = Object.create(null);
  const ranges: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isRecord(entry)) fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`metadata "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const at = `tensor "${name}"`;
    if (!isRecord(entry)) return fail("not an object", at);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPES, dtype))
      fail(`dtype ${JSON.stringify(dtype)} is not one this reader knows`, at);
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      shape.length > 32
    )
      fail(`shape ${JSON.stringify(shape)} is not a list of sizes`, at);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1] ||
      offsets[1] > data.length
    )
      fail(
        `data_offsets ${JSON.stringify(offsets)} are not a range of the ${data.length} data bytes`,
        at,
      );
    const Ctor = DTYPES[dtype as SafetensorsDtype];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const [begin, end] = offsets as [number, number];
    if (count * Ctor.BYTES_PER_ELEMENT !== end - begin)
      fail(
        `shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${count * Ctor.BYTES_PER_ELEMENT} bytes, the range has ${end - begin}`,
        at,
      );
    const copy = data.slice(begin, end);
    if (!LITTLE_ENDIAN) fail("safetensors input needs a little-endian machine");
    tensors[name] = {
      dtype: dtype as SafetensorsDtype,
      shape: shape as number[],
      data: new Ctor(copy.buffer, 0, count),
    };
    ranges.push([begin, end, name]);
  }
  // The format forbids holes and overlaps: a file that has them was not written by a
  // safetensors writer, so its other claims are not trusted either.
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of ranges) {
    if (begin !== covered)
      fail(
        begin < covered
          ? "overlaps the tensor before it"
          : `leaves bytes ${covered}..${begin} unused`,
        `tensor "${name}"`,
      );
    covered = end;
  }
  if (covered !== data.length) fail(`the tensors use ${covered} of the ${data.length} data bytes`);
  return { tensors, metadata };
}

// ---- examples ---------------------------------------------------------------------------

/** Metadata key holding the example's structure (everything but the arrays' values). */
export const EXAMPLE_METADATA_KEY = "astropile.example";

interface TensorRef {
  $tensor: string;
}

function isNDArray(x: object): x is { data: ArrayBufferView; shape: number[] } {
  const o = x as { data?: unknown; shape?: unknown };
  return ArrayBuffer.isView(o.data) && Array.isArray(o.shape) && Object.keys(x).length === 2;
}

/**
 * An example (nested objects of scalars, strings, typed arrays and {data, shape} arrays) as
 * safetensors bytes: each array and each number is a tensor named by its path ("image.array",
 * "spectrum.flux", "redshift"), the rest and the nesting in the metadata under
 * {@link EXAMPLE_METADATA_KEY}; `metadata` adds string entries of the caller's.
 */
export function encodeExample(example: unknown, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, Tensor> = Object.create(null);
  const walk = (value: unknown, path: string): unknown => {
    if (value === null || value === undefined) return null;
    if (typeof value === "number") {
      tensors[path] = { dtype: "F64", shape: [], data: Float64Array.of(value) };
      return { $tensor: path };
    }
    if (typeof value === "bigint") {
      tensors[path] = { dtype: "I64", shape: [], data: BigInt64Array.of(value) };
      return { $tensor: path };
    }
    if (typeof value !== "object") return value;
    if (ArrayBuffer.isView(value)) {
      const data = value as TensorData;
      tensors[path] = { dtype: dtypeOfArray(data), shape: [data.length], data };
      return { $tensor: path };
    }
    if (isNDArray(value)) {
      const data = value.data as TensorData;
      tensors[path] = { dtype: dtypeOfArray(data), shape: value.shape, data };
      return { $tensor: path };
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}.${i}`));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: walk(v, path ? `${path}.${k}` : k),
        enumerable: true,
        writable: true,
      });
    }
    return out;
  };
  const skeleton = walk(example, "");
  return encodeSafetensors(tensors, {
    ...metadata,
    [EXAMPLE_METADATA_KEY]: JSON.stringify(skeleton),
  });
}

/**
 * The example that {@link encodeExample} wrote: numbers and bigints as scalars, arrays as
 * {data, shape} (1-D typed arrays given as typed arrays). FormatError when the bytes are not
 * safetensors or carry no example.
 */
export function decodeExample(bytes: Uint8Array, source = "safetensors bytes"): unknown {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const text = metadata[EXAMPLE_METADATA_KEY];
  if (text === undefined)
    throw new FormatError(`no "${EXAMPLE_METADATA_KEY}" metadata: not an example`, {
      file: source,
    });
  const rebuild = (node: unknown): unknown => {
    if (node === null || typeof node !== "object") return node;
    if (Array.isArray(node)) return node.map(rebuild);
    const ref = node as Partial<TensorRef>;
    if (typeof ref.$tensor === "string" && Object.keys(node).length === 1) {
      const t = tensors[ref.$tensor];
      if (!t)
        throw new FormatError(`the example names tensor "${ref.$tensor}", which is missing`, {
          file: source,
        });
      if (t.shape.length === 0)
        return t.dtype === "I64" || t.dtype === "U64" ? t.data[0] : Number(t.data[0]);
      return t.shape.length === 1 ? t.data : { data: t.data, shape: t.shape };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      Object.defineProperty(out, k, { value: rebuild(v), enumerable: true, writable: true });
    }
    return out;
  };
  let skeleton: unknown;
  try {
    skeleton = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`the example metadata is not JSON: ${(err as Error).message}`, {
      file: source,
    });
  }
  return rebuild(skeleton);
}
