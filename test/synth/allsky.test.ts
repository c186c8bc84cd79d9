import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { ColumnBatch } from "../../src/core/columns.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { allSkyCatalog, companionCatalog, writeCatalogRowsCsv } from "../../src/synth/allsky.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-allsky-");

/** Galactic latitude (degrees) of an ICRS position: the north galactic pole's separation. */
function galacticLatitude(ra: number, dec: number): number {
  return 90 - angularSeparationDeg(192.85948, 27.12825, ra, dec);
}

function concat(batches: Iterable<ColumnBatch>) {
  const ra: number[] = [];
  const dec: number[] = [];
  const mag: number[] = [];
  const id: bigint[] = [];
  for (const b of batches) {
    ra.push(...(b.ra as Float64Array));
    dec.push(...(b.dec as Float64Array));
    mag.push(...(b.mag as Float32Array));
    id.push(...(b.id as BigInt64Array));
  }
  return { ra, dec, mag, id };
}

test("all-sky catalog: deterministic, valid positions, denser toward the galactic plane", () => {
  const a = concat(allSkyCatalog({ rows: 50_000, seed: 7, batchRows: 4096 }));
  const b = concat(allSkyCatalog({ rows: 50_000, seed: 7 }));
  assert.deepEqual(a.ra, b.ra, "same seed, same catalog, whatever the batch size");
  assert.equal(a.id.length, 50_000);
  assert.equal(a.id[0], 1n);
  assert.equal(a.id[49_999], 50_000n);
  for (let i = 0; i < a.ra.length; i++) {
    assert.ok(a.ra[i]! >= 0 && a.ra[i]! < 360 && Math.abs(a.dec[i]!) <= 90, `row ${i}`);
    assert.ok(a.mag[i]! > 1.9 && a.mag[i]! <= 12, `mag ${a.mag[i]}`);
  }
  // |b| < 10 deg is 17 % of the sphere; the disc puts far more there.
  let low = 0;
  for (let i = 0; i < a.ra.length; i++)
    if (Math.abs(galacticLatitude(a.ra[i]!, a.dec[i]!)) < 10) low++;
  assert.ok(low / a.ra.length > 0.45, `fraction at |b| < 10: ${low / a.ra.length}`);
  // Faint objects outnumber bright ones (counts rising toward the limit).
  const faint = a.mag.filter((m) => m > 11).length;
  const bright = a.mag.filter((m) => m < 8).length;
  assert.ok(faint > 5 * bright, `${faint} faint, ${bright} bright`);
});

test("companion catalog: its bright objects are the parent's, within a few arcsec", () => {
  const parent = concat(allSkyCatalog({ rows: 20_000, seed: 3 }));
  const comp = concat(
    companionCatalog(allSkyCatalog({ rows: 20_000, seed: 3 }), {
      brighterThan: 10,
      scatterArcsec: 0.3,
      extra: 0,
    }),
  );
  const bright = parent.mag.filter((m) => m < 10).length;
  assert.ok(comp.ra.length > 0.8 * bright && comp.ra.length <= bright);
  // Walk both in order: every companion row is a parent bright row moved by < 3 arcsec.
  let j = 0;
  for (let i = 0; i < comp.ra.length; i++) {
    while (
      angularSeparationDeg(parent.ra[j]!, parent.dec[j]!, comp.ra[i]!, comp.dec[i]!) * 3600 >=
      3
    ) {
      j++;
      assert.ok(j < parent.ra.length, `companion row ${i} has no parent`);
    }
    j++;
  }
});

test("CSV and CSV.gz hold the same text", async () => {
  const plain = join(dir, "a.csv");
  const gz = join(dir, "a.csv.gz");
  assert.equal(await writeCatalogRowsCsv(plain, allSkyCatalog({ rows: 1000, seed: 1 })), 1000);
  await writeCatalogRowsCsv(gz, allSkyCatalog({ rows: 1000, seed: 1 }));
  const text = readFileSync(plain, "utf8");
  assert.equal(gunzipSync(readFileSync(gz)).toString("utf8"), text);
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "id,ra,dec,mag");
  assert.equal(lines.length, 1001);
});
