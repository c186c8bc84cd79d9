// String attributes (units, descriptions, provenance, identities) are written as fixed-length
// strings, so no global heap (no checksum; libhdf5 can loop forever on a damaged one) holds them,
// and they read back exactly: trailing spaces, empty strings and non-ASCII text included.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

async function write(path: string, specs: ColumnSpec[], attrs: Record<string, string | number>) {
  const w = await PartitionWriter.create(path, specs, { attrs });
  w.append({ flux: Float32Array.from([1, 2, 3]), mag: Float64Array.from([20, 21, 22]) });
  await w.close();
}

test("string attributes read back exactly, and ASCII or plain UTF-8 ones need no global heap", async () => {
  const specs: ColumnSpec[] = [
    { name: "flux", dtype: "float32", shape: [], unit: "nJy ", description: "flux in µJy" },
    { name: "mag", dtype: "float64", shape: [], unit: "mag", description: "" },
  ];
  const attrs = { survey: "HSC ", release: "pdr3", note: "Ångström", rows: 3 };
  const path = join(dir, "plain.hdf5");
  await write(path, specs, attrs);
  assert.equal(readFileSync(path).indexOf("GCOL"), -1, "no global heap collection in the file");
  const f = await PartitionFile.open(path);
  try {
    assert.deepEqual(
      Object.fromEntries(Object.keys(attrs).map((k) => [k, f.attrs()[k]])),
      attrs,
      "root attributes as given",
    );
    const flux = f.column("flux");
    assert.equal(flux.unit, "nJy ");
    assert.equal(flux.description, "flux in µJy");
    assert.equal(f.column("mag").unit, "mag");
  } finally {
    f.close();
  }
});

test("non-ASCII text ending in white space keeps its spaces (stored variable-length)", async () => {
  const path = join(dir, "trailing.hdf5");
  const specs: ColumnSpec[] = [
    { name: "flux", dtype: "float32", shape: [], description: "µJy  " },
    { name: "mag", dtype: "float64", shape: [] },
  ];
  await write(path, specs, { note: "é " });
  const f = await PartitionFile.open(path);
  try {
    assert.equal(f.attrs().note, "é ");
    assert.equal(f.column("flux").description, "µJy  ");
  } finally {
    f.close();
  }
});
