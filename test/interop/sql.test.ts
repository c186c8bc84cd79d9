// sqlQuery / sqlStream / openSql: DuckDB over the catalog columns gives the values computed here
// from the rows that went in (not through the library's own readers); only SELECT runs, and
// nothing outside the loaded table is reachable.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { before, test } from "node:test";
import { isAstroPileError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { openSql, sqlQuery, sqlStream } from "../../src/interop/sql.ts";
import { haversineArcsec } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { exportRows, writeExportDataset } from "./export-fixture.ts";

const N = 1000;
const dir = tempDir();
const scratch = tempDir();
const all = exportRows(N);
let ds: Dataset;

before(async () => {
  ds = await openDataset(await writeExportDataset(dir, N));
});

test("aggregates and filters equal the ones computed from the input rows", async () => {
  const mag = all["forced.g_cmodel_mag"] as Float32Array;
  const z = all.z as Float64Array;
  const tract = all.tract as Int32Array;
  const star = all.is_star as Uint8Array;
  let n = 0;
  let sumZ = 0;
  let stars = 0;
  for (let i = 0; i < N; i++) {
    if (mag[i] < 30) {
      n++;
      sumZ += z[i];
      stars += star[i];
    }
  }
  const r = await sqlQuery(
    ds,
    'SELECT count(*) AS n, sum(z) AS z, count(*) FILTER (WHERE is_star) AS stars FROM data WHERE "forced.g_cmodel_mag" < 30',
    { tempDirectory: scratch },
  );
  assert.deepEqual(
    r.columns.map((c) => c.type),
    ["BIGINT", "DOUBLE", "BIGINT"],
  );
  assert.equal(r.rows[0].n, BigInt(n));
  assert.ok(Math.abs((r.rows[0].z as number) - sumZ) < 1e-9 * sumZ);
  assert.equal(r.rows[0].stars, BigInt(stars));
  assert.ok(n > 100 && n < N, `${n} rows pass`);

  // A group by with the config's own table name.
  const groups = new Map<number, number>();
  for (let i = 0; i < N; i++) groups.set(tract[i] % 5, (groups.get(tract[i] % 5) ?? 0) + 1);
  const g = await sqlQuery(
    ds,
    "SELECT tract % 5 AS k, count(*) AS n FROM pdr3_wide GROUP BY k ORDER BY k",
    {
      tempDirectory: scratch,
    },
  );
  assert.deepEqual(
    g.rows.map((row) => [row.k, Number(row.n)]),
    [...groups.entries()].sort((a, b) => a[0] - b[0]),
  );
});

test("every scalar dtype comes back exact, row for row", async () => {
  const r = await sqlQuery(
    ds,
    'SELECT object_id, ra, "forced.g_cmodel_mag" AS mag, flags, nexp, quality, tract, patch, visit, big, is_star, name FROM data ORDER BY object_id',
    { tempDirectory: scratch, maxRows: N },
  );
  assert.equal(r.rows.length, N);
  const ids = all.object_id as BigInt64Array;
  r.rows.forEach((row, i) => {
    // The fixture's ids increase with the row number.
    assert.equal(row.object_id, ids[i]);
    assert.equal(row.ra, (all.ra as Float64Array)[i]);
    assert.equal(row.mag, (all["forced.g_cmodel_mag"] as Float32Array)[i]);
    for (const c of ["flags", "nexp", "quality", "tract", "patch", "visit"])
      assert.equal(row[c], (all[c] as Int32Array)[i], `${c} row ${i}`);
    assert.equal(row.big, (all.big as BigUint64Array)[i]);
    assert.equal(row.is_star, (all.is_star as Uint8Array)[i] === 1);
    assert.equal(row.name, (all.name as string[])[i]);
  });
});

test("a cone and a filter load only their rows; a stream yields every row once", async () => {
  const ra = all.ra as Float64Array;
  const dec = all.dec as Float64Array;
  const cone = { ra: ra[10], dec: dec[10], radiusArcsec: 4 * 3600 };
  const want: bigint[] = [];
  for (let i = 0; i < N; i++) {
    if (
      haversineArcsec(cone.ra, cone.dec, ra[i], dec[i]) <= cone.radiusArcsec &&
      (all.z as Float64Array)[i] > 0.6
    )
      want.push((all.object_id as BigInt64Array)[i]);
  }
  assert.ok(want.length > 3, `${want.length} rows in the cone`);
  const got: bigint[] = [];
  let parts = 0;
  for await (const part of sqlStream(ds, "SELECT object_id FROM data", {
    cone,
    filter: "z > 0.6",
    tempDirectory: scratch,
  })) {
    parts++;
    for (const row of part.rows) got.push(row[0] as bigint);
  }
  assert.ok(parts >= 1);
  assert.deepEqual(
    got.sort((a, b) => (a < b ? -1 : 1)),
    want,
  );
  assert.deepEqual(readdirSync(scratch), [], "the temporary database is deleted");
});

test("a session loads once and answers several queries", async () => {
  const sql = await openSql(ds, { columns: ["object_id", "z"], tempDirectory: scratch });
  try {
    assert.deepEqual(sql.tables, ["pdr3_wide", "data"]);
    assert.equal(sql.rows, N);
    const a = await sql.query("SELECT count(*) AS n FROM data");
    assert.equal(a.rows[0].n, BigInt(N));
    const b = await sql.query("SELECT max(z) AS z FROM pdr3_wide");
    assert.equal(b.rows[0].z, Math.max(...(all.z as Float64Array)));
    await assert.rejects(
      sql.query("SELECT object_id FROM data", { maxRows: 10 }),
      (e: Error) => isAstroPileError(e, "ASTROPILE_USAGE") && /maxRows = 10/.test(e.message),
    );
  } finally {
    await sql.close();
  }
  assert.deepEqual(readdirSync(scratch), []);
});

test("only one SELECT runs; files, array columns and unknown columns are refused", async () => {
  const cases: Array<[string, string, RegExp]> = [
    ["DELETE FROM data", "ASTROPILE_USAGE", /only SELECT/],
    ["COPY data TO 'x.csv'", "ASTROPILE_USAGE", /only SELECT/],
    ["SELECT 1; SELECT 2", "ASTROPILE_USAGE", /exactly one/],
    ["SELECT * FROM read_csv('/etc/passwd')", "ASTROPILE_USAGE", /disabled|Permission/i],
    ["SELECT image_array FROM data", "ASTROPILE_SCHEMA", /\[2, 3, 4\]/],
    ["SELECT redshift FROM data", "ASTROPILE_USAGE", /redshift/],
    ["SELEC 1", "ASTROPILE_USAGE", /syntax/i],
    ["", "ASTROPILE_USAGE", /empty/],
  ];
  for (const [sql, code, message] of cases) {
    await assert.rejects(
      sqlQuery(ds, sql, { tempDirectory: scratch }),
      (e: Error) => isAstroPileError(e, code) && message.test(e.message),
      sql,
    );
  }
  await assert.rejects(sqlQuery(ds, "SELECT z FROM data", { filter: "z >> 1" }), (e: Error) =>
    isAstroPileError(e, "ASTROPILE_USAGE"),
  );
  assert.deepEqual(readdirSync(scratch), []);
});
