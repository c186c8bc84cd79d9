import assert from "node:assert/strict";
import { test } from "node:test";
import { sortOrderInt64 } from "../../src/core/sort.ts";
import { mulberry32 } from "../helpers/sky-points.ts";

/** The stable ascending order by BigInt comparison: the reference. */
function referenceOrder(keys: BigInt64Array): number[] {
  return Array.from(keys.keys()).sort((a, b) =>
    keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b,
  );
}

test("sortOrderInt64: stable ascending order of signed 64-bit keys, every digit exercised", () => {
  const rand = mulberry32(11);
  const word = () => BigInt(Math.floor(rand() * 2 ** 32));
  const cases: BigInt64Array[] = [
    new BigInt64Array(0),
    BigInt64Array.of(5n),
    // Full 64-bit keys, negatives included, with duplicates (stability); a large sort (16-bit
    // digits) and a small one (8-bit digits).
    ...[5000, 1000].map((length) =>
      BigInt64Array.from({ length }, (_, i) =>
        i % 7 === 0 ? -3n : BigInt.asIntN(64, (word() << 32n) | word()),
      ),
    ),
    // Keys below 2^32: the two upper passes are skipped.
    BigInt64Array.from({ length: 3000 }, () => word() % 1000n),
    // HEALPix-like keys sharing their top bits.
    BigInt64Array.from({ length: 3000 }, () => (5n << 58n) + (word() << 8n) + (word() % 256n)),
  ];
  for (const keys of cases) {
    // Twice: the second call runs the optimised passes.
    for (let round = 0; round < 2; round++)
      assert.deepEqual(Array.from(sortOrderInt64(keys)), referenceOrder(keys));
  }
});
