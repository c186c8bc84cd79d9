// HATS export checked with DuckDB and against the HATS layout rules; the read side checked on
// the real HATS test catalog small_sky_order1 (test/fixtures/hats, from astronomy-commons/hats).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { parquetMetadata } from "hyparquet";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { isAstroPileError, UsageError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import { exportHats, writeHatsExport } from "../../src/interop/hats.ts";
import { openHatsCatalog, parseProperties } from "../../src/interop/hats-read.ts";
import { datasetRootOf } from "../../src/interop/mmu-adopt.ts";
import { ang2pixOrder29 } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { duck } from "./duck.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "hats", "small_sky_order1");
const N = 1500;
const dir = tempDir();
let ds: Dataset;

before(async () => {
  const all = imageRows(N, 23);
  await writeDataset(join(dir, "hsc"), IMAGE_COLUMNS, inBatches(all, IMAGE_COLUMNS, 200), {
    config: "pdr3_wide",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    layout: "adaptive",
    maxRowsPerFile: 300,
  });
  ds = await openDataset(join(dir, "hsc"));
});

/** Haversine distance in degrees: the brute-force reference, independent of src/sky. */
function haversineDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const a =
    Math.sin(((dec2 - dec1) * r) / 2) ** 2 +
    Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.sin(((ra2 - ra1) * r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(a)))) / r;
}

test("exportHats: the HATS layout, partitions by row count, DuckDB reads the dataset's rows", async () => {
  const out = join(dir, "hsc_hats");
  const threshold = 150;
  const r = await exportHats(ds, out, { maxRowsPerPartition: threshold, highestOrder: 7 });
  assert.equal(r.rows, N);
  assert.ok(r.partitions.length > 5, `${r.partitions.length} partitions`);
  assert.ok(new Set(r.partitions.map((p) => p.order)).size > 1, "partitions of several orders");
  // properties: the keys hats requires for an object catalog, twice (new and old name).
  const props = parseProperties(readFileSync(join(out, "hats.properties"), "utf8"));
  assert.deepEqual(
    readFileSync(join(out, "properties"), "utf8"),
    readFileSync(join(out, "hats.properties"), "utf8"),
  );
  assert.equal(props.obs_collection, "hsc_hats");
  assert.equal(props.dataproduct_type, "object");
  assert.equal(props.hats_nrows, String(N));
  assert.equal(props.hats_col_ra, "ra");
  assert.equal(props.hats_col_dec, "dec");
  assert.equal(props.hats_col_healpix, "_healpix_29");
  assert.equal(props.hats_col_healpix_order, "29");
  assert.equal(props.hats_max_rows, String(threshold));
  assert.equal(props.hats_order, String(Math.max(...r.partitions.map((p) => p.order))));
  // partition_info.csv lists exactly the files on disk.
  const csv = readFileSync(join(out, "partition_info.csv"), "utf8").trim().split("\n");
  assert.equal(csv[0], "Norder,Npix");
  const listed = csv.slice(1).map((l) => l.split(",").map(Number));
  const onDisk: number[][] = [];
  for (const o of readdirSync(join(out, "dataset")).filter((d) => d.startsWith("Norder="))) {
    for (const d of readdirSync(join(out, "dataset", o))) {
      for (const f of readdirSync(join(out, "dataset", o, d))) {
        const k = Number(o.slice(7));
        const p = Number(/^Npix=(\d+)\.parquet$/.exec(f)![1]);
        assert.equal(d, `Dir=${Math.floor(p / 10000) * 10000}`);
        onDisk.push([k, p]);
      }
    }
  }
  const sortPairs = (a: number[][]) => [...a].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  assert.deepEqual(sortPairs(onDisk), listed);
  // DuckDB: every partition's rows lie in its pixel, within the threshold (unless at the
  // highest order), sorted by _healpix_29; together they are the dataset's rows.
  const q = await duck();
  const glob = `${out}/dataset/Norder=*/Dir=*/*.parquet`;
  const perFile = await q(
    `SELECT filename, count(*) AS n, bool_and(_healpix_29 >= 0) AS ok FROM read_parquet('${glob}', filename=true, hive_partitioning=false) GROUP BY 1`,
  );
  assert.equal(perFile.length, listed.length);
  for (const f of perFile) {
    const m = /Norder=(\d+)\/Dir=\d+\/Npix=(\d+)\.parquet$/.exec(f.filename as string)!;
    const k = Number(m[1]);
    const pix = BigInt(m[2]);
    assert.ok(Number(f.n) <= threshold || k === 7, `${f.filename}: ${f.n} rows`);
    const keys = (await q(`SELECT _healpix_29 AS k FROM '${f.filename}'`)).map(
      (x) => x.k as bigint,
    );
    for (let i = 0; i < keys.length; i++) {
      assert.equal(
        keys[i] >> BigInt(2 * (29 - k)),
        pix,
        `${f.filename} row ${i} outside its pixel`,
      );
      if (i > 0) assert.ok(keys[i] >= keys[i - 1], `${f.filename} not sorted`);
    }
  }
  const cols = (
    await q(`DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning=false)`)
  ).map((c) => c.column_name);
  assert.equal(cols[0], "_healpix_29");
  const got = await q(
    `SELECT object_id, ra, dec, "forced.g_cmodel_mag" AS mag, image_array, image_band FROM read_parquet('${glob}', hive_partitioning=false) ORDER BY object_id`,
  );
  const want: Array<Record<string, unknown>> = [];
  for await (const b of ds.batches({
    size: 500,
    columns: ["object_id", "ra", "dec", "forced.g_cmodel_mag", "image_array", "image_band"],
  })) {
    for (let i = 0; i < b.length; i++) {
      want.push({
        object_id: (b.columns.object_id as BigInt64Array)[i],
        ra: (b.columns.ra as Float64Array)[i],
        dec: (b.columns.dec as Float64Array)[i],
        mag: (b.columns["forced.g_cmodel_mag"] as Float32Array)[i],
        image_array: Array.from(
          (b.columns.image_array as Float32Array).subarray(i * 48, (i + 1) * 48),
        ),
        image_band: (b.columns.image_band as string[]).slice(i * 3, (i + 1) * 3),
      });
    }
  }
  want.sort((a, b) => ((a.object_id as bigint) < (b.object_id as bigint) ? -1 : 1));
  assert.deepEqual(got, want);
  // _metadata: every partition's row groups with its file_path; _common_metadata: the schema.
  const buf = readFileSync(join(out, "dataset", "_metadata"));
  const md = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  assert.equal(Number(md.num_rows), N);
  const rowsByPath = new Map<string, number>();
  for (const rg of md.row_groups) {
    const path = rg.columns[0].file_path!;
    for (const c of rg.columns) assert.equal(c.file_path, path);
    rowsByPath.set(path, (rowsByPath.get(path) ?? 0) + Number(rg.num_rows));
  }
  assert.deepEqual(
    [...rowsByPath.entries()].sort(),
    r.partitions.map((p) => [p.path.slice("dataset/".length), p.rows]).sort(),
  );
  const [{ n: metaRows }] = await q(
    `SELECT num_rows AS n FROM parquet_file_metadata('${out}/dataset/_metadata')`,
  );
  assert.equal(Number(metaRows), N);
  const schemaOf = async (f: string) =>
    (await q(`SELECT name, type, converted_type FROM parquet_schema('${f}')`)).map((x) =>
      JSON.stringify(x),
    );
  assert.deepEqual(
    await schemaOf(`${out}/dataset/_common_metadata`),
    await schemaOf(`${out}/${r.partitions[0].path}`),
  );
  assert.deepEqual(
    await schemaOf(`${out}/dataset/_metadata`),
    await schemaOf(`${out}/${r.partitions[0].path}`),
  );

  // Read back: the cone search equals a brute-force scan of the dataset's positions.
  const cat = await openHatsCatalog(out);
  assert.equal(cat.rows, N);
  assert.equal(cat.partitions.length, r.partitions.length);
  const pos: Array<[bigint, number, number]> = want.map((w) => [
    w.object_id as bigint,
    w.ra as number,
    w.dec as number,
  ]);
  for (const [ra, dec, radius] of [
    [pos[10][1], pos[10][2], 3600],
    [pos[700][1], pos[700][2], 200],
    [0.001, 10, 7200],
  ] as const) {
    const res = await cat.coneSearch(ra, dec, radius, { columns: ["object_id", "image_band"] });
    const ids = [...(res.columns.object_id as BigInt64Array)].sort();
    const brute = pos
      .filter((p) => haversineDeg(ra, dec, p[1], p[2]) * 3600 <= radius)
      .map((p) => p[0])
      .sort();
    assert.ok(brute.length > 0, "rows in the cone");
    assert.deepEqual(ids, brute, `cone ${ra} ${dec} ${radius}`);
    assert.ok(res.partitionsRead < r.partitions.length, "not every partition read");
    assert.equal((res.columns.image_band as string[]).length, 3 * res.length);
  }
});

test("the real HATS test catalog small_sky_order1: opened read-only, cone search exact", async () => {
  const cat = await openHatsCatalog(FIXTURE);
  assert.equal(cat.name, "small_sky_order1");
  assert.equal(cat.rows, 131);
  assert.deepEqual(
    cat.partitions.map((p) => [p.order, p.pixel]),
    [
      [1, 44],
      [1, 45],
      [1, 46],
      [1, 47],
    ],
  );
  assert.deepEqual(cat.columns, ["_healpix_29", "id", "ra", "dec", "ra_error", "dec_error"]);
  const q = await duck();
  const rows = await q(
    `SELECT id, ra, dec FROM read_parquet('${FIXTURE}/dataset/Norder=*/Dir=*/*.parquet', hive_partitioning=false)`,
  );
  assert.equal(rows.length, 131);
  let total = 0;
  for await (const b of cat.batches({ columns: ["id"] })) total += b.length;
  assert.equal(total, 131);
  let nonEmpty = 0;
  const at = (i: number) => [rows[i].ra as number, rows[i].dec as number] as const;
  for (const [ra, dec, radius] of [
    [...at(5), 1800],
    [...at(50), 7200],
    [...at(100), 36000],
    [300, -50, 36000],
    [10, 10, 3600],
  ] as const) {
    const res = await cat.coneSearch(ra, dec, radius, { columns: ["id", "ra", "dec"] });
    nonEmpty += res.length > 0 ? 1 : 0;
    const ids = [...(res.columns.id as BigInt64Array)].map(Number).sort((a, b) => a - b);
    const brute = rows
      .filter((r) => haversineDeg(ra, dec, r.ra as number, r.dec as number) * 3600 <= radius)
      .map((r) => Number(r.id))
      .sort((a, b) => a - b);
    assert.deepEqual(ids, brute, `cone ${ra} ${dec} ${radius}`);
    for (let i = 0; i < res.length; i++)
      assert.ok(
        Math.abs(
          res.distArcsec[i] -
            haversineDeg(
              ra,
              dec,
              (res.columns.ra as Float64Array)[i],
              (res.columns.dec as Float64Array)[i],
            ) *
              3600,
        ) < 1e-6,
      );
  }
  assert.ok(nonEmpty >= 4, `${nonEmpty} cones with rows`);
  // A partition-wide cone reads some partitions, not all.
  const small = await cat.coneSearch(315, -66, 60);
  assert.ok(small.partitionsRead < 4, "not every partition read");
});

test('openDataset and the CLI on a HATS catalog: a UsageError naming openHatsCatalog, not "no manifest"', async () => {
  const saysWhatReadsIt = (where: string) => (e: Error & { code?: string; file?: string }) => {
    assert.ok(e instanceof UsageError, `${e.name}: ${e.message}`);
    assert.equal(e.code, "ASTROPILE_USAGE");
    assert.equal(e.file, where);
    assert.match(e.message, /is a HATS catalog/);
    assert.ok(e.message.includes(`openHatsCatalog(${JSON.stringify(where)})`), e.message);
    return true;
  };
  await assert.rejects(openDataset(FIXTURE), saysWhatReadsIt(FIXTURE));
  // What the CLI and the server open through.
  await assert.rejects(datasetRootOf(FIXTURE), saysWhatReadsIt(FIXTURE));
  // Without partition_info.csv (the dataset/ directory lists the partitions): the same.
  const copy = join(dir, "small_sky_copy");
  cpSync(FIXTURE, copy, { recursive: true });
  rmSync(join(copy, "partition_info.csv"));
  await assert.rejects(openDataset(copy), saysWhatReadsIt(copy));
  // The catalog itself still opens as what it is.
  assert.equal((await openHatsCatalog(copy)).rows, 131);
  // A directory that is neither a dataset nor a HATS catalog: the manifest error, as before.
  rmSync(join(copy, "hats.properties"));
  rmSync(join(copy, "properties"));
  await assert.rejects(openDataset(copy), (e: Error & { code?: string }) => {
    assert.equal(e.code, "ASTROPILE_BAD_MANIFEST", e.message);
    return true;
  });
  // The command as a user runs it: exit code 2 (usage) and the same sentence.
  const r = spawnSync(process.execPath, cliArgs("info", FIXTURE), { encoding: "utf8" });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /is a HATS catalog/);
  assert.match(r.stderr, /openHatsCatalog\(/);
});

test("bad inputs: rows out of order, missing partitions, no properties, an existing output", async () => {
  const specs: ColumnSpec[] = [
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
  ];
  const unsorted = () => [
    { ra: new Float64Array([10, 200, 10]), dec: new Float64Array([0, 0, 1]) },
  ];
  const out = join(dir, "unsorted");
  await assert.rejects(
    writeHatsExport(unsorted, [...specs], out),
    (e) => isAstroPileError(e, "ASTROPILE_USAGE") && /ascending/.test((e as Error).message),
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes(".tmp")),
    [],
  );
  await assert.rejects(
    writeHatsExport(unsorted, [{ name: "x", dtype: "float64", shape: [] }], out),
    (e) => isAstroPileError(e, "ASTROPILE_SCHEMA"),
  );
  // Sorted rows without _healpix_29: keys computed, the column added first.
  const pts = [
    [45, 0],
    [45.001, 0],
    [300, -60],
  ];
  const keys = ang2pixOrder29(
    pts.map((p) => p[0]),
    pts.map((p) => p[1]),
  );
  const order = [0, 1, 2].sort((a, b) => (keys[a] < keys[b] ? -1 : 1));
  const sorted = () => [
    {
      ra: Float64Array.from(order, (i) => pts[i][0]),
      dec: Float64Array.from(order, (i) => pts[i][1]),
    },
  ];
  const ok = await writeHatsExport(sorted, [...specs], out, { maxRowsPerPartition: 1 });
  assert.equal(ok.rows, 3);
  await assert.rejects(writeHatsExport(sorted, [...specs], out), (e) =>
    isAstroPileError(e, "ASTROPILE_USAGE"),
  );
  // A damaged copy of the real catalog.
  const broken = join(dir, "broken");
  cpSync(FIXTURE, broken, { recursive: true });
  rmSync(join(broken, "dataset", "Norder=1", "Dir=0", "Npix=45.parquet"));
  await assert.rejects(
    openHatsCatalog(broken),
    (e) => isAstroPileError(e, "ASTROPILE_NOT_FOUND") && /Npix=45/.test((e as Error).message),
  );
  writeFileSync(join(broken, "partition_info.csv"), "Norder,Npix\n1,44\n1,99\n");
  await assert.rejects(
    openHatsCatalog(broken),
    (e) => isAstroPileError(e, "ASTROPILE_FORMAT") && /line 3/.test((e as Error).message),
  );
  rmSync(join(broken, "hats.properties"));
  rmSync(join(broken, "properties"));
  await assert.rejects(openHatsCatalog(broken), (e) => isAstroPileError(e, "ASTROPILE_NOT_FOUND"));
  await assert.rejects(openHatsCatalog(join(dir, "nothing")), (e) =>
    isAstroPileError(e, "ASTROPILE_NOT_FOUND"),
  );
});

test("a truncated or non-Parquet partition file is a CorruptFileError naming it; the reader still works after", async () => {
  const broken = join(dir, "truncated");
  cpSync(FIXTURE, broken, { recursive: true });
  const victim = join(broken, "dataset", "Norder=1", "Dir=0", "Npix=46.parquet");
  const bytes = readFileSync(victim);
  writeFileSync(victim, bytes.subarray(0, bytes.length - 100));
  const cat = await openHatsCatalog(broken);
  await assert.rejects(
    cat.coneSearch(295, -45, 18000),
    (e) =>
      isAstroPileError(e, "ASTROPILE_CORRUPT_FILE") && (e as { file?: string }).file === victim,
  );
  writeFileSync(victim, "not parquet at all, just text that is long enough to have a tail");
  await assert.rejects(cat.coneSearch(295, -45, 18000), (e) =>
    isAstroPileError(e, "ASTROPILE_CORRUPT_FILE"),
  );
  // Corrupt data pages behind a valid footer.
  const damaged = Buffer.from(bytes);
  for (let i = 8; i < 600; i++) damaged[i] ^= 0x5a;
  writeFileSync(victim, damaged);
  await assert.rejects(cat.coneSearch(295, -45, 18000), (e) =>
    isAstroPileError(e, "ASTROPILE_CORRUPT_FILE"),
  );
  // The intact catalog still reads.
  const good = await openHatsCatalog(FIXTURE);
  const res = await good.coneSearch(315, -60, 36000);
  assert.ok(res.length > 0, "rows in the cone");
});

test("_metadata of a HATS export with 8-, 16- and 32-bit and unsigned integer columns: DuckDB reads it, types as in the partitions", async () => {
  const { writeExportDataset } = await import("./export-fixture.ts");
  const root = await writeExportDataset(join(dir, "ints"), 120);
  const ints = await openDataset(root);
  const out = join(dir, "ints-hats");
  const columns = [
    "object_id",
    "ra",
    "dec",
    "flags",
    "nexp",
    "quality",
    "tract",
    "patch",
    "visit",
    "big",
  ];
  await exportHats(ints.select(columns), out);
  const q = await duck();
  // Before the fix, DuckDB refused the footer of _metadata: "TProtocolException: Invalid data".
  const [{ n }] = await q(
    `SELECT num_rows AS n FROM parquet_file_metadata('${out}/dataset/_metadata')`,
  );
  assert.equal(Number(n), 120);
  const part = readdirSync(join(out, "dataset"), { recursive: true }).find((f) =>
    String(f).endsWith(".parquet"),
  );
  const types = async (f: string) =>
    Object.fromEntries(
      (await q(`SELECT name, type, converted_type FROM parquet_schema('${f}')`)).map((x) => [
        x.name,
        `${x.type} ${x.converted_type}`,
      ]),
    );
  const meta = await types(`${out}/dataset/_metadata`);
  assert.deepEqual(meta, await types(join(out, "dataset", String(part))));
  assert.equal(meta.nexp, "INT32 INT_8");
  assert.equal(meta.quality, "INT32 UINT_8");
  assert.equal(meta.patch, "INT32 INT_16");
  assert.equal(meta.flags, "INT32 UINT_16");
  assert.equal(meta.visit, "INT32 UINT_32");
  assert.equal(meta.big, "INT64 UINT_64");
  // And the rows through _metadata's row groups are the partitions' rows.
  const [{ c }] = await q(
    `SELECT count(*) AS c FROM read_parquet('${out}/dataset/Norder=*/Dir=*/*.parquet', hive_partitioning=false) WHERE nexp IS NOT NULL`,
  );
  assert.equal(Number(c), 120);
});
