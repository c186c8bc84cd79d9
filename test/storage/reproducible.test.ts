// Equal content gives equal bytes: two writes of the same rows (batched differently), and two
// builds of the same sources, give byte-identical partition files and sidecars (libhdf5's object
// times cleared in every object header, including those of groups with more than 8 links, which
// live in a fractal heap), and manifests that differ only in `updated`.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { sha256File } from "../../src/core/hash.ts";
import { runDemo } from "../../src/demo/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

/** sha256 of every file under root except the manifest and build reports, by relative path. */
async function digests(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith(".hdf5")) out[relative(root, p)] = await sha256File(p);
    }
  };
  await walk(root);
  return out;
}

function manifestWithoutTime(root: string): unknown {
  const m = JSON.parse(readFileSync(join(root, "astropile.json"), "utf8"));
  delete m.updated;
  return m;
}

// More than 8 columns: the root group's links go to a fractal heap (dense link storage).
const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
  { name: "flux", dtype: "float32", shape: [4] },
  { name: "name", dtype: "string", shape: [] },
  { name: "tag", dtype: "string", shape: [], stringLength: 8 },
  // 16 KiB rows: the writer's 8 MiB blocks hold 512 rows, so files of 600 rows cross a block.
  { name: "image", dtype: "float32", shape: [64, 64] },
  ...Array.from(
    { length: 8 },
    (_, j): ColumnSpec => ({ name: `c${j}`, dtype: "float32", shape: [] }),
  ),
];

/** The same rows whatever the batch size: every value is a function of the row number. */
function* rows(n: number, size: number): Generator<ColumnBatch> {
  for (let s = 0; s < n; s += size) {
    const m = Math.min(size, n - s);
    const at = (i: number) => s + i;
    const batch: ColumnBatch = {
      object_id: BigInt64Array.from({ length: m }, (_, i) => BigInt(at(i)) * 31n),
      // A small patch of sky: a few pixels (every file costs an fsync), several files each.
      ra: Float64Array.from({ length: m }, (_, i) => 10 + ((at(i) * 0.7548776662) % 8)),
      dec: Float64Array.from({ length: m }, (_, i) => -4 + ((at(i) * 0.569840291) % 8)),
      flux: Float32Array.from({ length: m * 4 }, (_, k) => s * 4 + k),
      name: Array.from({ length: m }, (_, i) => `obj ${at(i)}`),
      tag: Array.from({ length: m }, (_, i) => `t${at(i) % 1000}`),
      image: Float32Array.from({ length: m * 4096 }, (_, k) => ((s * 4096 + k) % 4099) / 7),
    };
    for (let j = 0; j < 8; j++)
      batch[`c${j}`] = Float32Array.from({ length: m }, (_, i) => at(i) * j);
    yield batch;
  }
}

for (const [writer, columns] of [
  ["libhdf5", COLUMNS],
  ["own writer", COLUMNS.filter((c) => c.name !== "name")],
] as const)
  for (const compression of ["gzip", "none"] as const) {
    test(`writeDataset twice, batched differently, gives identical files (${writer}, ${compression})`, async () => {
      const roots = [
        join(dir, `${writer}-${compression}-a`),
        join(dir, `${writer}-${compression}-b`),
      ];
      for (const [k, root] of roots.entries())
        await writeDataset(root, columns, rows(3000, k === 0 ? 1000 : 333), {
          config: "main",
          name: "same",
          provenance: { survey: "T" },
          compression,
          maxRowsPerFile: 600,
        });
      const [a, b] = await Promise.all(roots.map(digests));
      assert.ok(Object.keys(a).length > 10, "several partition files and both sidecars");
      assert.ok(Object.keys(a).includes("main/positions.hdf5"));
      assert.ok(Object.keys(a).includes("main/object_id_index.hdf5"));
      assert.deepEqual(b, a);
      assert.deepEqual(manifestWithoutTime(roots[1]), manifestWithoutTime(roots[0]));
    });
  }

/** Without the variable-length column: files written by AstroPile's own HDF5 writer. */
const NATIVE_COLUMNS = COLUMNS.filter((c) => c.name !== "name");

test("PartitionWriter through libhdf5: the same rows appended in other batch sizes give the same bytes", async () => {
  // 16 KiB rows: written in blocks of 512 rows whatever the appends, so chunks land alike.
  const paths = [join(dir, "w-a.hdf5"), join(dir, "w-b.hdf5")];
  for (const [k, path] of paths.entries()) {
    const w = await PartitionWriter.create(path, COLUMNS, { compression: "none" });
    for (const batch of rows(1300, k === 0 ? 1300 : 97)) w.append(batch);
    await w.close();
  }
  assert.equal(await sha256File(paths[1]), await sha256File(paths[0]));
});

test("own HDF5 writer: the same bytes whatever the batches", async () => {
  // Chunks are written in the order their last row arrives, whatever the appends.
  const paths = [join(dir, "own-a.hdf5"), join(dir, "own-b.hdf5")];
  for (const [k, path] of paths.entries()) {
    // 4 KiB chunks: light columns span several chunks too, the last one partly filled.
    const w = await PartitionWriter.create(path, NATIVE_COLUMNS, {
      compression: "gzip",
      chunkBytes: 4096,
    });
    for (const batch of rows(1300, k === 0 ? 1300 : 97)) w.append(batch);
    await w.close();
  }
  assert.equal(readFileSync(paths[0])[8], 2, "superblock version 2: AstroPile's own writer");
  assert.equal(await sha256File(paths[1]), await sha256File(paths[0]));
  const f = await PartitionFile.open(paths[0]);
  try {
    const [want] = [...rows(1300, 1300)];
    const got = f.readRange(["image", "tag", "object_id"], 0, 1300);
    assert.deepEqual(got.image, want.image);
    assert.deepEqual(got.tag, want.tag);
    assert.deepEqual(got.object_id, want.object_id);
  } finally {
    f.close();
  }
});

test("a writer without a content digest writes the same bytes, and refuses contentLines", async () => {
  const paths = [join(dir, "digest-on.hdf5"), join(dir, "digest-off.hdf5")];
  for (const [k, path] of paths.entries()) {
    const w = await PartitionWriter.create(path, NATIVE_COLUMNS, {
      compression: "gzip",
      contentDigest: k === 0,
    });
    for (const batch of rows(700, 250)) w.append(batch);
    if (k === 0) assert.equal(w.contentLines().length, NATIVE_COLUMNS.length);
    else assert.throws(() => w.contentLines(), /keeps no content digest/);
    await w.close();
  }
  assert.equal(await sha256File(paths[1]), await sha256File(paths[0]));
});

test("the demo built twice gives identical data files and manifests", async () => {
  const roots = [join(dir, "demo-a"), join(dir, "demo-b")];
  for (const out of roots) await runDemo({ out, size: "tiny", seed: 3, stampSize: 16, workers: 2 });
  for (const name of ["hsc", "desi"]) {
    const [a, b] = await Promise.all(roots.map((r) => digests(join(r, name))));
    assert.ok(Object.keys(a).length >= 3, `${name}: partition files and sidecars`);
    assert.deepEqual(b, a, name);
    assert.deepEqual(
      manifestWithoutTime(join(roots[1], name)),
      manifestWithoutTime(join(roots[0], name)),
    );
  }
});
