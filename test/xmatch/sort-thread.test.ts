// The kernel's sort helper thread (src/xmatch/sort-thread.ts): a match whose right side is
// sorted on the helper gives exactly the one-thread answer, the helper really takes the sorts,
// and a stopped helper leaves matching working on one thread.
// Run: node --import ./test/helpers/preload.mjs --import tsx --test test/xmatch/sort-thread.test.ts

import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { after, test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { matchAll, matchNearest, type Points } from "../../src/xmatch/kernel.ts";
import {
  SORT_THREAD_MIN_POINTS,
  sortThreadJobs,
  startSortThread,
  stopSortThread,
} from "../../src/xmatch/sort-thread.ts";
import { mulberry32, skyPoints } from "../helpers/sky-points.ts";

const skip =
  availableParallelism() < 2
    ? "the sort helper needs a second core (this machine has one): not tested here"
    : false;
if (skip) console.log(`# skipped: ${skip}`);

after(() => stopSortThread());

/** Mostly uniform points with some clumps, pole and ra 0/360 points and duplicates, and a
 * second set, half of it near the first. */
function sides(n: number): { a: { ra: Float64Array; dec: Float64Array }; b: Points } {
  const a = skyPoints(n, 11, 0.9);
  const b = skyPoints(n, 12, 0.9);
  const rand = mulberry32(13);
  for (let i = 0; i < n / 2; i++) {
    const j = Math.floor(rand() * n);
    b.dec[i] = Math.max(-90, Math.min(90, a.dec[j]! + (rand() - 0.5) / 360));
    b.ra[i] = (a.ra[j]! + (rand() - 0.5) / 360 + 360) % 360;
  }
  return { a, b };
}

const n = SORT_THREAD_MIN_POINTS + 20_000;
const { a, b } = sides(n);

test("matches with the right side sorted on the helper equal the one-thread matches", {
  skip,
}, async () => {
  await stopSortThread();
  assert.equal(await startSortThread(), true);
  for (const [r, options] of [
    [1 / 3600, {}],
    [20 / 3600, {}],
    [20 / 3600, { minRadiusDeg: 2 / 3600 }],
  ] as const) {
    const what = `r=${r * 3600}" ${JSON.stringify(options)}`;
    const before = sortThreadJobs();
    const all = matchAll(a, b, r, options);
    const nearest = matchNearest(a, b, r, options);
    const near3 = matchNearest(a, b, r, { ...options, k: 3 });
    assert.equal(sortThreadJobs(), before + 3, `${what}: the helper sorted the right side`);
    assert.ok(all.left.length > n / 4, `${what}: ${all.left.length} pairs`);
    assert.deepEqual(all, matchAll(a, b, r, { ...options, threads: 1 }), `${what}: all`);
    assert.deepEqual(
      nearest,
      matchNearest(a, b, r, { ...options, threads: 1 }),
      `${what}: nearest`,
    );
    assert.deepEqual(
      near3,
      matchNearest(a, b, r, { ...options, k: 3, threads: 1 }),
      `${what}: k 3`,
    );
    assert.equal(sortThreadJobs(), before + 3, `${what}: threads 1 stays on this thread`);
  }
  // Small matches and sky-ordered left sides stay on this thread.
  const before = sortThreadJobs();
  const small = { ra: a.ra.subarray(0, 1000), dec: a.dec.subarray(0, 1000) };
  matchAll(small, b, 1 / 3600);
  matchAll(a, b, 1 / 3600, { leftInSkyOrder: true });
  assert.equal(sortThreadJobs(), before);
});

test("the helper started from an entry given by the caller sorts the same", { skip }, async () => {
  await stopSortThread();
  assert.equal(
    await startSortThread({
      script: new URL("../../src/xmatch/sort-worker.dev.mjs", import.meta.url),
    }),
    true,
  );
  const all = matchAll(a, b, 5 / 3600);
  assert.equal(sortThreadJobs(), 1);
  assert.deepEqual(all, matchAll(a, b, 5 / 3600, { threads: 1 }));
  await stopSortThread();
});

test("a stopped helper: matches run on this thread and the helper can start again", {
  skip,
}, async () => {
  await stopSortThread();
  const want = matchAll(a, b, 3 / 3600, { threads: 1 });
  assert.deepEqual(matchAll(a, b, 3 / 3600), want);
  assert.equal(sortThreadJobs(), 0);
  // That large match started the helper in the background; it takes the next one.
  assert.equal(await startSortThread(), true);
  assert.deepEqual(matchAll(a, b, 3 / 3600), want);
  assert.equal(sortThreadJobs(), 1);
});

test("threads other than 1 or 2 is a UsageError", () => {
  const p = { ra: [1], dec: [1] };
  for (const threads of [0, 3, 1.5]) {
    assert.throws(() => matchAll(p, p, 1, { threads: threads as 1 }), UsageError);
  }
});
