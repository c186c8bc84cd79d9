// Comparing our decoded values with the JSON that scripts/make_fits_fixtures.py wrote from
// astropy: ints as decimal strings, floats as repr strings, NaN as null, bools as booleans.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ColumnValues } from "../../src/core/columns.ts";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "formats");

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export function loadExpected<T>(name: string): T {
  return JSON.parse(readFileSync(fixture(name), "utf8")) as T;
}

export type ExpectedValue = string | boolean | null | { re: string; im: string };

/** A Python float repr as a JS number. */
export function pyFloat(repr: string): number {
  if (repr === "inf") return Number.POSITIVE_INFINITY;
  if (repr === "-inf") return Number.NEGATIVE_INFINITY;
  if (repr === "nan") return Number.NaN;
  return Number(repr);
}

/** Asserts that `actual` equals astropy's values exactly (floats bit for bit, -0 and NaN included). */
export function assertValues(
  actual: ColumnValues | ArrayLike<number | bigint>,
  expected: ExpectedValue[],
  what: string,
  skip?: ArrayLike<number>,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (skip?.[i]) continue;
    const a = (actual as ArrayLike<unknown>)[i];
    const e = expected[i];
    const where = `${what}[${i}]`;
    if (typeof a === "string") assert.equal(a, e, where);
    else if (typeof a === "bigint") assert.equal(a, BigInt(e as string), where);
    else if (typeof e === "boolean") assert.equal(a, e ? 1 : 0, where);
    else if (e === null) assert.ok(Number.isNaN(a), `${where}: expected NaN, got ${a}`);
    else if (typeof e === "string" && /^-?\d+$/.test(e))
      assert.equal(BigInt(a as number), BigInt(e), where);
    else assert.ok(Object.is(a, pyFloat(e as string)), `${where}: expected ${e}, got ${a}`);
  }
}
