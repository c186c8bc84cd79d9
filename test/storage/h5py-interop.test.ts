// Files AstroPile writes, opened by the reference tools: h5py must read the same values, dtypes
// and shapes, and h5dump -H must show the expected structure. Runs in CI (required there).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
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
                  "compression": d.compression, "fletcher32": d.fletcher32, "attrs": {a: (d.attrs[a].decode() if isinstance(d.attrs[a], bytes) else str(d.attrs[a])) for a in d.attrs}, "nattrs": len(d.attrs), "values": vals}
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

/** Columns AstroPile's own HDF5 writer takes (no variable-length strings). */
const NATIVE_SPECS = SPECS.filter((s) => s.name !== "name");
const ATTRS = { survey: "hsc", rows: 157, scale: 0.168, huge: 2 ** 40, note: "é, then a space " };

const CASES = [
  // A variable-length string column: the file goes through libhdf5 (h5wasm).
  { label: "libhdf5", specs: SPECS, chunkBytes: undefined, batches: [100, 57], superblock: 3 },
  {
    label: "own writer",
    specs: NATIVE_SPECS,
    chunkBytes: undefined,
    batches: [100, 57],
    superblock: 2,
  },
  // Chunks of 1-2 rows: thousands of chunks, fixed arrays split in pages.
  {
    label: "own writer, paged fixed-array chunk indexes",
    specs: NATIVE_SPECS,
    chunkBytes: 16,
    batches: [3000, 1, 1200],
    superblock: 2,
  },
];

for (const c of CASES)
  for (const compression of ["gzip", "none"] as const) {
    test(`h5py reads what AstroPile writes (${c.label}, ${compression})`, {
      skip: referenceSkip(["h5py", "numpy"]),
    }, async () => {
      const path = join(dir, `w-${c.label.replaceAll(/\W+/g, "-")}-${compression}.hdf5`);
      const w = await PartitionWriter.create(path, c.specs, {
        compression,
        chunkBytes: c.chunkBytes,
        attrs: ATTRS,
      });
      let rows = 0;
      for (const n of c.batches) {
        w.append(batch(rows, n));
        rows += n;
      }
      await w.close({ attrs: { astropile_identity: "x".repeat(64) } });
      // Which writer made the file: libhdf5's v110 files have superblock version 3, ours 2.
      assert.equal(readFileSync(path)[8], c.superblock, "superblock version");
      const got = JSON.parse(runPython(DUMP, [path])) as Record<
        string,
        {
          dtype: string;
          shape: number[];
          compression: string | null;
          fletcher32: boolean;
          attrs: Record<string, string>;
          nattrs: number;
          values: Array<string | number>;
        }
      >;
      const want = batch(0, rows);
      assert.deepEqual(Object.keys(got).sort(), c.specs.map((s) => s.name).sort());
      for (const spec of c.specs) {
        const g = got[spec.name];
        assert.equal(g.dtype, EXPECTED_DTYPE[spec.name], `${spec.name} dtype`);
        assert.deepEqual(g.shape, [rows, ...spec.shape], `${spec.name} shape`);
        assert.equal(g.nattrs, Object.keys(g.attrs).length, `${spec.name} len(attrs)`);
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
      // Root attributes, as h5py and as AstroPile read them back.
      const [root] = JSON.parse(runPython(ROOT_ATTRS, [path])) as Record<string, string>[];
      const expectedRoot = { ...ATTRS, astropile_identity: "x".repeat(64) };
      // len(attrs) is libhdf5's count, which needs an attribute-info message in the header.
      const count = runPython(
        "import sys, h5py\nwith h5py.File(sys.argv[1]) as f: print(len(f.attrs))",
        [path],
      );
      assert.equal(Number(count), Object.keys(expectedRoot).length, "len(f.attrs)");
      assert.deepEqual(
        root,
        // Integers past int32 are stored as float64 (h5py prints them so).
        Object.fromEntries(
          Object.entries(expectedRoot).map(([k, v]) => [k, k === "huge" ? `${v}.0` : String(v)]),
        ),
      );
      const f = await PartitionFile.open(path);
      try {
        assert.deepEqual(f.attrs(), expectedRoot);
        const back = f.readRange(["big", "tag"], rows - 2, rows);
        assert.deepEqual(back.tag, want.tag.slice(rows - 2) as string[]);
        assert.deepEqual(
          Array.from(back.big as BigUint64Array),
          Array.from((want.big as BigUint64Array).slice(rows - 2)),
        );
      } finally {
        f.close();
      }
    });
  }

test("h5dump -H shows one dataset per column, chunked by row size, shuffle and gzip", {
  skip: referenceSkip(["h5py"], ["h5dump"]),
}, async () => {
  // A small file (from AstroPile's own writer): each column exactly its length, one chunk no
  // longer than the file.
  const path = join(dir, "w-own-writer-gzip.hdf5");
  const header = execFileSync("h5dump", ["-H", "-p", path], { encoding: "utf8" });
  assert.match(
    header,
    /DATASET "image_array" \{\s+DATATYPE\s+H5T_IEEE_F32LE\s+DATASPACE\s+SIMPLE \{ \( 157, 2, 4, 4 \) \/ \( 157, 2, 4, 4 \) \}/,
  );
  assert.match(header, /DATASET "image_array"[\s\S]*?CHUNKED \( 157, 2, 4, 4 \)/);
  // Numbers are shuffled before deflate (HDF5's own filter, which h5py and libhdf5 undo);
  // strings are not.
  const block = (name: string) => header.split('DATASET "').find((b) => b.startsWith(`${name}"`))!;
  for (const name of ["ra", "image_array"])
    assert.match(
      block(name),
      /FILTERS \{\s+PREPROCESSING SHUFFLE\s+COMPRESSION DEFLATE \{ LEVEL 4 \}/,
      name,
    );
  for (const name of ["tag"]) {
    assert.match(block(name), /FILTERS \{\s+COMPRESSION DEFLATE \{ LEVEL 4 \}/, name);
    assert.doesNotMatch(block(name), /SHUFFLE/, name);
  }
  assert.match(header, /DATASET "object_id" \{\s+DATATYPE\s+H5T_STD_I64LE/);
  assert.match(header, /DATASET "tag" \{\s+DATATYPE\s+H5T_STRING \{\s+STRSIZE 16;/);
  const datasets = header.match(/DATASET "/g) ?? [];
  assert.equal(datasets.length, NATIVE_SPECS.length);
  // A large one: columns in chunks of ~32 KiB of rows, the last one zero-padded.
  const big = join(dir, "w-big.hdf5");
  const w = await PartitionWriter.create(big, NATIVE_SPECS);
  for (let at = 0; at < 40_000; at += 10_000) w.append(batch(at, 10_000));
  await w.close();
  const bigHeader = execFileSync("h5dump", ["-H", "-p", big], { encoding: "utf8" });
  assert.match(
    bigHeader,
    /DATASET "image_array" \{\s+DATATYPE\s+H5T_IEEE_F32LE\s+DATASPACE\s+SIMPLE \{ \( 40000, 2, 4, 4 \) \/ \( 40000, 2, 4, 4 \) \}/,
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
