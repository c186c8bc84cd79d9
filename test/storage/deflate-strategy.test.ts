// Which deflate strategy each kind of column is written with. zlib records its effort in the
// header's FLEVEL bits (RFC 1950): run-length matching only (Z_RLE) gives 0, the default search
// at level 4 gives 1. Per-row floats and `_healpix_29` keys take Z_RLE (twice as fast, about as
// small); ids, an index's sorted keys (at level 1) and images keep the full search, which Z_RLE
// would make many times larger. Every chunk must still inflate to the values written.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { DirectFile } from "../../src/storage/hdf5-direct.ts";
import { readFileMetadata } from "../../src/storage/hdf5-metadata.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { unshuffle } from "../../src/storage/shuffle.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
const N = 20_000;

/** Every column's stored chunks (the bytes as written, in chunk order), by name. */
function storedChunks(path: string): Map<string, Uint8Array[]> {
  const file = new DirectFile(path);
  try {
    const out = new Map<string, Uint8Array[]>();
    for (const ds of readFileMetadata(file, { file: path }).datasets) {
      const place = { file: path, column: ds.name };
      const index = file.chunkIndex(ds.layout, place);
      index.load?.(0, index.address.length);
      const chunks: Uint8Array[] = [];
      for (let cell = 0; cell < index.address.length; cell++)
        chunks.push(file.read(index.address[cell]!, index.size[cell]!, place, "chunk"));
      out.set(ds.name, chunks);
    }
    return out;
  } finally {
    file.close();
  }
}

/** Each column's zlib FLEVEL bits, the same in every chunk (or a list of them if not). */
function flevels(path: string): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  for (const [name, chunks] of storedChunks(path)) {
    const levels = new Set(chunks.map((c) => c[1]! >> 6));
    out[name] = levels.size === 1 ? [...levels][0]! : [...levels];
  }
  return out;
}

test("per-row floats, _healpix_29 and ids out of order are deflated with Z_RLE, ids in order, integers and images with the default search", async () => {
  const specs: ColumnSpec[] = [
    { name: "ra", dtype: "float64", shape: [] },
    { name: "mag", dtype: "float32", shape: [] },
    { name: "_healpix_29", dtype: "int64", shape: [] },
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "id_down", dtype: "uint64", shape: [] },
    { name: "id_shuffled", dtype: "int64", shape: [] },
    { name: "flags", dtype: "int32", shape: [] },
    { name: "image", dtype: "float32", shape: [4, 4] },
  ];
  // Ids of rows in another order than theirs (a catalog's ids after the sort by position).
  let seed = 7;
  const shuffled = BigInt64Array.from({ length: N }, (_, i) => BigInt(i + 1));
  for (let i = N - 1; i > 0; i--) {
    seed = (seed * 48271) % 2147483647;
    const j = seed % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const batch: ColumnBatch = {
    ra: Float64Array.from({ length: N }, (_, i) => 150 + i * 1e-5 + Math.sin(i) * 1e-7),
    mag: Float32Array.from({ length: N }, (_, i) => 18 + Math.cos(i)),
    _healpix_29: BigInt64Array.from({ length: N }, (_, i) => 123456789012345n + BigInt(i * 997)),
    object_id: BigInt64Array.from({ length: N }, (_, i) => BigInt(i + 1)),
    // Falling, with a few steps up (1 in 16): in order still.
    id_down: BigUint64Array.from(
      { length: N },
      (_, i) => 2n ** 63n + BigInt(5 * (N - i) + (i % 16 === 0 ? 7 : 0)),
    ),
    id_shuffled: shuffled,
    flags: Int32Array.from({ length: N }, (_, i) => i % 7),
    image: Float32Array.from({ length: N * 16 }, (_, i) => Math.sin(i / 3)),
  };
  const path = join(dir, "strategies.hdf5");
  const w = await PartitionWriter.create(path, specs, { compression: "gzip" });
  w.append(batch);
  await w.close();

  const want: Record<string, number> = {
    ra: 0,
    mag: 0,
    _healpix_29: 0,
    object_id: 1,
    id_down: 1,
    id_shuffled: 0,
    flags: 1,
    image: 1,
  };
  assert.deepEqual(flevels(path), want);
  for (const [name, chunks] of storedChunks(path)) {
    const values = batch[name] as
      | Float64Array
      | Float32Array
      | BigInt64Array
      | BigUint64Array
      | Int32Array;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    assert.ok(chunks.length > 1, `${name}: several chunks`);
    let at = 0;
    for (const [k, stored] of chunks.entries()) {
      assert.equal(stored[0], 0x78, `${name} chunk ${k}: a zlib stream`);
      const raw = unshuffle(inflateSync(stored), values.BYTES_PER_ELEMENT);
      const n = Math.min(raw.length, bytes.length - at);
      assert.deepEqual(raw.subarray(0, n), bytes.subarray(at, at + n), `${name} chunk ${k}`);
      at += n;
    }
    assert.equal(at, bytes.length, `${name}: every value stored`);
  }
});

test("a writer's runLengthColumns take Z_RLE; the object_id index's file and row columns do, its sorted ids do not", async () => {
  const specs: ColumnSpec[] = [
    { name: "flags", dtype: "int32", shape: [] },
    { name: "count", dtype: "int32", shape: [] },
  ];
  const path = join(dir, "named.hdf5");
  const w = await PartitionWriter.create(path, specs, {
    compression: "gzip",
    runLengthColumns: ["flags"],
  });
  w.append({
    flags: Int32Array.from({ length: N }, (_, i) => (i >> 5) % 3),
    count: Int32Array.from({ length: N }, (_, i) => i),
  });
  await w.close();
  assert.deepEqual(flevels(path), { flags: 0, count: 1 });

  const root = join(dir, "ds");
  const n = 50_000;
  await writeDataset(
    root,
    [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
    ],
    [
      {
        object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i * 3 + 1)),
        ra: Float64Array.from({ length: n }, (_, i) => (i * 0.0071) % 360),
        dec: Float64Array.from({ length: n }, (_, i) => ((i * 0.0037) % 170) - 85),
      },
    ],
    { config: "c", provenance: { survey: "strategies" } },
  );
  const index = join(root, "c", "object_id_index.hdf5");
  // The sorted ids at level 1 (FLEVEL 0 like Z_RLE's): the full search still finds their
  // repeated patterns, which Z_RLE would store at ~1 byte per row.
  assert.deepEqual(flevels(index), { id_key: 0, file: 0, row: 0 });
  assert.deepEqual(deflateLevels(index), { id_key: [1], file: [1], row: [1] });
  const idBytes = storedChunks(index)
    .get("id_key")!
    .reduce((s, c) => s + c.length, 0);
  assert.ok(idBytes < 0.3 * n, `sorted ids take ${idBytes} bytes for ${n} rows`);
});

/** Each column's deflate level as its filter pipeline records it. */
function deflateLevels(path: string): Record<string, number[]> {
  const file = new DirectFile(path);
  try {
    const out: Record<string, number[]> = {};
    for (const ds of readFileMetadata(file, { file: path }).datasets)
      out[ds.name] = ds.layout.filters.filter((f) => f.id === 1).map((f) => f.cd[0]!);
    return out;
  } finally {
    file.close();
  }
}
