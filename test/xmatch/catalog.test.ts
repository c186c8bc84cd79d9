// What crossMatch says about its catalog: stats.leftMatched (left rows with a match) against a
// count made from the catalog and from the in-memory kernel; writeCatalogCsv's file read back
// row by row, written whole or not at all.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { WriteError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { formatFixed } from "../../src/xmatch/catalog.ts";
import {
  CATALOG_COLUMNS,
  catalogColumns,
  catalogRow,
  crossMatch,
  LOCATION_COLUMNS,
  type MatchCatalog,
  writeCatalogCsv,
} from "../../src/xmatch/crossmatch.ts";
import { matchAll } from "../../src/xmatch/kernel.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-catalog-");
const left = skyPoints(600, 31, 0.05);
// The right side: every third left point moved by a few arcsec, plus points of its own.
const own = skyPoints(300, 32, 0.05);
const rightRa: number[] = Array.from(own.ra);
const rightDec: number[] = Array.from(own.dec);
for (let i = 0; i < left.ra.length; i += 3) {
  rightRa.push((left.ra[i] + (((i % 7) - 3) * 1.5) / 3600 + 360) % 360);
  rightDec.push(Math.max(-90, Math.min(90, left.dec[i] + (((i % 5) - 2) * 1.5) / 3600)));
}
const right = { ra: Float64Array.from(rightRa), dec: Float64Array.from(rightDec) };

async function write(root: string, p: { ra: Float64Array; dec: Float64Array }, prefix: string) {
  const n = p.ra.length;
  await writeDataset(
    root,
    [
      { name: "object_id", dtype: "string", shape: [], stringLength: 12 },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
    ],
    [{ object_id: Array.from({ length: n }, (_, i) => `${prefix}${i}`), ra: p.ra, dec: p.dec }],
    { config: "c", provenance: { survey: prefix }, maxRowsPerFile: 70, compression: "none" },
  );
  return openDataset(root);
}

const L = await write(join(dir, "left"), left, "l,");
const R = await write(join(dir, "right"), right, 'r"');

/** Distinct left ids with matched true, counted from the rows. */
function leftMatchedFromRows(c: MatchCatalog): number {
  const ids = new Set<string>();
  for (let i = 0; i < c.length; i++) if (c.matched[i] === 1) ids.add(String(c.left_object_id[i]));
  return ids.size;
}

test("stats.leftMatched is the number of left rows with a match, in every mode", async () => {
  const radius = 6;
  const pairs = matchAll(left, right, radius / 3600);
  const kernel = new Set(pairs.left).size;
  assert.ok(kernel > 100 && kernel < left.ra.length, `${kernel} left rows matched`);
  for (const options of [
    { mode: "nearest" as const },
    { mode: "nearest" as const, nNeighbors: 3 },
    { mode: "all" as const },
    { mode: "nearest" as const, how: "left" as const },
    { mode: "all" as const, how: "left" as const },
  ]) {
    const { catalog, stats } = await crossMatch(L, R, { radiusArcsec: radius, ...options });
    const what = JSON.stringify(options);
    assert.equal(stats.leftMatched, leftMatchedFromRows(catalog), what);
    assert.equal(stats.leftMatched, kernel, what);
    assert.equal(stats.leftRows, left.ra.length, what);
  }
  const none = await crossMatch(L, R, { radiusArcsec: 0.001, how: "left" });
  assert.equal(none.stats.leftMatched, leftMatchedFromRows(none.catalog));
});

/** Splits one CSV line (fields quoted with "", no newlines inside). */
function fields(line: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    let field = "";
    if (line[at] === '"') {
      at++;
      for (;;) {
        const q = line.indexOf('"', at);
        field += line.slice(at, q);
        at = q + 1;
        if (line[at] !== '"') break;
        field += '"';
        at++;
      }
    } else {
      const c = line.indexOf(",", at);
      field = line.slice(at, c < 0 ? line.length : c);
      at = c < 0 ? line.length : c;
    }
    out.push(field);
    if (at >= line.length) return out;
    at++; // the comma
  }
}

/** A CSV cell against the catalog's value: ids exact, numbers to the digits written. */
function assertCell(got: string, want: unknown, column: string, what: string) {
  if (want === null) return assert.equal(got, "", `${what} ${column}`);
  if (typeof want !== "number" || column.endsWith("_row") || column.endsWith("_index"))
    return assert.equal(got, String(want), `${what} ${column}`);
  const digits = column === "sep_arcsec" ? 6 : 9;
  const decimals = got.includes(".") ? got.split(".")[1]!.length : 0;
  assert.ok(decimals <= digits && !got.endsWith("0."), `${what} ${column}: ${got}`);
  assert.ok(!(decimals > 0 && got.endsWith("0")), `${what} ${column}: trailing zero in ${got}`);
  assert.ok(
    Math.abs(Number(got) - want) <= 0.5 * 10 ** -digits * (1 + 1e-9),
    `${what} ${column}: ${got} vs ${want}`,
  );
}

test("writeCatalogCsv writes every row as catalogRow gives it, under its final name only when complete", async () => {
  const { catalog } = await crossMatch(L, R, { radiusArcsec: 6, how: "left", mode: "all" });
  const out = join(dir, "csv");
  mkdirSync(out);
  const path = join(out, "xmatch.csv");
  writeFileSync(path, "an older catalog\n");
  await writeCatalogCsv(catalog, path);
  assert.deepEqual(readdirSync(out), ["xmatch.csv"], "no temporary file left");
  const lines = readFileSync(path, "utf8").split("\n");
  assert.equal(lines.pop(), "", "ends with a newline");
  // how "left": the default columns and matched.
  assert.equal(
    lines[0],
    "left_object_id,right_object_id,sep_arcsec,left_ra,left_dec,right_ra,right_dec,matched",
  );
  assert.deepEqual(catalogColumns(catalog), [...CATALOG_COLUMNS, "matched"]);
  assert.equal(lines.length - 1, catalog.length);
  for (let i = 0; i < catalog.length; i++) {
    const row = catalogRow(catalog, i);
    const got = fields(lines[i + 1]!);
    const columns = catalogColumns(catalog);
    assert.deepEqual(Object.keys(row), columns);
    assert.equal(got.length, columns.length, lines[i + 1]);
    columns.forEach((c, k) => {
      assertCell(got[k]!, row[c], c, `row ${i}`);
    });
  }
  // Ids with a comma and a quote came back whole.
  assert.ok(lines.some((l) => l.startsWith('"l,') && l.includes('"r""')));
});

test("the CSV with locations: files relative to each dataset root, rows in them, dataset rows", async () => {
  const { catalog } = await crossMatch(L, R, { radiusArcsec: 6, mode: "all" });
  assert.ok(catalog.length > 100);
  const path = join(dir, "locations.csv");
  await writeCatalogCsv(catalog, path, { locations: true });
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  // how "inner": no matched column.
  assert.equal(
    lines[0],
    "left_object_id,right_object_id,sep_arcsec,left_ra,left_dec,right_ra,right_dec,left_file,left_row,left_index,right_file,right_row,right_index",
  );
  const columns = catalogColumns(catalog, { locations: true });
  assert.deepEqual(columns, [...CATALOG_COLUMNS, ...LOCATION_COLUMNS]);
  for (let i = 0; i < catalog.length; i++) {
    const row = catalogRow(catalog, i, { locations: true });
    const got = fields(lines[i + 1]!);
    columns.forEach((c, k) => {
      assertCell(got[k]!, row[c], c, `row ${i}`);
    });
    // Relative paths as the manifests list them; the row in the file adds up to the dataset row.
    const lf = got[columns.indexOf("left_file")]!;
    const rf = got[columns.indexOf("right_file")]!;
    const relative = /^c\/(order=\d+\/)?healpix=\d+\//;
    assert.ok(relative.test(lf) && relative.test(rf), `${lf} ${rf}`);
    const lEntry = L.manifest.files.findIndex((f) => f.path === lf);
    const rEntry = R.manifest.files.findIndex((f) => f.path === rf);
    const start = (files: Array<{ rows: number }>, f: number) =>
      files.slice(0, f).reduce((sum, e) => sum + e.rows, 0);
    assert.equal(
      start(L.manifest.files, lEntry) + Number(got[columns.indexOf("left_row")]),
      Number(got[columns.indexOf("left_index")]),
    );
    assert.equal(
      start(R.manifest.files, rEntry) + Number(got[columns.indexOf("right_row")]),
      Number(got[columns.indexOf("right_index")]),
    );
  }
  // The default CSV of the same catalog: the seven columns only, a third of the size or less.
  const plain = join(dir, "plain.csv");
  await writeCatalogCsv(catalog, plain);
  const head = readFileSync(plain, "utf8").split("\n")[0];
  assert.equal(head, CATALOG_COLUMNS.join(","));
  assert.ok(!readFileSync(plain, "utf8").includes("healpix="));
});

test("formatFixed: at most the digits asked for, no trailing zeros, signs and rounding", () => {
  assert.equal(formatFixed(123.4567891234, 9, 1e9), "123.456789123");
  assert.equal(formatFixed(10.5, 9, 1e9), "10.5");
  assert.equal(formatFixed(10, 9, 1e9), "10");
  assert.equal(formatFixed(0.000000001, 9, 1e9), "0.000000001");
  assert.equal(formatFixed(-0.0000000004, 9, 1e9), "0");
  assert.equal(formatFixed(-45.25, 9, 1e9), "-45.25");
  assert.equal(formatFixed(-0.0000012, 6, 1e6), "-0.000001");
  assert.equal(formatFixed(359.9999999996, 9, 1e9), "360");
  assert.equal(formatFixed(1.23456789e12, 6, 1e6), "1234567890000");
  // Integers written in two halves of 8 digits, near 2^53 too (and below a multiple of 1e8).
  for (const n of [
    0,
    7,
    99_999_999,
    100_000_000,
    100_000_001,
    2 ** 31,
    123_456_789_012,
    8_999_999_999_999_999,
    2 ** 53 - 1,
  ]) {
    assert.equal(formatFixed(n, 0, 1), String(n), String(n));
  }
  for (const x of [0.1, 1 / 3, 2 / 3, 89.99999999949, 179.123456789012, 1e-7]) {
    assert.equal(Number(formatFixed(x, 9, 1e9)), Number(x.toFixed(9)), String(x));
    assert.equal(Number(formatFixed(-x, 9, 1e9)), Number((-x).toFixed(9)), String(-x));
  }
});

test("writeCatalogCsv into a directory that does not exist: WriteError, nothing written", async () => {
  const { catalog } = await crossMatch(L, R, { radiusArcsec: 6 });
  const path = join(dir, "missing", "xmatch.csv");
  await assert.rejects(writeCatalogCsv(catalog, path), (e: unknown) => {
    assert.ok(e instanceof WriteError);
    assert.equal(e.file, path);
    return true;
  });
});
