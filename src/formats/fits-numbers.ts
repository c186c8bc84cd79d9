// Big-endian FITS numbers to native typed arrays, and the scaling conventions shared by images
// (BSCALE/BZERO/BLANK) and binary-table columns (TSCALn/TZEROn/TNULLn).
import { endianness } from "node:os";
import type { Dtype, NumericArray } from "../core/columns.ts";
import { InternalError } from "../core/errors.ts";

const LITTLE_ENDIAN_HOST = endianness() === "LE";

/** Reverses the byte order of every `width`-byte element of `bytes`, in place. */
export function swapInPlace(bytes: Uint8Array, width: number): void {
  if (!LITTLE_ENDIAN_HOST || width === 1) return;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 2) b.swap16();
  else if (width === 4) b.swap32();
  else if (width === 8) b.swap64();
  else throw new InternalError(`no byte swap for width ${width}`);
}

/** A fresh ArrayBuffer-backed copy, so typed-array views are aligned. */
export function alignedCopy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

export type StoredType = "uint8" | "int16" | "int32" | "int64" | "float32" | "float64";

export const WIDTH: Record<StoredType, number> = {
  uint8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float32: 4,
  float64: 8,
};

/** A native view of big-endian bytes (swapped in place; `bytes` must be aligned). */
export function nativeView(bytes: Uint8Array, type: StoredType): NumericArray {
  swapInPlace(bytes, WIDTH[type]);
  const { buffer, byteOffset } = bytes;
  const n = bytes.byteLength / WIDTH[type];
  switch (type) {
    case "uint8":
      return new Uint8Array(buffer, byteOffset, n);
    case "int16":
      return new Int16Array(buffer, byteOffset, n);
    case "int32":
      return new Int32Array(buffer, byteOffset, n);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, n);
    case "float32":
      return new Float32Array(buffer, byteOffset, n);
    case "float64":
      return new Float64Array(buffer, byteOffset, n);
  }
}

/** The integer type that a stored type becomes under the FITS unsigned/signed-byte convention. */
const OFFSET_TYPE: Partial<Record<StoredType, { zero: bigint; dtype: Dtype }>> = {
  uint8: { zero: -128n, dtype: "int8" },
  int16: { zero: 32768n, dtype: "uint16" },
  int32: { zero: 2147483648n, dtype: "uint32" },
  int64: { zero: 9223372036854775808n, dtype: "uint64" },
};

/** BZERO/TZERO as an exact integer, or null when it is not one. */
function exactInteger(v: number | bigint): bigint | null {
  if (typeof v === "bigint") return v;
  return Number.isInteger(v) ? BigInt(v) : null;
}

export interface Scaling {
  scale: number;
  zero: number | bigint;
}

/**
 * How stored values become physical ones: "none", "offset" (the unsigned convention, exact,
 * done by flipping the sign bit) or "linear" (value·scale + zero in floating point).
 */
export function scalingKind(type: StoredType, s: Scaling): "none" | "offset" | "linear" {
  const zero = exactInteger(s.zero);
  if (s.scale === 1 && zero === 0n) return "none";
  if (s.scale === 1 && zero !== null && OFFSET_TYPE[type]?.zero === zero) return "offset";
  return "linear";
}

/** The dtype a stored type decodes to; `linearFloat` picks the float type for linear scaling. */
export function decodedDtype(
  type: StoredType,
  kind: "none" | "offset" | "linear",
  linearFloat: "float32" | "float64",
): Dtype {
  if (kind === "none") return type;
  if (kind === "offset") return OFFSET_TYPE[type]!.dtype;
  return linearFloat;
}

/** Flips the sign bit of every element of a native integer array: signed ↔ offset unsigned. */
export function flipSignBit(values: NumericArray): NumericArray {
  const { buffer, byteOffset, length } = values;
  if (values instanceof Uint8Array) {
    for (let i = 0; i < length; i++) values[i] ^= 0x80;
    return new Int8Array(buffer, byteOffset, length);
  }
  if (values instanceof Int16Array) {
    const u = new Uint16Array(buffer, byteOffset, length);
    for (let i = 0; i < length; i++) u[i] ^= 0x8000;
    return u;
  }
  if (values instanceof Int32Array) {
    const u = new Uint32Array(buffer, byteOffset, length);
    for (let i = 0; i < length; i++) u[i] = (u[i] ^ 0x80000000) >>> 0;
    return u;
  }
  if (values instanceof BigInt64Array) {
    const u = new BigUint64Array(buffer, byteOffset, length);
    const top = 0x8000000000000000n;
    for (let i = 0; i < length; i++) u[i] ^= top;
    return u;
  }
  throw new InternalError("flipSignBit: not a stored integer array");
}

/**
 * value·scale + zero. float32 output is computed in float32 (each step rounded), float64 in
 * float64, matching astropy's in-place numpy arithmetic.
 */
export function applyLinear(
  stored: NumericArray,
  s: Scaling,
  out: "float32" | "float64",
): Float32Array | Float64Array {
  const n = stored.length;
  const zero = Number(s.zero);
  if (out === "float32") {
    const result = new Float32Array(n);
    const scale = Math.fround(s.scale);
    const z = Math.fround(zero);
    for (let i = 0; i < n; i++) {
      let v = Math.fround(Number(stored[i]));
      if (s.scale !== 1) v = Math.fround(v * scale);
      if (zero !== 0) v = Math.fround(v + z);
      result[i] = v;
    }
    return result;
  }
  const result = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = Number(stored[i]);
    if (s.scale !== 1) v *= s.scale;
    if (zero !== 0) v += zero;
    result[i] = v;
  }
  return result;
}

/** 1 where a stored integer equals `nullValue` (BLANK / TNULLn), else 0. */
export function nullMask(stored: NumericArray, nullValue: number | bigint): Uint8Array {
  const n = stored.length;
  const mask = new Uint8Array(n);
  if (stored instanceof BigInt64Array) {
    const v = BigInt(nullValue);
    for (let i = 0; i < n; i++) if (stored[i] === v) mask[i] = 1;
  } else {
    const v = Number(nullValue);
    for (let i = 0; i < n; i++) if (stored[i] === v) mask[i] = 1;
  }
  return mask;
}
