// A partition file's worth of columns of every kind (each dtype, bool, fixed and variable-length
// strings, per-row arrays, units and descriptions) and rows for them, shared by storage tests.
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";

export const SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg", description: "right ascension ICRS" },
  { name: "mag", dtype: "float32", shape: [] },
  { name: "i8", dtype: "int8", shape: [] },
  { name: "i16", dtype: "int16", shape: [] },
  { name: "i32", dtype: "int32", shape: [] },
  { name: "u8", dtype: "uint8", shape: [] },
  { name: "u16", dtype: "uint16", shape: [] },
  { name: "u32", dtype: "uint32", shape: [] },
  { name: "u64", dtype: "uint64", shape: [] },
  { name: "flag", dtype: "bool", shape: [] },
  { name: "name", dtype: "string", shape: [], stringLength: 16 },
  { name: "note", dtype: "string", shape: [] },
  { name: "image_band", dtype: "string", shape: [3], stringLength: 5 },
  { name: "image_array", dtype: "float32", shape: [3, 4, 5] },
  { name: "spectrum_mask", dtype: "bool", shape: [7] },
];

export function makeBatch(start: number, n: number): ColumnBatch {
  const b: ColumnBatch = {};
  const idx = (i: number) => start + i;
  b.object_id = BigInt64Array.from({ length: n }, (_, i) => 2n ** 62n + BigInt(idx(i)));
  b.ra = Float64Array.from({ length: n }, (_, i) => idx(i) * 0.001 + 1e-12);
  b.mag = Float32Array.from({ length: n }, (_, i) => 20 + idx(i) / 100);
  b.i8 = Int8Array.from({ length: n }, (_, i) => (idx(i) % 256) - 128);
  b.i16 = Int16Array.from({ length: n }, (_, i) => -idx(i));
  b.i32 = Int32Array.from({ length: n }, (_, i) => -idx(i) * 1000);
  b.u8 = Uint8Array.from({ length: n }, (_, i) => idx(i) % 256);
  b.u16 = Uint16Array.from({ length: n }, (_, i) => idx(i) % 65536);
  b.u32 = Uint32Array.from({ length: n }, (_, i) => 4e9 - idx(i));
  b.u64 = BigUint64Array.from({ length: n }, (_, i) => 2n ** 64n - 1n - BigInt(idx(i)));
  b.flag = Uint8Array.from({ length: n }, (_, i) => (idx(i) % 3 === 0 ? 1 : 0));
  b.name = Array.from({ length: n }, (_, i) => `obj-${idx(i)}`);
  b.note = Array.from({ length: n }, (_, i) =>
    idx(i) % 2 ? "étoile ★" : `galaxy ${"x".repeat(idx(i) % 40)}`,
  );
  b.image_band = Array.from({ length: n * 3 }, (_, i) => ["hsc-g", "hsc-r", "hsc-i"][i % 3]);
  b.image_array = Float32Array.from({ length: n * 60 }, (_, i) => start * 60 + i);
  b.spectrum_mask = Uint8Array.from({ length: n * 7 }, (_, i) =>
    (start * 7 + i) % 5 === 0 ? 1 : 0,
  );
  return b;
}
