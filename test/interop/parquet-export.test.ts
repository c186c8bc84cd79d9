// Parquet export: DuckDB (not our reader) reads the files back with the dataset's rows and values;
// the card's data_files name the files; bad inputs are typed errors that leave nothing behind.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { isAstroPileError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import { ParquetReader } from "../../src/formats/parquet.ts";
import { exportParquet, writeParquetExport } from "../../src/interop/parquet-export.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { tempDir } from "../helpers/tmp.ts";
import { duck } from "./duck.ts";

const N = 300;
const dir = tempDir();
let ds: Dataset;

before(async () => {
  const all = imageRows(N, 11);
  await writeDataset(join(dir, "hsc"), IMAGE_COLUMNS, inBatches(all, IMAGE_COLUMNS, 64), {
    config: "pdr3_wide",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    layout: "adaptive",
    maxRowsPerFile: 80,
  });
  ds = await openDataset(join(dir, "hsc"));
});

/** All rows of the dataset's columns, in the dataset's order. */
async function datasetRows(view: Dataset, columns: string[]): Promise<ColumnBatch[]> {
  const out: ColumnBatch[] = [];
  for await (const b of view.batches({ size: 1000, columns })) out.push(b.columns);
  return out;
}

/** Compares DuckDB's rows (ordered as the dataset's) with the dataset's values, every column. */
function assertSameRows(
  rows: Record<string, unknown>[],
  batches: ColumnBatch[],
  specs: ColumnSpec[],
) {
  let i = 0;
  for (const b of batches) {
    const n = (b.ra as Float64Array).length;
    for (let r = 0; r < n; r++, i++) {
      for (const s of specs) {
        const per = s.shape.reduce((a, c) => a * c, 1);
        const v = b[s.name] as ArrayLike<unknown>;
        const conv = (x: unknown) => (s.dtype === "bool" ? x === 1 : x);
        const want =
          s.shape.length === 0
            ? conv(v[r])
            : Array.from({ length: per }, (_, j) => conv(v[r * per + j]));
        assert.deepEqual(rows[i][s.name], want, `row ${i} column ${s.name}`);
      }
    }
  }
  assert.equal(i, rows.length, "row count");
}

test("exportParquet: DuckDB reads the same rows and values (scalars, images, masks, band strings)", async () => {
  const out = join(dir, "hsc_parquet");
  const r = await exportParquet(ds, out);
  assert.equal(r.rows, N);
  assert.deepEqual(readdirSync(join(out, "data")), ["train-00000.parquet"]);
  const q = await duck();
  const rows = await q(
    `SELECT * FROM read_parquet('${out}/data/train-*.parquet') ORDER BY object_id`,
  );
  // The dataset's order is by _healpix_29; compare in object_id order on both sides.
  const specs = ds.features.map((f) => ({ name: f.name, dtype: f.dtype, shape: f.shape }));
  const all = await datasetRows(ds, ds.columns);
  const order = rows.map((row) => row.object_id as bigint);
  const byId = new Map<bigint, number>();
  let k = 0;
  for (const b of all) for (const id of b.object_id as BigInt64Array) byId.set(id, k++);
  assert.equal(byId.size, N);
  // Rebuild the dataset's rows in DuckDB's order.
  const flat: ColumnBatch = {};
  for (const s of specs) {
    const per = s.shape.reduce((a, c) => a * c, 1);
    const parts = all.map((b) => b[s.name]);
    const joined: unknown[] = parts.flatMap((p) => Array.from(p as ArrayLike<unknown>));
    const re: unknown[] = [];
    for (const id of order) {
      const at = byId.get(id)!;
      for (let j = 0; j < per; j++) re.push(joined[at * per + j]);
    }
    flat[s.name] = re as string[];
  }
  flat.ra = Float64Array.from(flat.ra as unknown as number[]);
  assertSameRows(rows, [flat], specs);
  const types = await q(`DESCRIBE SELECT * FROM '${out}/data/train-00000.parquet'`);
  const typeOf = Object.fromEntries(types.map((t) => [t.column_name, t.column_type]));
  assert.equal(typeOf.object_id, "BIGINT");
  assert.equal(typeOf.image_array, "FLOAT[]");
  assert.equal(typeOf.image_mask, "BOOLEAN[]");
  assert.equal(typeOf.image_band, "VARCHAR[]");
  assert.equal(typeOf.tract, "INTEGER");
  // Shapes and units in the field metadata (read back through the Arrow schema).
  const reader = await ParquetReader.open(join(out, "data", "train-00000.parquet"));
  const image = reader.specs.find((s) => s.name === "image_array")!;
  assert.deepEqual(image.shape, [3, 4, 4]);
  assert.equal(image.unit, "nanomaggy");
  assert.deepEqual(reader.specs.find((s) => s.name === "image_band")!.shape, [3]);
  reader.close();
  // The card: YAML configs/data_files naming the files.
  const card = readFileSync(join(out, "README.md"), "utf8");
  const front = parse(card.split("---\n")[1]);
  assert.deepEqual(front.configs, [
    { config_name: "default", data_files: [{ split: "train", path: "data/train-*.parquet" }] },
  ]);
  assert.match(card, /\| image_array \| float32 \| \[3, 4, 4\] \| nanomaggy \|/);
});

test("writeParquetExport: spectra and a cone view, files split by maxRowsPerFile, snappy", async () => {
  const L = 37;
  const specs: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "spectrum_flux", dtype: "float32", shape: [L], unit: "1e-17 erg/(s cm2 Angstrom)" },
    { name: "spectrum_mask", dtype: "bool", shape: [L] },
    { name: "z", dtype: "float64", shape: [] },
    { name: "flags", dtype: "uint16", shape: [] },
  ];
  const n = 250;
  const all: ColumnBatch = {
    object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 1000000007n - 5n),
    ra: Float64Array.from({ length: n }, (_, i) => i * 1.37),
    spectrum_flux: Float32Array.from({ length: n * L }, (_, k) => Math.sin(k) * 1e3),
    spectrum_mask: Uint8Array.from({ length: n * L }, (_, k) => (k % 3 === 0 ? 1 : 0)),
    z: Float64Array.from({ length: n }, (_, i) => (i === 7 ? Number.NaN : i / 100)),
    flags: Uint16Array.from({ length: n }, (_, i) => 65535 - i),
  };
  const out = join(dir, "spectra");
  const r = await writeParquetExport(inBatches(all, specs, 60), specs, out, {
    maxRowsPerFile: 100,
    compression: "snappy",
  });
  assert.equal(r.rows, n);
  assert.deepEqual(readdirSync(join(out, "data")), [
    "train-00000.parquet",
    "train-00001.parquet",
    "train-00002.parquet",
  ]);
  const q = await duck();
  const counts = await q(
    `SELECT filename, count(*) AS n FROM read_parquet('${out}/data/*.parquet', filename=true) GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(
    counts.map((c) => Number(c.n)),
    [100, 100, 50],
  );
  const rows = await q(
    `SELECT * FROM read_parquet('${out}/data/*.parquet', filename=true) ORDER BY filename, file_row_number`.replace(
      "filename=true)",
      "filename=true, file_row_number=true)",
    ),
  );
  for (const row of rows) {
    delete row.filename;
    delete row.file_row_number;
  }
  // NaN compares equal in deepEqual (Object.is).
  assertSameRows(rows, [all], specs);
  const meta = await q(
    `SELECT DISTINCT compression FROM parquet_metadata('${out}/data/*.parquet')`,
  );
  assert.deepEqual(
    meta.map((m) => m.compression),
    ["SNAPPY"],
  );
});

test("a single .parquet path: one file, zstd, no card; a cone view exports only its rows", async () => {
  const view = ds.coneSearch(ds.manifest.files[0] ? 0 : 0, 0, 180 * 3600).filter("tract == 9801");
  const out = join(dir, "one.parquet");
  const r = await exportParquet(view, out, { columns: ["object_id", "tract", "image_psf_fwhm"] });
  const q = await duck();
  const [{ n, bad }] = await q(
    `SELECT count(*) AS n, count(*) FILTER (WHERE tract <> 9801) AS bad FROM '${out}'`,
  );
  assert.equal(Number(n), r.rows);
  assert.equal(r.rows, await view.count());
  assert.equal(Number(bad), 0);
  const meta = await q(`SELECT DISTINCT compression FROM parquet_metadata('${out}')`);
  assert.deepEqual(
    meta.map((m) => m.compression),
    ["ZSTD"],
  );
});

test("bad inputs: typed errors and nothing left behind", async () => {
  const specs: ColumnSpec[] = [{ name: "x", dtype: "float64", shape: [] }];
  const rows = [{ x: new Float64Array([1, 2]) }];
  // Unwritable output: the parent is a regular file.
  writeFileSync(join(dir, "a-file"), "x");
  await assert.rejects(writeParquetExport(rows, specs, join(dir, "a-file", "out.parquet")), (e) =>
    isAstroPileError(e, "ASTROPILE_WRITE_FAILED"),
  );
  await assert.rejects(writeParquetExport(rows, specs, join(dir, "a-file", "outdir")), (e) =>
    isAstroPileError(e, "ASTROPILE_WRITE_FAILED"),
  );
  // Unsupported dtype.
  const bad = [{ name: "c", dtype: "complex64", shape: [] }] as unknown as ColumnSpec[];
  await assert.rejects(
    writeParquetExport([], bad, join(dir, "bad.parquet")),
    (e) => isAstroPileError(e, "ASTROPILE_SCHEMA") && /complex64/.test((e as Error).message),
  );
  // A batch that does not match the schema, after good ones: no file, no temporary.
  const sub = join(dir, "badbatch");
  mkdirSync(sub);
  async function* batches() {
    yield { x: new Float64Array([1, 2, 3]) };
    yield { x: new Float32Array([1]) };
  }
  await assert.rejects(
    writeParquetExport(batches(), specs, join(sub, "o.parquet")),
    (e) => isAstroPileError(e, "ASTROPILE_SCHEMA") && (e as { column?: string }).column === "x",
  );
  await assert.rejects(writeParquetExport(batches(), specs, join(sub, "o")), (e) =>
    isAstroPileError(e, "ASTROPILE_SCHEMA"),
  );
  assert.deepEqual(readdirSync(sub), []);
  // An existing output is not replaced unless asked.
  await writeParquetExport(rows, specs, join(sub, "o.parquet"));
  await assert.rejects(writeParquetExport(rows, specs, join(sub, "o.parquet")), (e) =>
    isAstroPileError(e, "ASTROPILE_USAGE"),
  );
  await writeParquetExport([{ x: new Float64Array([5]) }], specs, join(sub, "o.parquet"), {
    overwrite: true,
  });
  const q = await duck();
  assert.deepEqual(await q(`SELECT x FROM '${join(sub, "o.parquet")}'`), [{ x: 5 }]);
  // Ragged rows of an array column.
  await assert.rejects(
    writeParquetExport(
      [{ s: new Float32Array(5) }],
      [{ name: "s", dtype: "float32", shape: [2] }],
      join(sub, "r.parquet"),
    ),
    (e) => isAstroPileError(e, "ASTROPILE_COLUMN_LENGTH"),
  );
  assert.deepEqual(readdirSync(sub), ["o.parquet"]);
});
