// Files of the own writer's structures are opened without libhdf5 (src/storage/hdf5-metadata.ts):
// what that open reports (columns, dtypes, shapes, chunks, filters, attributes, values) must be
// what libhdf5 reports for the same file, and files it does not cover must still open.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnBatch } from "../../src/core/columns.ts";
import { CorruptFileError } from "../../src/core/errors.ts";
import { DirectFile, NotCovered } from "../../src/storage/hdf5-direct.ts";
import { readFileMetadata } from "../../src/storage/hdf5-metadata.ts";
import { lookup3 } from "../../src/storage/lookup3.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { SPECS as ALL_SPECS, makeBatch } from "../helpers/sample-columns.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

// Every kind of column but variable-length strings (written and read through libhdf5).
const SPECS = ALL_SPECS.filter((c) => !(c.dtype === "string" && c.stringLength === undefined));

function batch(start: number, n: number): ColumnBatch {
  const b = makeBatch(start, n);
  for (const c of ALL_SPECS) if (!SPECS.includes(c)) delete b[c.name];
  return b;
}

const ROOT_ATTRS = {
  survey: "HSC",
  release: "pdr3 ★",
  count: 42,
  negative: -7,
  big: 2 ** 40,
  ratio: 0.125,
};

async function write(
  name: string,
  rows: number,
  options: Parameters<typeof PartitionWriter.create>[2] = {},
): Promise<string> {
  const path = join(dir, name);
  const w = await PartitionWriter.create(path, SPECS, { attrs: ROOT_ATTRS, ...options });
  for (let s = 0; s < rows; s += 500) w.append(batch(s, Math.min(500, rows - s)));
  await w.close();
  return path;
}

/** Everything a reader sees of a file, opened one way. */
async function seen(path: string, reader: "auto" | "h5wasm") {
  const f = await PartitionFile.open(path, { reader });
  try {
    const columns = f.columns();
    return {
      length: f.length,
      attrs: f.attrs(),
      columns,
      values: f.readRange(
        columns.map((c) => c.name),
        0,
        f.length,
      ),
      paths: columns.map((c) => f.readPath(c.name)),
    };
  } finally {
    f.close();
  }
}

for (const [label, rows, options] of [
  ["gzip, several chunks per column", 3000, { chunkBytes: 4096 }],
  ["uncompressed (Fletcher32)", 1200, { compression: "none" as const }],
  ["one chunk per column", 40, {}],
  ["no rows", 0, {}],
  ["past 1024 chunks (paged fixed arrays)", 2100, { chunkBytes: 8 }],
] as const) {
  test(`metadata read without libhdf5 is libhdf5's: ${label}`, async () => {
    const path = await write(`${label.replace(/\W+/g, "-")}.hdf5`, rows, options);
    // The file is one the own open covers (else this test compares libhdf5 with itself).
    const raw = new DirectFile(path);
    try {
      assert.equal(readFileMetadata(raw, { file: path }).datasets.length, SPECS.length);
    } finally {
      raw.close();
    }
    const own = await seen(path, "auto");
    const lib = await seen(path, "h5wasm");
    assert.deepEqual(
      own.columns.map((c) => c.name),
      lib.columns.map((c) => c.name),
    );
    assert.deepEqual(own.columns, lib.columns);
    assert.deepEqual(own.attrs, lib.attrs);
    assert.deepEqual(own.attrs, ROOT_ATTRS);
    assert.equal(own.length, rows);
    assert.equal(lib.length, rows);
    assert.deepEqual(own.values, lib.values);
    assert.ok(own.paths.every((p) => p === "direct"));
  });
}

test("files of other structures are not read here, and still open through libhdf5", async () => {
  // A variable-length string column: written by libhdf5 (superblock 3, its own structures).
  const path = join(dir, "vlen.hdf5");
  const w = await PartitionWriter.create(path, [{ name: "note", dtype: "string", shape: [] }], {
    attrs: { survey: "x" },
  });
  w.append({ note: ["a", "bb", "ccc"] });
  await w.close();
  const raw = new DirectFile(path);
  try {
    assert.throws(() => readFileMetadata(raw, { file: path }), NotCovered);
  } finally {
    raw.close();
  }
  const f = await PartitionFile.open(path);
  try {
    assert.deepEqual(f.readRange(["note"], 0, 3).note, ["a", "bb", "ccc"]);
    assert.equal(f.attrs().survey, "x");
  } finally {
    f.close();
  }
});

test("damaged metadata is refused, never read as other values", async () => {
  const path = await write("damaged.hdf5", 100);
  const clean = readFileSync(path);
  const raw = new DirectFile(path);
  let rootHeader: number;
  try {
    readFileMetadata(raw, { file: path });
    rootHeader = Number(clean.readBigUInt64LE(36));
  } finally {
    raw.close();
  }
  // A byte in the superblock, and one in the root header (its link names and attributes).
  for (const at of [30, rootHeader + 40, rootHeader + 200]) {
    const bytes = Buffer.from(clean);
    bytes[at] ^= 0x10;
    const bad = join(dir, `damaged-${at}.hdf5`);
    writeFileSync(bad, bytes);
    const direct = new DirectFile(bad);
    try {
      assert.throws(
        () => readFileMetadata(direct, { file: bad }),
        (err) => err instanceof CorruptFileError || err instanceof NotCovered,
        `byte ${at}`,
      );
    } finally {
      direct.close();
    }
    // libhdf5 is then asked, and refuses the file too.
    await assert.rejects(PartitionFile.open(bad), CorruptFileError, `byte ${at}`);
  }
});

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "storage", "metadata");

interface Expected {
  covered: boolean;
  attrs: Record<string, unknown>;
  values: Record<string, unknown[]>;
}

// Files libhdf5 wrote (scripts/make_metadata_fixtures.py, h5py): the reader covers the v110 ones
// (creation order tracked or not) and leaves dense attributes, superblock 0 and vlen to libhdf5.
const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as Record<
  string,
  Expected
>;
for (const [file, want] of Object.entries(expected)) {
  test(`h5py's ${file}: ${want.covered ? "read without libhdf5" : "left to libhdf5"}, as h5py reads it`, async () => {
    const path = join(FIXTURES, file);
    const raw = new DirectFile(path);
    try {
      if (want.covered) readFileMetadata(raw, { file: path });
      else assert.throws(() => readFileMetadata(raw, { file: path }), NotCovered);
    } finally {
      raw.close();
    }
    const own = await seen(path, "auto");
    const lib = await seen(path, "h5wasm");
    assert.deepEqual(own.columns, lib.columns);
    assert.deepEqual(own.attrs, lib.attrs);
    assert.deepEqual(own.values, lib.values);
    for (const [k, v] of Object.entries(want.attrs))
      assert.equal(own.attrs[k] instanceof Uint8Array ? undefined : own.attrs[k], v, k);
    for (const [k, v] of Object.entries(want.values))
      assert.deepEqual(
        Array.from(own.values[k] as ArrayLike<unknown>, (x) =>
          typeof x === "bigint" ? Number(x) : x,
        ),
        v,
        k,
      );
  });
}

test("a root group linking one name twice is refused", async () => {
  const path = join(dir, "twice.hdf5");
  const specs = [
    { name: "aa", dtype: "float64" as const, shape: [] },
    { name: "ab", dtype: "float64" as const, shape: [] },
  ];
  const w = await PartitionWriter.create(path, specs);
  w.append({ aa: new Float64Array([1, 2]), ab: new Float64Array([3, 4]) });
  await w.close();
  // Rename link "ab" to "aa" in the root header and give the header a valid checksum again.
  const bytes = readFileSync(path);
  const root = Number(bytes.readBigUInt64LE(36));
  const size = bytes.readUInt32LE(root + 10);
  const end = root + 14 + size;
  const header = bytes.subarray(root, end + 4);
  const at = header.indexOf(Buffer.from("ab"));
  assert.ok(at > 0);
  header[at + 1] = "a".charCodeAt(0);
  header.writeUInt32LE(lookup3(header.subarray(0, header.length - 4)), header.length - 4);
  const bad = join(dir, "twice-bad.hdf5");
  writeFileSync(bad, bytes);
  const raw = new DirectFile(bad);
  try {
    assert.throws(() => readFileMetadata(raw, { file: bad }), /links one name twice/);
  } finally {
    raw.close();
  }
});
