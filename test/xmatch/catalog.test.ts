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
import {
  CATALOG_COLUMNS,
  catalogRow,
  crossMatch,
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
  assert.equal(lines[0], CATALOG_COLUMNS.join(","));
  assert.equal(lines.length - 1, catalog.length);
  for (let i = 0; i < catalog.length; i++) {
    const row = catalogRow(catalog, i);
    const got = fields(lines[i + 1]!);
    assert.equal(got.length, CATALOG_COLUMNS.length, lines[i + 1]);
    CATALOG_COLUMNS.forEach((c, k) => {
      const v = row[c];
      assert.equal(got[k], v === null ? "" : String(v), `row ${i} ${c}`);
    });
  }
  // Ids with a comma and a quote came back whole.
  assert.ok(lines.some((l) => l.startsWith('"l,') && l.includes('"r""')));
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
