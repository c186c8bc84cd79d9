// Sample arrays and tables shared by the writer tests and the astropy interop test.
import type { ColumnBatch, ColumnSpec, NumericArray } from "../../src/core/columns.ts";

export const IMAGE_ARRAYS: [string, NumericArray][] = [
  ["uint8", Uint8Array.from([0, 1, 127, 128, 255, 7])],
  ["int8", Int8Array.from([-128, -1, 0, 1, 127, 5])],
  ["int16", Int16Array.from([-32768, -1, 0, 1, 32767, 5])],
  ["uint16", Uint16Array.from([0, 1, 32767, 32768, 65535, 5])],
  ["int32", Int32Array.from([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1, 5])],
  ["uint32", Uint32Array.from([0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 5])],
  ["int64", BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n, 5n])],
  ["uint64", BigUint64Array.from([0n, 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 5n])],
  ["float32", Float32Array.from([Number.NaN, -0, 0.1, 3.4e38, Number.NEGATIVE_INFINITY, 1e-45])],
  ["float64", Float64Array.from([Number.NaN, -0, 0.1, 1.7e308, Number.POSITIVE_INFINITY, 5e-324])],
];

export const TABLE_SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [], description: "survey id" },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "mag", dtype: "float32", shape: [3], unit: "mag" },
  { name: "img", dtype: "float32", shape: [2, 3, 2] },
  { name: "u8", dtype: "uint8", shape: [] },
  { name: "i8", dtype: "int8", shape: [] },
  { name: "i16", dtype: "int16", shape: [] },
  { name: "u16", dtype: "uint16", shape: [] },
  { name: "i32", dtype: "int32", shape: [] },
  { name: "u32", dtype: "uint32", shape: [] },
  { name: "u64", dtype: "uint64", shape: [] },
  { name: "flag", dtype: "bool", shape: [] },
  { name: "mask", dtype: "bool", shape: [4] },
  { name: "one", dtype: "float64", shape: [1] },
  { name: "name", dtype: "string", shape: [], stringLength: 12 },
  { name: "bands", dtype: "string", shape: [3], stringLength: 5 },
];

export function tableBatch(start: number, n: number): ColumnBatch {
  const idx = (i: number) => start + i;
  return {
    object_id: BigInt64Array.from({ length: n }, (_, i) => 2n ** 62n + BigInt(idx(i))),
    ra: Float64Array.from({ length: n }, (_, i) => idx(i) * 0.1 + 1e-12),
    mag: Float32Array.from({ length: 3 * n }, (_, i) => 20 + (3 * start + i) / 7),
    img: Float32Array.from({ length: 12 * n }, (_, i) =>
      (12 * start + i) % 5 === 0 ? Number.NaN : (12 * start + i) / 3,
    ),
    u8: Uint8Array.from({ length: n }, (_, i) => (idx(i) * 37) % 256),
    i8: Int8Array.from({ length: n }, (_, i) => ((idx(i) * 37) % 256) - 128),
    i16: Int16Array.from({ length: n }, (_, i) => -idx(i) * 1000),
    u16: Uint16Array.from({ length: n }, (_, i) => 65535 - idx(i)),
    i32: Int32Array.from({ length: n }, (_, i) => -(2 ** 31) + 1 + idx(i)),
    u32: Uint32Array.from({ length: n }, (_, i) => 2 ** 32 - 1 - idx(i)),
    u64: BigUint64Array.from({ length: n }, (_, i) => 2n ** 64n - 1n - BigInt(idx(i))),
    flag: Uint8Array.from({ length: n }, (_, i) => idx(i) % 2),
    mask: Uint8Array.from({ length: 4 * n }, (_, i) => ((4 * start + i) % 3 === 0 ? 1 : 0)),
    one: Float64Array.from({ length: n }, (_, i) => -idx(i)),
    name: Array.from({ length: n }, (_, i) => (idx(i) % 4 === 0 ? "" : `obj ${idx(i)}`)),
    bands: Array.from({ length: 3 * n }, (_, i) => ["hsc-g", "r", ""][i % 3]),
  };
}
