import assert from "node:assert/strict";
import { test } from "node:test";
import { checkAllocation, MemoryBudget, sizeProduct } from "../../src/core/budget.ts";
import {
  deserializeError,
  isAstroPileError,
  MemoryBudgetError,
  SpecError,
  serializeError,
} from "../../src/core/errors.ts";

test("checkAllocation: sizes within the budget pass, others are a typed one-line refusal", () => {
  assert.equal(checkAllocation(1024, "x", {}, 1024), 1024);
  assert.equal(checkAllocation(10n, "x", {}, 1024), 10);
  const err = (() => {
    try {
      checkAllocation(
        2n ** 70n,
        "image [1e12 values]",
        { file: "/d/t.fits", detail: "HDU 1" },
        512,
      );
    } catch (e) {
      return e as MemoryBudgetError;
    }
    assert.fail("no refusal");
  })();
  assert.ok(err instanceof MemoryBudgetError);
  assert.ok(isAstroPileError(err, "ASTROPILE_MEMORY_BUDGET"));
  assert.equal(err.file, "/d/t.fits");
  assert.match(err.message, /^image \[1e12 values\] needs 1180591620717411303424 bytes/);
  assert.match(err.message, /budget of 512 bytes \(file \/d\/t\.fits, HDU 1\)$/);
  assert.ok(!err.message.includes("\n"));
  // NaN, Infinity and negative sizes are refused, never allocated.
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, -1n])
    assert.throws(() => checkAllocation(bad, "x", {}, 1e9), MemoryBudgetError);
  // The caller chooses the class: a spec's size is a SpecError (exit 2).
  assert.throws(() => checkAllocation(2000, "spec.length", {}, 1000, SpecError), SpecError);
});

test("sizeProduct multiplies header values exactly, beyond 2^53", () => {
  assert.equal(sizeProduct(1e6, 1e6, 8), 8_000_000_000_000n);
  assert.equal(sizeProduct(2 ** 53 - 1, 2 ** 53 - 1), (2n ** 53n - 1n) ** 2n);
  assert.equal(sizeProduct(), 1n);
  assert.throws(() => sizeProduct(1.5), RangeError);
  assert.throws(() => sizeProduct(-2), RangeError);
});

test("MemoryBudget: rows per batch by bytes, at least one, a row over the share refused", () => {
  const b = new MemoryBudget(64 * 2 ** 20, "--memory");
  assert.equal(b.rowsFor(200_000, "left + right", { fraction: 0.25 }), 83);
  assert.equal(b.rowsFor(16, "catalog", { maxRows: 4096 }), 4096);
  assert.equal(b.rowsFor(0, "nothing", { maxRows: 7 }), 7);
  assert.throws(
    () => b.rowsFor(32 * 2 ** 20, "left + right", { fraction: 0.25 }),
    (e: Error) =>
      e instanceof MemoryBudgetError &&
      /one row of left \+ right needs 33554432 bytes/.test(e.message) &&
      /raise --memory/.test(e.message),
  );
  assert.equal(b.part(0.5).bytes, 32 * 2 ** 20);
  assert.throws(() => new MemoryBudget(0), RangeError);
});

test("a MemoryBudgetError crossing a worker-thread boundary keeps its class and code", () => {
  const e = new MemoryBudgetError("too big", { file: "a.hdf5" });
  const back = deserializeError(structuredClone(serializeError(e)));
  assert.ok(back instanceof MemoryBudgetError);
  assert.equal((back as MemoryBudgetError).code, "ASTROPILE_MEMORY_BUDGET");
});
