// The CLI's number formatting against what toLocaleString("en-US") writes, counted nouns, areas.
import assert from "node:assert/strict";
import { test } from "node:test";
import { areaText, countOf, formatCount } from "../../src/cli/format.ts";

test("formatCount groups thousands as toLocaleString(en-US) does", () => {
  const values = [0, 7, -7, 999, 1000, -1000, 12_345, 123_456, 1_234_567, -98_765_432];
  for (let k = 0; k < 16; k++) values.push(10 ** k - 1, 10 ** k, 3 * 10 ** k + 17);
  values.push(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5, 2 ** 60, Number.NaN);
  for (const n of values) assert.equal(formatCount(n), n.toLocaleString("en-US"), String(n));
});

test("countOf: the noun in the singular for one, else plural, the count grouped", () => {
  assert.equal(countOf(1, "file"), "1 file");
  assert.equal(countOf(0, "file"), "0 files");
  assert.equal(countOf(12, "file"), "12 files");
  assert.equal(countOf(1234, "file"), "1,234 files");
});

test("areaText: deg2 from 1 up, else arcmin2 (its thousands grouped too), else arcsec2", () => {
  assert.equal(areaText(41_252.96125), "41,252.96 deg2");
  assert.equal(areaText(1), "1.00 deg2");
  assert.equal(areaText(3021.5 / 3600), "3,021.5 arcmin2");
  assert.equal(areaText(0.5 / 3600), "0.5 arcmin2");
  assert.equal(areaText(200 / 3600 / 3600), "200.0 arcsec2");
  assert.equal(areaText(0), "0.0 arcsec2");
  assert.equal(areaText(Number.NaN), "(not computed)");
});
