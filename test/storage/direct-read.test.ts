// The fast read path (src/storage/hdf5-direct.ts) against h5wasm and h5py, one fixture per
// storage layout (made by scripts/make_direct_fixtures.py), then damaged and hostile files.
import assert from "node:assert/strict";
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnValues } from "../../src/core/columns.ts";
import { CorruptFileError, isAstroPileError } from "../../src/core/errors.ts";
import { type Dataset, h5wasm, hdf5Ready, openHdf5 } from "../../src/storage/hdf5.ts";
import {
  ColumnChunks,
  DecodedChunks,
  DirectColumn,
  DirectFile,
  fletcher32,
  lzfDecompress,
} from "../../src/storage/hdf5-direct.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "storage", "direct");

interface StoredChunk {
  offset: number[];
  mask: number;
  address: number;
  size: number;
}
interface Expected {
  unwrittenRows: number[];
  columns: Record<
    string,
    {
      dtype: string;
      shape: number[];
      filters: string[];
      storedChunks: StoredChunk[];
      chunkCount: number;
    }
  >;
}
const VALUES = JSON.parse(readFileSync(join(DIR, "values.json"), "utf8")) as Record<
  string,
  { shape: number[]; values: Array<string | number> }
>;

function comparable(values: ColumnValues): Array<string | number> {
  if (Array.isArray(values)) return values;
  if (values instanceof Float32Array || values instanceof Float64Array) return Array.from(values);
  return Array.from(values as Int32Array, String);
}

/** The values h5py reads from `file`: those of values.json, zero where rows were never written. */
function want(column: string, expected: Expected): Array<string | number> {
  const { shape, values } = VALUES[column];
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = values.map((v) => (typeof v === "number" && column !== "good" ? v : String(v)));
  for (const r of expected.unwrittenRows)
    for (let j = 0; j < per; j++) {
      const v = out[r * per + j];
      out[r * per + j] =
        typeof v === "number" ? 0 : column === "name" || column === "image_band" ? "" : "0";
    }
  return out;
}

const LAYOUTS: Array<[string, "direct" | "h5wasm"]> = [
  ["contiguous", "direct"],
  ["contiguous_be", "direct"],
  ["raw", "direct"],
  ["gzip", "direct"],
  ["gzip_be", "direct"],
  ["gzip_inner", "direct"],
  ["gzip_resized", "direct"],
  ["shuffle", "direct"],
  ["shuffle_only", "direct"],
  ["lzf", "direct"],
  ["fletcher32", "direct"],
  ["fletcher32_be", "direct"],
  // Version-4 layout messages (libver v110 / latest) and their chunk indexes.
  ["latest", "direct"],
  ["v4_fixed_gzip", "direct"],
  ["v4_fixed_gzip_be", "direct"],
  ["v4_fixed_raw", "direct"],
  ["v4_fixed_shuffle", "direct"],
  ["v4_fixed_fletcher32_be", "direct"],
  ["v4_fixed_paged", "direct"],
  ["v4_earray_gzip", "direct"],
  ["v4_earray_raw", "direct"],
  ["v4_earray_gzip_sblk", "direct"],
  ["v4_single_gzip", "direct"],
  ["v4_single_raw", "direct"],
  ["v4_implicit", "direct"],
  ["v4_btree2_gzip", "direct"],
  ["v4_btree2_raw", "direct"],
  // Chunks never written: the column is read by the fast path, the unwritten rows by h5wasm.
  ["unwritten", "direct"],
];

for (const [name, path] of LAYOUTS) {
  test(`${name}.hdf5: fast path, h5wasm and h5py give the same values`, async () => {
    const file = join(DIR, `${name}.hdf5`);
    const expected = JSON.parse(readFileSync(`${file}.expected.json`, "utf8")) as Expected;
    const fast = await PartitionFile.open(file);
    const slow = await PartitionFile.open(file, { reader: "h5wasm" });
    try {
      for (const column of Object.keys(expected.columns)) {
        assert.equal(fast.readPath(column), path, `${column} read path`);
        assert.equal(slow.readPath(column), "h5wasm");
        const all = want(column, expected);
        const per = all.length / fast.length;
        // Whole column, single rows at chunk edges, and ranges across partial chunks.
        const ranges = [
          [0, fast.length],
          [0, 1],
          [4, 5],
          [5, 6],
          [fast.length - 1, fast.length],
          [3, 11],
          [17, fast.length],
        ];
        for (const [s, e] of ranges) {
          const a = comparable(fast.readRange([column], s, e)[column]);
          const b = comparable(slow.readRange([column], s, e)[column]);
          assert.deepEqual(a, b, `${column} rows ${s}..${e}: fast path vs h5wasm`);
          assert.deepEqual(a, all.slice(s * per, e * per), `${column} rows ${s}..${e}: vs h5py`);
        }
        checkReadInto(fast, slow, column, expected.unwrittenRows);
        // Sparse rows (a shuffled loader's gather) go through the decoded-chunk cache: read
        // twice, the second time from chunks kept by the first, and other rows of them after.
        const rows = [36, 0, 5, 5, 20, 9];
        for (const pick of [rows, rows, [31, 2, 18, 7]]) {
          const a = comparable(fast.readRows([column], pick)[column]);
          assert.deepEqual(a, comparable(slow.readRows([column], pick)[column]), `${column} rows`);
          assert.deepEqual(
            a,
            pick.flatMap((r) => all.slice(r * per, (r + 1) * per)),
          );
        }
      }
      if (name.startsWith("v4_") || name === "latest")
        await checkIndex(file, expected, name === "latest" ? "v4_earray" : name);
      if (name === "lzf") {
        const chunks = Object.values(expected.columns).flatMap((c) => c.storedChunks);
        assert.ok(
          chunks.some((c) => c.mask !== 0),
          "some LZF chunks are stored raw",
        );
        assert.ok(
          chunks.some((c) => c.mask === 0),
          "some LZF chunks are compressed",
        );
      }
    } finally {
      fast.close();
      slow.close();
    }
  });
}

/**
 * readColumnInto (the loader's path) writes the values h5wasm reads, in native byte order, into
 * a shared buffer: pieces laid end to end and read last to first, so a chunk read in place
 * whose checksum lands past its piece lands on bytes already written, which must survive;
 * bytes before and after the pieces stay as they were.
 */
function checkReadInto(
  fast: PartitionFile,
  slow: PartitionFile,
  column: string,
  unwritten: number[],
): void {
  if (fast.column(column).dtype === "string") {
    assert.equal(fast.readColumnInto(column, 0, 1, new Uint8Array(64), 0), false);
    return;
  }
  const pieces = [
    [0, 5],
    [5, 15],
    [15, 16],
    [17, fast.length],
    [2, 3],
  ];
  const bytesOf = (v: ColumnValues) =>
    new Uint8Array(
      (v as Float64Array).buffer,
      (v as Float64Array).byteOffset,
      v.length === 0 ? 0 : (v as Float64Array).byteLength,
    );
  const want = pieces.map(([s, e]) => bytesOf(slow.readRange([column], s, e)[column]));
  const total = want.reduce((a, w) => a + w.length, 0);
  const buf = new Uint8Array(new SharedArrayBuffer(total + 16)).fill(0xa5);
  const at: number[] = [];
  for (let k = 0, o = 8; k < pieces.length; o += want[k++].length) at.push(o);
  const ok: boolean[] = [];
  for (let k = pieces.length - 1; k >= 0; k--) {
    const [s, e] = pieces[k];
    ok[k] = fast.readColumnInto(column, s, e, buf, at[k]);
    // Only a range with rows never written is left to the caller (h5wasm has the fill value).
    if (!ok[k])
      assert.ok(
        unwritten.some((r) => r >= s && r < e),
        `${column} rows ${s}..${e}`,
      );
  }
  for (let k = 0; k < pieces.length; k++)
    if (ok[k])
      assert.deepEqual(
        buf.subarray(at[k], at[k] + want[k].length),
        want[k],
        `${column} rows ${pieces[k][0]}..${pieces[k][1]} read into place`,
      );
  assert.deepEqual(Array.from(buf.subarray(0, 8)), new Array(8).fill(0xa5));
  assert.deepEqual(Array.from(buf.subarray(8 + total)), new Array(8).fill(0xa5));
}

/** The fast path's own index of each column: its kind, and as many chunks as libhdf5 counts. */
async function checkIndex(path: string, expected: Expected, name: string): Promise<void> {
  const h5 = await openHdf5(path);
  const raw = new DirectFile(path);
  try {
    for (const [column, info] of Object.entries(expected.columns)) {
      const ds = h5.get(column) as Dataset;
      const address = Number(Buffer.from(ds.create_reference().ref_data).readBigUInt64LE(0));
      const place = { file: path, column };
      const layout = raw.layout(address, place);
      assert.equal(layout.storage.kind, "chunked");
      const kind = layout.storage.kind === "chunked" ? layout.storage.v4?.type : undefined;
      // One-axis columns with every axis resizable have one unlimited axis: extensible array.
      const want = name.split("_")[1] as string;
      const one = info.shape.length === 1;
      const expectKind = want === "btree2" && one ? "earray" : want === "fixed" ? "fixed" : want;
      assert.equal(kind, expectKind, `${column}: chunk index type`);
      const direct = new DirectColumn(raw, layout, place);
      assert.equal(direct.storedChunks(), info.chunkCount, `${column}: chunks located`);
    }
  } finally {
    raw.close();
    h5.close();
  }
}

test("files PartitionWriter writes (gzip, and uncompressed with Fletcher32) take the fast path", async () => {
  const dir = tempDir();
  for (const compression of ["gzip", "none"] as const) {
    const path = join(dir, `${compression}.hdf5`);
    const w = await PartitionWriter.create(
      path,
      [
        { name: "x", dtype: "float64", shape: [] },
        { name: "img", dtype: "float32", shape: [2, 3] },
        { name: "s", dtype: "string", shape: [], stringLength: 5 },
        { name: "b", dtype: "bool", shape: [] },
        { name: "v", dtype: "string", shape: [] },
      ],
      { compression },
    );
    const n = 1000;
    w.append({
      x: Float64Array.from({ length: n }, (_, i) => i / 3),
      img: Float32Array.from({ length: 6 * n }, (_, i) => i * 0.5),
      s: Array.from({ length: n }, (_, i) => `é${i % 100}`),
      b: Uint8Array.from({ length: n }, (_, i) => i % 2),
      v: Array.from({ length: n }, (_, i) => `v${i}`),
    });
    await w.close();
    const fast = await PartitionFile.open(path);
    const slow = await PartitionFile.open(path, { reader: "h5wasm" });
    try {
      for (const c of ["x", "img", "s", "b"]) assert.equal(fast.readPath(c), "direct", c);
      // Variable-length strings live in the global heap: h5wasm reads them.
      assert.equal(fast.readPath("v"), "h5wasm");
      for (const c of ["x", "img", "s", "b", "v"])
        assert.deepEqual(
          comparable(fast.readRange([c], 0, n)[c]),
          comparable(slow.readRange([c], 0, n)[c]),
          c,
        );
      assert.ok(fast.readRange(["b"], 0, 2).b instanceof Uint8Array);
    } finally {
      fast.close();
      slow.close();
    }
  }
});

test("decoded chunks are cached across reads, and rows handed out are never the cached bytes", async () => {
  const path = join(tempDir(), "heavy.hdf5");
  // 16 KiB rows: one row per chunk, so a one-row read is handed the chunk's decoded bytes.
  const w = await PartitionWriter.create(path, [
    { name: "img", dtype: "float32", shape: [64, 64] },
    { name: "x", dtype: "float64", shape: [] },
  ]);
  const n = 6;
  w.append({
    img: Float32Array.from({ length: 4096 * n }, (_, i) => i),
    x: Float64Array.from({ length: n }, (_, i) => i + 0.5),
  });
  await w.close();
  const file = await PartitionFile.open(path);
  try {
    assert.equal(file.readPath("img"), "direct");
    const want = Float32Array.from({ length: 4096 }, (_, i) => 2 * 4096 + i);
    // The first read hands the chunk out, the second caches it, later ones copy from the cache:
    // a caller scribbling over its rows must not change what the next read returns.
    for (let k = 0; k < 4; k++) {
      const row = file.readRange(["img"], 2, 3).img as Float32Array;
      assert.deepEqual(row, want, `read ${k}`);
      row.fill(-1);
    }
    for (let k = 0; k < 4; k++) {
      const picked = file.readRows(["img", "x"], [3, 2, 2]);
      assert.deepEqual(
        (picked.img as Float32Array).subarray(4096),
        Float32Array.from([...want, ...want]),
        `rows ${k}`,
      );
      (picked.img as Float32Array).fill(-2);
      (picked.x as Float64Array).fill(-3);
      const x = file.readRange(["x"], 0, n).x;
      assert.deepEqual(
        x,
        Float64Array.from({ length: n }, (_, i) => i + 0.5),
      );
    }
  } finally {
    file.close();
  }
});

test("the decoded-chunk cache keeps the most recently used chunks within its bytes, per column", () => {
  const cache = new DecodedChunks(300);
  const a = new ColumnChunks();
  const b = new ColumnChunks();
  const chunk = (v: number) => new Uint8Array(100).fill(v);
  cache.set(a, 0, chunk(1));
  cache.set(b, 0, chunk(2));
  cache.set(a, 1, chunk(3));
  // Same chunk number, other column: its own entry.
  assert.equal(cache.get(a, 0)?.[0], 1);
  assert.equal(cache.get(b, 0)?.[0], 2);
  // a:0 was used last but one, a:1 least recently: a fourth chunk evicts a:1.
  cache.set(b, 5, chunk(4));
  assert.equal(cache.get(a, 1), undefined);
  assert.deepEqual([cache.get(a, 0)?.[0], cache.get(b, 0)?.[0], cache.get(b, 5)?.[0]], [1, 2, 4]);
  // Replacing a chunk counts its bytes once; a chunk of 200 bytes evicts the two oldest.
  cache.set(b, 5, chunk(6));
  assert.equal(cache.get(b, 5)?.[0], 6);
  cache.set(a, 2, new Uint8Array(200).fill(7));
  assert.equal(cache.get(a, 0), undefined);
  assert.equal(cache.get(b, 0), undefined);
  assert.equal(cache.get(b, 5)?.[0], 6);
  assert.equal(cache.get(a, 2)?.[0], 7);
  // A chunk handed out is remembered: the second read of it says so, once.
  assert.equal(cache.readAgain(a, 9), false);
  assert.equal(cache.readAgain(b, 9), false);
  assert.equal(cache.readAgain(a, 9), true);
  assert.equal(cache.readAgain(a, 9), false);
});

test("a damaged Fletcher32 chunk fails its first read and every later one, by every read path: never cached", async () => {
  const path = join(tempDir(), "damaged.hdf5");
  // Uncompressed (Fletcher32): 16 KiB image rows, one row per chunk; x's rows all in one chunk.
  const w = await PartitionWriter.create(
    path,
    [
      { name: "img", dtype: "float32", shape: [64, 64] },
      { name: "x", dtype: "float64", shape: [] },
    ],
    { compression: "none" },
  );
  const n = 6;
  const img = Float32Array.from({ length: 4096 * n }, (_, i) => i);
  const x = Float64Array.from({ length: n }, (_, i) => i + 0.5);
  w.append({ img, x });
  await w.close();
  // Damage the stored bytes of image row 2 and of x's chunk (found by their values).
  const stored = readFileSync(path);
  const fd = openSync(path, "r+");
  for (const values of [img.subarray(2 * 4096, 3 * 4096), x]) {
    const at = stored.indexOf(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    assert.ok(at > 0);
    writeSync(fd, Buffer.from([0x5a, 0xa5, 0x5a, 0xa5]), 0, 4, at + 8);
  }
  closeSync(fd);
  const file = await PartitionFile.open(path);
  try {
    assert.equal(file.readPath("img"), "direct");
    assert.equal(file.readPath("x"), "direct");
    const damaged = (column: string) => (err: unknown) => {
      assert.ok(err instanceof CorruptFileError, String(err));
      assert.equal(err.file, path);
      assert.equal(err.column, column);
      assert.match(err.message, /fletcher32 check failed/);
      assert.match(err.message, /chunk \d+ at byte \d+/);
      return true;
    };
    const batch = new Uint8Array(4 * 4096 * n);
    for (let k = 0; k < 3; k++) {
      // Rows of the undamaged chunks read as written, before and after the failures.
      assert.deepEqual(file.readRange(["img"], 3, 4).img, img.subarray(3 * 4096, 4 * 4096));
      // One row (the chunk handed out whole), rows picked, a range read in place, a batch buffer.
      assert.throws(() => file.readRange(["img"], 2, 3), damaged("img"), `read ${k}`);
      assert.throws(() => file.readRows(["img"], [4, 2]), damaged("img"), `rows ${k}`);
      assert.throws(() => file.readRange(["img"], 0, n), damaged("img"), `range ${k}`);
      assert.throws(() => file.readColumnInto("img", 1, 4, batch, 0), damaged("img"), `into ${k}`);
      // A light column's row (read through the shared small-read buffer) and all its rows.
      assert.throws(() => file.readRange(["x"], 1, 2), damaged("x"), `x row ${k}`);
      assert.throws(() => file.readRange(["x"], 0, n), damaged("x"), `x rows ${k}`);
    }
  } finally {
    file.close();
  }
});

test("one-row reads of light columns through the shared buffer are arrays of their own", async () => {
  const path = join(tempDir(), "light.hdf5");
  const w = await PartitionWriter.create(
    path,
    [
      { name: "x", dtype: "float64", shape: [] },
      { name: "pair", dtype: "int16", shape: [2] },
    ],
    { compression: "none" },
  );
  const n = 50;
  w.append({
    x: Float64Array.from({ length: n }, (_, i) => i + 0.25),
    pair: Int16Array.from({ length: 2 * n }, (_, i) => i - 40),
  });
  await w.close();
  const file = await PartitionFile.open(path);
  try {
    const rows = [];
    for (let r = 0; r < n; r++) rows.push(file.readRange(["x", "pair"], r, r + 1));
    // Each row kept its own values after the later reads (none is a view of a reused buffer).
    rows.forEach((row, r) => {
      assert.deepEqual(row.x, Float64Array.from([r + 0.25]));
      assert.deepEqual(row.pair, Int16Array.from([2 * r - 40, 2 * r - 39]));
      (row.x as Float64Array)[0] = -1;
    });
    assert.deepEqual(file.readRange(["x"], 7, 8).x, Float64Array.from([7.25]));
  } finally {
    file.close();
  }
});

test("a damaged compressed chunk is a CorruptFileError naming file, column and chunk", async () => {
  const dir = tempDir();
  for (const name of ["gzip", "lzf", "fletcher32"]) {
    const src = join(DIR, `${name}.hdf5`);
    const expected = JSON.parse(readFileSync(`${src}.expected.json`, "utf8")) as Expected;
    const chunk = expected.columns.image_array.storedChunks[1];
    assert.equal(chunk.mask, 0, "a chunk that went through the filters");
    const path = join(dir, `${name}.hdf5`);
    copyFileSync(src, path);
    const fd = openSync(path, "r+");
    // LZF has no checksum: changed literal bytes go unnoticed by any reader, so break its
    // structure (a back reference before the start); deflate and Fletcher32 catch any change.
    if (name === "lzf") writeSync(fd, Buffer.alloc(4, 0xe0), 0, 4, chunk.address);
    else writeSync(fd, Buffer.alloc(24, 0x5a), 0, 24, chunk.address + Math.floor(chunk.size / 3));
    closeSync(fd);
    const file = await PartitionFile.open(path);
    try {
      assert.equal(file.readPath("image_array"), "direct");
      // Rows of other chunks still read.
      file.readRange(["image_array"], 0, 1);
      const row = chunk.offset[0];
      assert.throws(
        () => file.readRange(["image_array"], row, row + 1),
        (err: unknown) => {
          assert.ok(err instanceof CorruptFileError, String(err));
          assert.ok(isAstroPileError(err, "ASTROPILE_CORRUPT_FILE"));
          assert.equal(err.file, path);
          assert.equal(err.column, "image_array");
          assert.match(err.message, /chunk \d+ at byte \d+/);
          assert.match(err.message, /damaged|past the end/);
          return true;
        },
        name,
      );
    } finally {
      file.close();
    }
  }
});

test("a chunk address past the end of the file is a CorruptFileError, not a read out of bounds", async () => {
  const dir = tempDir();
  const src = join(DIR, "gzip.hdf5");
  const expected = JSON.parse(readFileSync(`${src}.expected.json`, "utf8")) as Expected;
  const chunk = expected.columns.mag.storedChunks[2];
  const path = join(dir, "hostile.hdf5");
  copyFileSync(src, path);
  // The B-tree holds the chunk's address as 8 little-endian bytes: point it far away.
  const bytes = readFileSync(path);
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64LE(BigInt(chunk.address));
  const at = bytes.indexOf(needle);
  assert.ok(at > 0);
  const fd = openSync(path, "r+");
  const far = Buffer.alloc(8);
  far.writeBigUInt64LE(1n << 40n);
  writeSync(fd, far, 0, 8, at);
  closeSync(fd);
  const file = await PartitionFile.open(path);
  try {
    assert.throws(
      () => file.readRange(["mag"], chunk.offset[0], chunk.offset[0] + 1),
      (err: unknown) =>
        err instanceof CorruptFileError &&
        err.column === "mag" &&
        /past the end of the file/.test(err.message),
    );
  } finally {
    file.close();
  }
});

test("a truncated file is a CorruptFileError", async () => {
  const dir = tempDir();
  for (const name of ["gzip", "contiguous"]) {
    const path = join(dir, `${name}.hdf5`);
    copyFileSync(join(DIR, `${name}.hdf5`), path);
    truncateSync(path, Math.floor(readFileSync(path).length * 0.6));
    await assert.rejects(
      async () => {
        const file = await PartitionFile.open(path);
        try {
          file.readRange(["image_array"], 0, file.length);
        } finally {
          file.close();
        }
      },
      (err: unknown) => err instanceof CorruptFileError && err.file === path,
    );
  }
});

test("fletcher32 and LZF decoding agree with known values", () => {
  // HDF5's Fletcher32 reads big-endian 16-bit words; an odd last byte is a word's high byte.
  assert.equal(fletcher32(Uint8Array.from([1, 2])), 0x01020102);
  assert.equal(fletcher32(Uint8Array.from([1, 2, 3])), 0x05040402);
  assert.equal(fletcher32(Uint8Array.from([1])), 0x01000100);
  // LZF: a literal run of 3, then a back reference of length 4 at distance 3 ("abcabca").
  const place = { file: "x" };
  assert.deepEqual(
    Buffer.from(lzfDecompress(Uint8Array.from([2, 97, 98, 99, 0x40, 2]), 7, place)).toString(),
    "abcabca",
  );
  assert.throws(
    () => lzfDecompress(Uint8Array.from([2, 97, 98, 99, 0x40, 9]), 7, place),
    CorruptFileError,
  );
});

/** The fast path's column reader of `column`, built from the file itself. */
async function directOf(
  path: string,
  column: string,
): Promise<{ col: DirectColumn; raw: DirectFile }> {
  const h5 = await openHdf5(path);
  try {
    const ds = h5.get(column) as Dataset;
    const address = Number(Buffer.from(ds.create_reference().ref_data).readBigUInt64LE(0));
    const raw = new DirectFile(path);
    const place = { file: path, column };
    return { col: new DirectColumn(raw, raw.layout(address, place), place), raw };
  } finally {
    h5.close();
  }
}

test("files of libhdf5's libver v110 writer (AstroPile's before its own): extensible array with super blocks and paged data blocks, all on the fast path", async () => {
  // One row per chunk: past 131060 chunks the extensible array's data blocks (2048 entries)
  // are split in pages of 1024 entries, each page with its own checksum. Growable columns
  // written through h5wasm, as PartitionWriter wrote files larger than one 8 MiB block.
  const dir = tempDir();
  const path = join(dir, "paged.hdf5");
  const n = 135_500;
  const b = Uint8Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
  const k = Int16Array.from({ length: n }, (_, i) => ((i * 31) % 65536) - 32768);
  const pad = Uint8Array.from({ length: n * 61 }, (_, i) => i % 251);
  await hdf5Ready();
  const h5 = new (h5wasm().File)(path, "w", { libver: ["v110", "v110"] });
  try {
    for (const [name, dtype, row, data] of [
      ["b", "<B", [], b],
      ["k", "<h", [], k],
      ["pad", "<B", [61], pad],
    ] as const) {
      const ds = h5.create_dataset({
        name,
        data: data.slice(0, 0),
        shape: [0, ...row],
        maxshape: [null, ...row],
        chunks: [1, ...row],
        dtype,
        compression: 3, // Fletcher32
        compression_opts: [],
      });
      ds.resize([n, ...row]);
      ds.write_slice([[0, n]], data);
    }
  } finally {
    h5.close();
  }
  const bytes = readFileSync(path);
  assert.ok(bytes.indexOf("EASB") > 0 && bytes.indexOf("EADB") > 0, "super and data blocks");
  const { col, raw } = await directOf(path, "b");
  try {
    assert.equal(col.layout.storage.kind === "chunked" && col.layout.storage.v4?.type, "earray");
    assert.equal(col.storedChunks(), n, "every chunk located");
  } finally {
    raw.close();
  }
  const fast = await PartitionFile.open(path);
  const slow = await PartitionFile.open(path, { reader: "h5wasm" });
  try {
    for (const c of ["b", "k"]) assert.equal(fast.readPath(c), "direct", c);
    assert.deepEqual(comparable(fast.readRange(["k"], 0, n).k), comparable(k));
    assert.deepEqual(Array.from(fast.readRange(["b"], 0, n).b as Uint8Array), Array.from(b));
    for (const [s, e] of [
      [131_000, 131_100],
      [133_100, 133_120],
      [n - 5, n],
    ])
      assert.deepEqual(
        comparable(fast.readRange(["k"], s, e).k),
        comparable(slow.readRange(["k"], s, e).k),
      );
  } finally {
    fast.close();
    slow.close();
  }
  // A flipped byte in a page of the last (paged) data block: that page's checksum catches it.
  const last = bytes.lastIndexOf("EADB");
  const pageAt = last + 14 + 4 + 4; // prefix: signature..header address, block offset, checksum
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.from([bytes[pageAt + 30] ^ 0x01]), 0, 1, pageAt + 30);
  closeSync(fd);
  const damaged = await PartitionFile.open(path);
  try {
    // The index is read in pieces, as rows need them: rows whose piece is intact still read.
    const head = damaged.readRange(["b", "k", "pad"], 0, 100);
    assert.deepEqual(Array.from(head.b as Uint8Array), Array.from(b.subarray(0, 100)));
    assert.deepEqual(comparable(head.k), comparable(k.subarray(0, 100)));
    assert.deepEqual(Array.from(head.pad as Uint8Array), Array.from(pad.subarray(0, 100 * 61)));
    const errors = ["b", "k", "pad"].map((c) => {
      try {
        damaged.readRange([c], 0, n);
        return null;
      } catch (err) {
        return err;
      }
    });
    const caught = errors.filter((e) => e !== null);
    assert.equal(caught.length, 1, String(caught));
    assert.ok(caught[0] instanceof CorruptFileError);
    assert.match(
      caught[0].message,
      /extensible array data block page \d+ at byte \d+: checksum mismatch/,
    );
  } finally {
    damaged.close();
  }
});

/** Every chunk index structure in a file: [signature, byte offset] (version byte 0 after it). */
function structures(bytes: Buffer): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const sig of ["FAHD", "FADB", "EAHD", "EAIB", "EASB", "EADB", "BTHD", "BTIN", "BTLF"]) {
    const at = bytes.indexOf(sig);
    if (at >= 0 && bytes[at + 4] === 0) out.push([sig, at]);
  }
  return out;
}

test("a flipped byte inside any chunk index structure is a CorruptFileError (checksum), never wrong values", async () => {
  const dir = tempDir();
  const targets: Array<[string, string, number]> = [];
  for (const name of [
    "v4_fixed_gzip",
    "v4_fixed_paged",
    "v4_earray_raw",
    "v4_earray_gzip_sblk",
    "v4_btree2_gzip",
  ]) {
    const src = join(DIR, `${name}.hdf5`);
    const bytes = readFileSync(src);
    for (const [sig, at] of structures(bytes)) targets.push([name, sig, at + 8]);
    // A page of the paged fixed array (no signature: its own checksum): the 2nd page's entries.
    // Its header says how many entries (more than 1024: paged) of how many bytes.
    for (let h = bytes.indexOf("FAHD"); h >= 0; h = bytes.indexOf("FAHD", h + 1)) {
      const entries = Number(bytes.readBigUInt64LE(h + 8));
      if (entries <= 1024) continue;
      const block = Number(bytes.readBigUInt64LE(h + 16));
      const pageBytes = 1024 * bytes[h + 6] + 4;
      targets.push([name, "FADB page", block + 14 + 1 + 4 + pageBytes + 20]);
    }
  }
  assert.ok(targets.length >= 12);
  const seen = new Set(targets.map(([, sig]) => sig));
  for (const sig of ["FAHD", "FADB", "FADB page", "EAHD", "EAIB", "EASB", "EADB"])
    assert.ok(seen.has(sig), sig);
  for (const sig of ["BTHD", "BTIN", "BTLF"]) assert.ok(seen.has(sig), sig);
  for (const [name, sig, at] of targets) {
    const src = join(DIR, `${name}.hdf5`);
    const expected = JSON.parse(readFileSync(`${src}.expected.json`, "utf8")) as Expected;
    const path = join(dir, `${name}-${sig.replace(" ", "_")}.hdf5`);
    copyFileSync(src, path);
    const bytes = readFileSync(path);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from([bytes[at] ^ 0x10]), 0, 1, at);
    closeSync(fd);
    const file = await PartitionFile.open(path);
    let caught = 0;
    try {
      for (const column of Object.keys(expected.columns)) {
        let values: Array<string | number>;
        try {
          values = comparable(file.readRange([column], 0, file.length)[column]);
        } catch (err) {
          assert.ok(err instanceof CorruptFileError, `${name} ${sig}: ${String(err)}`);
          assert.equal(err.file, path);
          assert.equal(err.column, column);
          assert.match(err.message, /checksum mismatch/);
          caught++;
          continue;
        }
        assert.deepEqual(values, want(column, expected), `${name} ${sig} ${column}`);
      }
    } finally {
      file.close();
    }
    assert.equal(caught, 1, `${name} ${sig}: one column's index is damaged`);
  }
});
