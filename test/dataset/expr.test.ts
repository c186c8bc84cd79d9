// The filter parser: nesting of `not`s and parentheses is bounded (64 levels), so a hostile
// filter is a UsageError naming the character where it went too deep, never a stack overflow.
// And the comparisons: as numpy makes them (float32 columns in float32, NaN equal to nothing).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ColumnValues } from "../../src/core/columns.ts";
import { UsageError } from "../../src/core/errors.ts";
import { type Expr, evaluate, parseExpr } from "../../src/dataset/expr.ts";

test("nesting up to 64 levels parses to the same expression as no nesting", () => {
  const plain = parseExpr("z > 0.5");
  assert.deepEqual(parseExpr(`${"(".repeat(64)}z > 0.5${")".repeat(64)}`), plain);
  let e: Expr = parseExpr(`${"not ".repeat(64)}z > 0.5`);
  for (let k = 0; k < 64; k++) {
    assert.ok("not" in e, `level ${k}`);
    e = e.not;
  }
  assert.deepEqual(e, plain);
  // Mixed: 32 parentheses around 32 nots.
  const mixed = parseExpr(`${"(not ".repeat(32)}z > 0.5${")".repeat(32)}`);
  assert.ok("not" in mixed);
  // A long flat conjunction is not nesting.
  const flat = parseExpr(Array.from({ length: 20_000 }, (_, k) => `c${k} < ${k}`).join(" and "));
  assert.equal((flat as { and: Expr[] }).and.length, 20_000);
});

test("nesting deeper than 64 is a UsageError naming the character, not a stack overflow", () => {
  const cases: Array<[string, number]> = [
    // The 65th "not" starts at character 64 * 4.
    [`${"not ".repeat(65)}z > 0.5`, 64 * 4],
    [`${"(".repeat(65)}z > 0.5${")".repeat(65)}`, 64],
    [`${"not ".repeat(20_000)}z > 0.5`, 64 * 4],
    [`${"(".repeat(20_000)}z > 0.5${")".repeat(20_000)}`, 64],
    // 32 "(not " make 64 levels: the 33rd "(" is the 65th.
    [`${"(not ".repeat(40)}z > 0.5${")".repeat(40)}`, 32 * 5],
    [`${"(".repeat(50_000)}`, 64],
  ];
  for (const [src, at] of cases) {
    assert.throws(
      () => parseExpr(src),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.equal((err as UsageError).code, "ASTROPILE_USAGE");
        assert.match((err as Error).message, /nested more than 64 deep/);
        assert.match((err as Error).message, new RegExp(`\\(character ${at}\\)`));
        assert.ok((err as Error).message.length < 400, "the message quotes a bounded excerpt");
        return true;
      },
      src.slice(0, 40),
    );
  }
});

test("comparisons as numpy makes them: float32 columns in float32, NaN in no list, text only as a decimal number", () => {
  const f = Float32Array.from([0.1, 0.2, 0.1, Number.NaN, 24.628]);
  const d = Float64Array.from([0.1, 0.2, 0.1, Number.NaN, 24.628]);
  const k = Int16Array.from([0, 3, 0, 1, 2]);
  const big = BigInt64Array.from([0n, 2n ** 53n + 1n, 5n, 1n, 2n]);
  const columns: Record<string, ColumnValues> = { f, d, k, big };
  const rows = (src: string | Expr) =>
    [...evaluate(typeof src === "string" ? parseExpr(src) : src, 5, (c) => columns[c]!)]
      .map((x, i) => (x ? i : -1))
      .filter((i) => i >= 0);
  // numpy: (np.float32([...]) == 0.1) compares in float32 (the literal rounded to float32).
  assert.deepEqual(rows("f == 0.1"), [0, 2]);
  assert.deepEqual(rows("f <= 0.1"), [0, 2]);
  assert.deepEqual(rows("f in [0.1, 24.628]"), [0, 2, 4]);
  assert.deepEqual(rows("f between 0.1 and 0.2"), [0, 1, 2]);
  assert.deepEqual(rows("f == 24.628"), [4]);
  // A float64 column compares in float64, as before.
  assert.deepEqual(rows("d == 0.1"), [0, 2]);
  // NaN equals nothing, in a list too (numpy's isin).
  assert.deepEqual(rows({ column: "d", op: "in", value: [Number.NaN] }), []);
  assert.deepEqual(rows({ column: "d", op: "==", value: Number.NaN }), []);
  // Text for a number is a decimal number, or an error: "" is not 0 and "0x3" is not 3.
  assert.deepEqual(rows('k == "3"'), [1]);
  assert.deepEqual(rows('big == "9007199254740993"'), [1]);
  for (const bad of [
    'k == ""',
    'k == " "',
    'k == "0x3"',
    'big == "0x20000000000001"',
    'big == ""',
  ]) {
    assert.throws(
      () => rows(bad),
      (err: Error) => err.name === "SchemaError",
      bad,
    );
  }
  // A list without commas is a typo, refused; with them it parses.
  assert.throws(() => parseExpr("k in [1 2 3]"), UsageError);
  assert.deepEqual(rows("k in [1, 2, 3]"), [1, 3, 4]);
  // Malformed object forms are usage errors, not TypeErrors or silent empty results.
  assert.throws(() => rows({ column: "k", op: "in", value: 5 } as never), UsageError);
  assert.throws(() => rows({ column: "k", op: "between", value: [1] } as never), UsageError);
});
