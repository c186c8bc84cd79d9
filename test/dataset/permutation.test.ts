import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockShuffle, Permutation } from "../../src/dataset/permutation.ts";

test("Permutation is a bijection on [0, n) with a working inverse, for many sizes and seeds", () => {
  for (const n of [0, 1, 2, 3, 5, 16, 17, 1000, 4097, 65537]) {
    for (const seed of [0, 1, 42, 2 ** 31 + 5]) {
      const p = new Permutation(n, seed);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const j = p.at(i);
        assert.ok(j >= 0 && j < n && seen[j] === 0, `n=${n} seed=${seed} i=${i}`);
        seen[j] = 1;
        assert.equal(p.inverse(j), i);
      }
    }
  }
});

test("Permutation shuffles (not identity, seed-dependent, reproducible)", () => {
  const a = Array.from({ length: 1000 }, (_, i) => new Permutation(1000, 7).at(i));
  const b = Array.from({ length: 1000 }, (_, i) => new Permutation(1000, 7).at(i));
  const c = Array.from({ length: 1000 }, (_, i) => new Permutation(1000, 8).at(i));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const fixed = a.filter((v, i) => v === i).length;
  assert.ok(fixed < 20, `${fixed} fixed points`);
  // large domains stay exact
  const big = new Permutation(2 ** 40 + 3, 1);
  for (const i of [0, 1, 2 ** 39, 2 ** 40 + 2]) assert.equal(big.inverse(big.at(i)), i);
});

test("BlockShuffle is a bijection whose windows read contiguous blocks", () => {
  for (const [n, block, win] of [
    [0, 4, 2],
    [1, 4, 2],
    [37, 4, 3],
    [1000, 16, 4],
    [1024, 16, 4],
    [5003, 100, 7],
  ]) {
    const s = new BlockShuffle(n, 3, block, win);
    const seen = new Uint8Array(n);
    let position = 0;
    for (let w = 0; w < s.windowCount; w++) {
      const ranges = s.windowBlockRanges(w);
      const rows = ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k));
      assert.equal(rows.length, s.windowRows(w));
      const perm = s.windowPermutation(w);
      for (let j = 0; j < rows.length; j++, position++) {
        const row = rows[perm.at(j)];
        assert.equal(s.at(position), row, `n=${n} position ${position}`);
        assert.equal(seen[row], 0);
        seen[row] = 1;
      }
    }
    assert.equal(position, n);
  }
});
