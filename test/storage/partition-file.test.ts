import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  ColumnLengthError,
  CorruptFileError,
  ManifestMismatchError,
  MissingColumnError,
  SchemaError,
  UsageError,
} from "../../src/core/errors.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { makeBatch, SPECS } from "../helpers/sample-columns.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

async function writeFile(name: string, total: number, batch: number, compression: "gzip" | "none") {
  const path = join(dir, name);
  const w = await PartitionWriter.create(path, SPECS, {
    compression,
    attrs: { survey: "TEST", release: "v1" },
  });
  for (let s = 0; s < total; s += batch) w.append(makeBatch(s, Math.min(batch, total - s)));
  return { path, written: await w.close() };
}

describe("partition files round-trip", () => {
  for (const compression of ["gzip", "none"] as const) {
    test(`every dtype and shape (${compression})`, async () => {
      const { path, written } = await writeFile(`rt-${compression}.hdf5`, 1000, 137, compression);
      assert.equal(written.rows, 1000);
      assert.match(written.sha256, /^[0-9a-f]{64}$/);
      const hash = (await import("node:crypto"))
        .createHash("sha256")
        .update(readFileSync(path))
        .digest("hex");
      assert.equal(written.sha256, hash);
      const f = await PartitionFile.open(path);
      try {
        assert.equal(f.length, 1000);
        assert.deepEqual(f.attrs(), { survey: "TEST", release: "v1" });
        const ra = f.column("ra");
        assert.equal(ra.unit, "deg");
        assert.equal(ra.description, "right ascension ICRS");
        assert.equal(f.column("flag").dtype, "bool");
        assert.equal(f.column("name").stringLength, 16);
        assert.equal(f.column("note").stringLength, undefined);
        assert.deepEqual(f.column("image_array").shape, [3, 4, 5]);
        assert.equal(f.column("image_array").compression, compression === "gzip" ? "gzip" : "none");
        assert.deepEqual(
          f.column("image_array").chunks,
          [1, 3, 4, 5].map((d, i) => (i === 0 ? f.column("image_array").chunks![0] : d)),
        );
        const all = f.readRange(
          SPECS.map((s) => s.name),
          0,
          1000,
        );
        // Batches have no prototype (a column may be called "constructor"): compare own columns.
        assert.deepEqual({ ...all }, makeBatch(0, 1000));
        const part = f.readRange(["image_array", "note"], 500, 503);
        assert.deepEqual(
          { ...part },
          {
            image_array: makeBatch(500, 3).image_array,
            note: makeBatch(500, 3).note,
          },
        );
      } finally {
        f.close();
      }
    });
  }

  test("readRows returns rows in the order asked, with repeats", async () => {
    const { path } = await writeFile("rows.hdf5", 3000, 1000, "gzip");
    const f = await PartitionFile.open(path);
    const rows = [2999, 0, 17, 17, 1500, 3, 2998, 1];
    const got = f.readRows(["object_id", "image_array", "name", "flag"], rows);
    const full = makeBatch(0, 3000);
    for (const [k, r] of rows.entries()) {
      assert.equal((got.object_id as BigInt64Array)[k], (full.object_id as BigInt64Array)[r]);
      assert.equal((got.name as string[])[k], (full.name as string[])[r]);
      assert.equal((got.flag as Uint8Array)[k], (full.flag as Uint8Array)[r]);
      assert.deepEqual(
        (got.image_array as Float32Array).subarray(k * 60, k * 60 + 60),
        (full.image_array as Float32Array).subarray(r * 60, r * 60 + 60),
      );
    }
    assert.throws(() => f.readRows(["ra"], [3000]), UsageError);
    assert.throws(() => f.readRange(["ra"], 10, 3001), UsageError);
    f.close();
  });

  test("an empty file has every column and zero rows", async () => {
    const path = join(dir, "empty.hdf5");
    const w = await PartitionWriter.create(path, SPECS);
    await w.close();
    const f = await PartitionFile.open(path);
    assert.equal(f.length, 0);
    assert.equal(f.columns().length, SPECS.length);
    assert.deepEqual(
      { ...f.readRange(["ra", "note"], 0, 0) },
      { ra: new Float64Array(0), note: [] },
    );
    f.close();
  });
});

describe("writer rejects bad batches and leaves no file behind", () => {
  test("wrong types, ragged columns, overlong strings, bool out of range", async () => {
    const path = join(dir, "bad.hdf5");
    const w = await PartitionWriter.create(path, SPECS);
    const good = makeBatch(0, 4);
    assert.throws(
      () => w.append({ ...good, ra: new Float32Array(4) }),
      (e: Error) =>
        e instanceof SchemaError && /column "ra"/.test(e.message) && /Float64Array/.test(e.message),
    );
    assert.throws(() => w.append({ ...good, mag: new Float32Array(3) }), ColumnLengthError);
    assert.throws(
      () => w.append({ ...good, image_array: new Float32Array(61) }),
      ColumnLengthError,
    );
    assert.throws(
      () => w.append({ ...good, name: ["a", "b", "c", "this-is-longer-than-16"] }),
      /exceeds the fixed length 16.*column "name".*row 3/,
    );
    assert.throws(
      () => w.append({ ...good, flag: Uint8Array.from([0, 1, 2, 0]) }),
      /bool values must be 0 or 1/,
    );
    const { ra: _ra, ...noRa } = good;
    assert.throws(() => w.append(noRa), /batch lacks a column.*"ra"/);
    w.append(good);
    assert.equal(w.rows, 4);
    await w.abort();
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(".bad.hdf5") || n === "bad.hdf5"),
      [],
    );
  });

  test("LZF writing is refused with the reason", async () => {
    await assert.rejects(
      PartitionWriter.create(join(dir, "lzf.hdf5"), SPECS, { compression: "lzf" }),
      /LZF writing is not supported/,
    );
  });

  test("the final name appears only at close", async () => {
    const path = join(dir, "atomic.hdf5");
    const w = await PartitionWriter.create(path, SPECS);
    w.append(makeBatch(0, 10));
    assert.ok(!readdirSync(dir).includes("atomic.hdf5"));
    await w.close();
    assert.ok(readdirSync(dir).includes("atomic.hdf5"));
  });
});

describe("reader errors name the file and the place", () => {
  test("not HDF5, empty, truncated, corrupt superblock, missing file", async () => {
    const { path } = await writeFile("victim.hdf5", 2000, 500, "gzip");
    const bytes = readFileSync(path);
    const cases: Array<[string, Buffer | null, RegExp]> = [
      ["text.hdf5", Buffer.from("ra,dec\n1,2\n"), /not an HDF5 file/],
      ["empty0.hdf5", Buffer.alloc(0), /empty file/],
      [
        "truncated.hdf5",
        bytes.subarray(0, Math.floor(bytes.length / 2)),
        /truncated|cannot open|cannot read/,
      ],
      [
        "badsuper.hdf5",
        Buffer.concat([bytes.subarray(0, 8), Buffer.alloc(40, 0xff), bytes.subarray(48)]),
        /cannot open/,
      ],
      ["missing.hdf5", null, /cannot open/],
    ];
    for (const [name, content, pattern] of cases) {
      const p = join(dir, name);
      if (content) writeFileSync(p, content);
      await assert.rejects(
        (async () => {
          const f = await PartitionFile.open(p);
          try {
            f.readRange(
              f.columns().map((c) => c.name),
              0,
              f.length,
            );
          } finally {
            f.close();
          }
        })(),
        (e: Error) =>
          e instanceof CorruptFileError && pattern.test(e.message) && e.message.includes(p),
        name,
      );
    }
    // the original is untouched
    assert.deepEqual(readFileSync(path), bytes);
  });

  test("missing column names the file, the column and what exists", async () => {
    const { path } = await writeFile("cols.hdf5", 5, 5, "none");
    const f = await PartitionFile.open(path);
    assert.throws(
      () => f.readRange(["ra", "dec"], 0, 1),
      (e: Error) =>
        e instanceof MissingColumnError &&
        e.message.includes('column "dec"') &&
        e.message.includes(path) &&
        /object_id/.test(e.message),
    );
    f.close();
  });

  test("expected row count from a manifest is checked", async () => {
    const { path } = await writeFile("count.hdf5", 5, 5, "none");
    // With a manifest count the file opens cheaply; each column is checked when first used.
    const f = await PartitionFile.open(path, { expectRows: 6 });
    assert.throws(
      () => f.readRange(["ra"], 0, 1),
      (e: Error) =>
        e instanceof ManifestMismatchError &&
        /column has 5 rows but the manifest says 6/.test(e.message) &&
        e.message.includes(path),
    );
    f.close();
  });
});

test("gzip files shuffle the bytes of numbers before deflate (arrays of 4-byte ones); not strings or bools", async () => {
  // Without libhdf5 (no variable-length string): AstroPile's own writer.
  const specs = SPECS.filter((s) => s.name !== "note");
  const path = join(dir, "shuffled.hdf5");
  const w = await PartitionWriter.create(path, specs, { compression: "gzip" });
  const batch = makeBatch(0, 5000);
  w.append(Object.fromEntries(specs.map((s) => [s.name, batch[s.name]!])));
  await w.close();
  const f = await PartitionFile.open(path);
  try {
    for (const spec of specs) {
      const number = spec.dtype !== "string" && spec.dtype !== "bool" && !/8$/.test(spec.dtype);
      const wide = number && (spec.shape.length === 0 || /32$/.test(spec.dtype));
      assert.deepEqual(
        f.column(spec.name).filters,
        wide ? ["shuffle", "gzip"] : ["gzip"],
        `${spec.name} (${spec.dtype})`,
      );
      assert.equal(f.column(spec.name).compression, "gzip", spec.name);
    }
    const back = f.readRange(
      specs.map((s) => s.name),
      0,
      5000,
    );
    for (const spec of specs) assert.deepEqual(back[spec.name], batch[spec.name], spec.name);
  } finally {
    f.close();
  }
});

test("chunking: one row per chunk for heavy rows, ~32 KiB chunks for light ones", async () => {
  const { chunkRows } = await import("../../src/storage/partition-writer.ts");
  assert.equal(chunkRows({ name: "image_array", dtype: "float32", shape: [5, 64, 64] }), 1);
  assert.equal(chunkRows({ name: "spectrum_flux", dtype: "float32", shape: [7781] }), 1);
  assert.equal(chunkRows({ name: "ra", dtype: "float64", shape: [] }), 4096);
  assert.equal(chunkRows({ name: "image_psf_fwhm", dtype: "float32", shape: [5] }), 1638);
});
