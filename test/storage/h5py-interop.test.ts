// Files AstroPile writes, opened by the reference tools: h5py must read the same values, dtypes
// and shapes, and h5dump -H must show the expected structure. Runs in CI (required there).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { POSITIONS_NAME } from "../../src/storage/positions.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

const SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [2, 4, 4] },
  { name: "image_band", dtype: "string", shape: [2], stringLength: 5 },
  { name: "image_mask", dtype: "bool", shape: [2, 4, 4] },
  { name: "spectrum_flux", dtype: "float32", shape: [9] },
  { name: "counts", dtype: "uint16", shape: [] },
  { name: "code", dtype: "int8", shape: [] },
  { name: "big", dtype: "uint64", shape: [] },
  { name: "name", dtype: "string", shape: [] },
  { name: "tag", dtype: "string", shape: [], stringLength: 16 },
];

function batch(start: number, n: number): ColumnBatch {
  return {
    object_id: BigInt64Array.from({ length: n }, (_, i) => 9007199254740993n + BigInt(start + i)),
    ra: Float64Array.from({ length: n }, (_, i) => 359.9999999999 - (start + i) * 1e-9),
    image_array: Float32Array.from({ length: n * 32 }, (_, i) => Math.sin(start * 32 + i)),
    image_band: Array.from({ length: n * 2 }, (_, i) => (i % 2 ? "hsc-r" : "hsc-g")),
    image_mask: Uint8Array.from({ length: n * 32 }, (_, i) => ((start * 32 + i) % 7 === 0 ? 1 : 0)),
    spectrum_flux: Float32Array.from({ length: n * 9 }, (_, i) => (start * 9 + i) / 3),
    counts: Uint16Array.from({ length: n }, (_, i) => 65535 - start - i),
    code: Int8Array.from({ length: n }, (_, i) => -128 + ((start + i) % 256)),
    big: BigUint64Array.from({ length: n }, (_, i) => 18446744073709551615n - BigInt(start + i)),
    name: Array.from({ length: n }, (_, i) => `ñame ${start + i} ✓`),
    tag: Array.from({ length: n }, (_, i) => `1518p024-${4036 + start + i}`),
  };
}

const DUMP = `
import sys, json, h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
    for k, d in f.items():
        v = d[()]
        if v.dtype.kind in "SO":
            vals = [x.decode() if isinstance(x, bytes) else x for x in v.ravel()]
        elif v.dtype.kind in "iub":
            vals = [str(int(x)) for x in v.ravel()]
        else:
            vals = [float(x) for x in v.ravel()]
        out[k] = {"dtype": str(d.dtype), "shape": list(d.shape), "chunks": list(d.chunks) if d.chunks else None,
                  "compression": d.compression, "fletcher32": d.fletcher32, "attrs": {a: (d.attrs[a].decode() if isinstance(d.attrs[a], bytes) else str(d.attrs[a])) for a in d.attrs}, "values": vals}
print(json.dumps(out))
`;

const ROOT_ATTRS = `
import sys, json, h5py
out = []
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        out.append({a: (f.attrs[a].decode() if isinstance(f.attrs[a], bytes) else str(f.attrs[a])) for a in f.attrs})
print(json.dumps(out))
`;

const EXPECTED_DTYPE: Record<string, string> = {
  object_id: "int64",
  ra: "float64",
  image_array: "float32",
  image_band: "|S5",
  image_mask: "uint8", // h5wasm cannot create HDF5 enums: bool is uint8 + astropile_dtype="bool"
  spectrum_flux: "float32",
  counts: "uint16",
  code: "int8",
  big: "uint64",
  name: "object",
  tag: "|S16",
};

for (const compression of ["gzip", "none"] as const) {
  test(`h5py reads what AstroPile writes (${compression})`, {
    skip: referenceSkip(["h5py", "numpy"]),
  }, async () => {
    const path = join(dir, `w-${compression}.hdf5`);
    const w = await PartitionWriter.create(path, SPECS, { compression });
    w.append(batch(0, 100));
    w.append(batch(100, 57));
    await w.close();
    const got = JSON.parse(runPython(DUMP, [path])) as Record<
      string,
      {
        dtype: string;
        shape: number[];
        compression: string | null;
        fletcher32: boolean;
        attrs: Record<string, string>;
        values: Array<string | number>;
      }
    >;
    const want = batch(0, 157);
    assert.deepEqual(Object.keys(got).sort(), SPECS.map((s) => s.name).sort());
    for (const spec of SPECS) {
      const g = got[spec.name];
      assert.equal(g.dtype, EXPECTED_DTYPE[spec.name], `${spec.name} dtype`);
      assert.deepEqual(g.shape, [157, ...spec.shape], `${spec.name} shape`);
      if (spec.name !== "name") {
        assert.equal(
          g.compression,
          compression === "gzip" ? "gzip" : null,
          `${spec.name} compression`,
        );
        // Uncompressed chunks carry HDF5's Fletcher32 checksum (gzip has zlib's Adler-32).
        assert.equal(g.fletcher32, compression === "none", `${spec.name} fletcher32`);
      }
      const v = want[spec.name];
      const expected = Array.isArray(v)
        ? v
        : v instanceof Float32Array || v instanceof Float64Array
          ? Array.from(v)
          : Array.from(v as Int32Array, String);
      assert.deepEqual(g.values, expected, `${spec.name} values`);
    }
    assert.equal(got.ra.attrs.unit, "deg");
    assert.equal(got.image_mask.attrs.astropile_dtype, "bool");
  });
}

test("h5dump -H shows one dataset per column, chunked by row size, gzip", {
  skip: referenceSkip(["h5py"], ["h5dump"]),
}, async () => {
  // A small file (written in one block): each column exactly its length, one chunk no longer
  // than the file.
  const path = join(dir, "w-gzip.hdf5");
  const header = execFileSync("h5dump", ["-H", "-p", path], { encoding: "utf8" });
  assert.match(
    header,
    /DATASET "image_array" \{\s+DATATYPE\s+H5T_IEEE_F32LE\s+DATASPACE\s+SIMPLE \{ \( 157, 2, 4, 4 \) \/ \( 157, 2, 4, 4 \) \}/,
  );
  assert.match(header, /DATASET "image_array"[\s\S]*?CHUNKED \( 157, 2, 4, 4 \)/);
  assert.match(header, /DATASET "image_array"[\s\S]*?COMPRESSION DEFLATE \{ LEVEL 4 \}/);
  assert.match(header, /DATASET "object_id" \{\s+DATATYPE\s+H5T_STD_I64LE/);
  assert.match(header, /DATASET "tag" \{\s+DATATYPE\s+H5T_STRING \{\s+STRSIZE 16;/);
  const datasets = header.match(/DATASET "/g) ?? [];
  assert.equal(datasets.length, SPECS.length);
  // A large one (several write blocks): growable columns in chunks of ~32 KiB of rows.
  const big = join(dir, "w-big.hdf5");
  const w = await PartitionWriter.create(big, SPECS);
  for (let at = 0; at < 40_000; at += 10_000) w.append(batch(at, 10_000));
  await w.close();
  const bigHeader = execFileSync("h5dump", ["-H", "-p", big], { encoding: "utf8" });
  assert.match(
    bigHeader,
    /DATASET "image_array" \{\s+DATATYPE\s+H5T_IEEE_F32LE\s+DATASPACE\s+SIMPLE \{ \( 40000, 2, 4, 4 \) \/ \( H5S_UNLIMITED, 2, 4, 4 \) \}/,
  );
  assert.match(bigHeader, /DATASET "image_array"[\s\S]*?CHUNKED \( 256, 2, 4, 4 \)/);
  const tail = JSON.parse(
    runPython(
      "import sys, json, h5py\nwith h5py.File(sys.argv[1]) as f: print(json.dumps([f['ra'][39999].item(), f['tag'][39999].decode()]))",
      [big],
    ),
  );
  assert.deepEqual(tail, [(batch(39_999, 1).ra as Float64Array)[0], "1518p024-44035"]);
});

test("h5py reads the positions sidecar: the dataset's ra, dec, object_id in row order", {
  skip: referenceSkip(["h5py", "numpy"]),
}, async () => {
  const root = join(dir, "positions");
  const n = 300;
  await writeDataset(
    root,
    [
      { name: "object_id", dtype: "string", shape: [], stringLength: 13 },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
    ],
    [
      {
        object_id: Array.from({ length: n }, (_, i) => `1518p024-${4036 + i}`),
        // A few pixels (few files, each an fsync), several files each.
        ra: Float64Array.from({ length: n }, (_, i) => 10 + ((i * 0.7548776662) % 6)),
        dec: Float64Array.from({ length: n }, (_, i) => -3 + ((i * 0.569840291) % 6)),
      },
    ],
    { config: "main", provenance: { survey: "T" }, maxRowsPerFile: 50 },
  );
  const got = JSON.parse(runPython(DUMP, [join(root, "main", POSITIONS_NAME)])) as Record<
    string,
    {
      dtype: string;
      compression: string | null;
      fletcher32: boolean;
      values: Array<string | number>;
    }
  >;
  const ds = await openDataset(root);
  const want = { object_id: [] as string[], ra: [] as number[], dec: [] as number[] };
  for await (const b of ds.batches({ size: 64, columns: ["object_id", "ra", "dec"] })) {
    want.object_id.push(...(b.columns.object_id as string[]));
    want.ra.push(...(b.columns.ra as Float64Array));
    want.dec.push(...(b.columns.dec as Float64Array));
  }
  ds.close();
  assert.deepEqual(Object.keys(got).sort(), ["dec", "object_id", "ra"]);
  // The identities are plain string attributes h5py reads as they are.
  const manifest = await readManifest(root);
  const attrs = JSON.parse(
    runPython(ROOT_ATTRS, [join(root, "main", POSITIONS_NAME), join(root, manifest.files[0].path)]),
  ) as Array<Record<string, string>>;
  assert.equal(attrs[0].astropile_file_list, manifest.configs.main.positions?.fileList);
  assert.equal(attrs[1].astropile_identity, manifest.files[0].identity);
  assert.equal(got.ra.dtype, "float64");
  assert.equal(got.object_id.dtype, "|S13");
  for (const name of ["ra", "dec", "object_id"] as const) {
    assert.equal(got[name].compression, null, `${name} uncompressed`);
    assert.equal(got[name].fletcher32, true, `${name} has the Fletcher32 checksum`);
    assert.deepEqual(got[name].values, want[name], `${name} values`);
  }
});
