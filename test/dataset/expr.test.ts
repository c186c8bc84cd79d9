// The filter parser: nesting of `not`s and parentheses is bounded (64 levels), so a hostile
// filter is a UsageError naming the character where it went too deep, never a stack overflow.
import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { type Expr, parseExpr } from "../../src/dataset/expr.ts";

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
