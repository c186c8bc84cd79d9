// routeKeys (rows to their work units by 32-bit word comparisons) against the same rule on
// BigInts: the last unit whose keyLo is at most the key, if the key is at most its keyHi.
import assert from "node:assert/strict";
import { test } from "node:test";
import { routeKeys, type UnitPlan, unitBounds } from "../../src/build/plan.ts";

function unit(index: number, lo: bigint, hi: bigint): UnitPlan {
  return { index, keyLo: lo.toString(), keyHi: hi.toString(), rows: 0, pieces: [] };
}

function reference(units: UnitPlan[], key: bigint): number {
  let found = -1;
  for (const [u, x] of units.entries()) if (BigInt(x.keyLo) <= key) found = u;
  return found >= 0 && key <= BigInt(units[found]!.keyHi) ? found : -1;
}

test("every key goes to the unit the BigInt rule names, bounds and gaps included", () => {
  const TOP = 12n * 4n ** 29n;
  // Units with gaps between them, bounds sharing their high word with neighbours' keys.
  const cuts = [
    0n,
    5n,
    2n ** 32n - 1n,
    2n ** 32n,
    2n ** 32n + 7n,
    3n * 2n ** 40n,
    2n ** 61n,
    TOP - 1n,
  ];
  const units = cuts
    .slice(0, -1)
    .map((lo, i) => unit(i, lo, cuts[i + 1]! - (i % 2 === 0 ? 1n : 3n)));
  const keys: bigint[] = [];
  for (const c of cuts)
    for (const d of [-4n, -3n, -2n, -1n, 0n, 1n, 2n]) if (c + d >= 0n) keys.push(c + d);
  let x = 12345n;
  for (let i = 0; i < 2000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    keys.push(x % TOP);
  }
  keys.push(-1n); // not a key AstroPile makes: in no unit, as with BigInts
  const block = BigInt64Array.from(keys);
  for (const view of [block, block.subarray(3)]) {
    const out = new Int32Array(view.length);
    routeKeys(unitBounds(units), view, out);
    for (let i = 0; i < view.length; i++)
      assert.equal(out[i], reference(units, view[i]!), `key ${view[i]}`);
  }
  assert.ok(
    keys.some((k) => reference(units, k) === -1),
    "some keys fall in gaps",
  );
});
