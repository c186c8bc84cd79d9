// Small files are cheap: the bytes a small partition file and a small dataset take on disk. These
// are size assertions (bytes, not time) that fail if the per-file overhead grows back (whole
// 256 KiB chunks, growable-dataset B-trees, an 800 kB positions sidecar for 100 rows: a 100-row
// file of 5 float64 columns was 28 kB gzip and 1.3 MB uncompressed, its sidecar ~800 kB).
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { evenChunkRows, PartitionWriter } from "../../src/storage/partition-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
const N = 100;

/** Deterministic values that do not compress (so the bound holds for gzip too). */
function noise(seed: number, n: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x80000000 + s / 0x80000000 / 0x80000000;
  });
}

for (const compression of ["gzip", "none"] as const) {
  test(`a file of 100 rows x 5 float64 columns (${compression}) is a few kB: its 4,000 bytes of values and under 4 kB of HDF5`, async () => {
    const specs: ColumnSpec[] = ["a", "b", "c", "d", "e"].map((name) => ({
      name,
      dtype: "float64",
      shape: [],
    }));
    const batch: ColumnBatch = {};
    specs.forEach((s, k) => {
      batch[s.name] = noise(k + 1, N);
    });
    const path = join(dir, `five-${compression}.hdf5`);
    const w = await PartitionWriter.create(path, specs, { compression });
    w.append(batch);
    const written = await w.close();
    assert.equal(written.bytes, statSync(path).size);
    const data = N * 5 * 8;
    assert.ok(
      written.bytes < data + 4096,
      `${written.bytes} bytes for ${data} bytes of values (${written.bytes - data} of overhead)`,
    );
  });
}

test("a dataset of 100 rows: its partition file, positions sidecar and object_id index are a few kB each", async () => {
  const root = join(dir, "ds");
  const columns: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
    { name: "a", dtype: "float64", shape: [] },
    { name: "b", dtype: "float64", shape: [] },
    { name: "c", dtype: "float64", shape: [] },
  ];
  const ra = noise(7, N).map((x) => 150 + x);
  const dec = noise(8, N).map((x) => 2 + x);
  const batch: ColumnBatch = {
    object_id: BigInt64Array.from({ length: N }, (_, i) => BigInt(i * 7919)),
    ra,
    dec,
    a: noise(1, N),
    b: noise(2, N),
    c: noise(3, N),
  };
  const manifest = await writeDataset(root, columns, [batch], {
    config: "main",
    provenance: { project: "test", survey: "small", release: "1" },
  });
  // One partition file (one pixel), whatever the layout's order.
  assert.equal(manifest.files.length, 1);
  const file = manifest.files[0];
  // 8 columns (healpix and _healpix_29 added) of 8 bytes: 6,400 bytes of values.
  assert.ok(file.bytes < 6400 + 8192, `partition file ${file.bytes} bytes`);
  const config = manifest.configs.main;
  // ra, dec, object_id: 2,400 bytes of values.
  assert.ok(config.positions, "positions sidecar");
  assert.ok(
    config.positions.bytes < 2400 + 8192,
    `positions sidecar ${config.positions.bytes} bytes`,
  );
  // id key, file, row: 1,600 bytes of values.
  assert.ok(config.idIndex, "object_id index");
  assert.ok(config.idIndex.bytes < 1600 + 8192, `object_id index ${config.idIndex.bytes} bytes`);
  // Everything in the directory (manifest and dataset card included).
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else total += statSync(join(d, e.name)).size;
    }
  };
  walk(root);
  assert.ok(total < 48 * 1024, `the whole dataset is ${total} bytes`);
});

test("evenChunkRows: as many chunks as before, the last one (nearly) full", () => {
  assert.equal(evenChunkRows(32_768, undefined), 32_768);
  assert.equal(evenChunkRows(32_768, 10), 32_768);
  assert.equal(evenChunkRows(32_768, 32_768), 32_768);
  assert.equal(evenChunkRows(32_768, 40_000), 20_000);
  assert.equal(evenChunkRows(32_768, 100_000), 25_000);
  assert.equal(evenChunkRows(32_768, 100_001), 25_001);
  assert.equal(evenChunkRows(1, 500), 1);
  for (const [rows, expected] of [
    [4096, 1_000_003],
    [32_768, 363_000],
    [7, 50],
  ]) {
    const even = evenChunkRows(rows, expected);
    const chunks = Math.ceil(expected / even);
    assert.equal(chunks, Math.ceil(expected / rows), `${expected} rows: chunk count`);
    assert.ok(even <= rows && chunks * even - expected < chunks, `${expected} rows: padding`);
  }
});
