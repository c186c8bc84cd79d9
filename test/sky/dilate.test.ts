// dilateKeyRanges (the cross-match margin): every point within the radius of a point of the
// region has its key in the cover, at the poles, across RA 0/360, around base-pixel corners and
// holes; and the cover stays thin for a small radius. The reference is geometry: partners are
// placed at a known distance (checked with angularSeparationDeg) in every direction from points
// on the region's pixel borders.
import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { dilateKeyRanges } from "../../src/sky/healpix.ts";
import { ang2pixOrder29, angularSeparationDeg, boundaries } from "../../src/sky/index.ts";
import { destination, mulberry32 } from "../helpers/sky-points.ts";

const shift = (order: number) => BigInt(2 * (29 - order));
const pixelRange = (order: number, pix: bigint): [bigint, bigint] => [
  pix << shift(order),
  (pix + 1n) << shift(order),
];

const inRanges = (ranges: Array<[bigint, bigint]>, key: bigint) =>
  ranges.some(([a, b]) => a <= key && key < b);

/** Regions: whole pixels at the poles and RA 0, a corner where three base pixels meet, a hole. */
const REGIONS: Array<{
  name: string;
  ranges: Array<[bigint, bigint]>;
  border: Array<[number, bigint]>;
}> = [
  { name: "north polar base pixel 0", ranges: [pixelRange(0, 0n)], border: [[0, 0n]] },
  {
    name: "base pixels 4 and 5 (RA 0, equator)",
    ranges: [pixelRange(0, 4n), pixelRange(0, 5n)],
    border: [
      [0, 4n],
      [0, 5n],
    ],
  },
  {
    name: "an order-9 pixel at the south pole",
    ranges: [pixelRange(9, 11n * 4n ** 9n + 4n ** 9n - 1n)],
    border: [[9, 11n * 4n ** 9n + 4n ** 9n - 1n]],
  },
  {
    name: "order-3 pixels around a hole in base pixel 6",
    ranges: [pixelRange(3, 6n * 64n + 12n), pixelRange(3, 6n * 64n + 14n)],
    border: [
      [3, 6n * 64n + 12n],
      [3, 6n * 64n + 14n],
    ],
  },
  {
    name: "an unaligned key span in base pixel 8 (south, RA 0)",
    ranges: [[pixelRange(0, 8n)[0] + 12345678901234n, pixelRange(0, 8n)[0] + 3n ** 34n]],
    border: [[2, (pixelRange(0, 8n)[0] + 12345678901234n) >> shift(2)]],
  },
];

test("dilateKeyRanges: every point within the radius of the region is covered", () => {
  const rand = mulberry32(77);
  let checked = 0;
  for (const region of REGIONS) {
    // Points of the region: its pixels' borders (where partners leave it) and random points.
    const points: Array<{ ra: number; dec: number }> = [];
    for (const [order, pix] of region.border) points.push(...boundaries(order, pix, 16));
    const keys = ang2pixOrder29(
      points.map((p) => p.ra),
      points.map((p) => p.dec),
    );
    const inside = points.filter((_, i) => inRanges(region.ranges, keys[i]!));
    assert.ok(inside.length > 20, `${region.name}: ${inside.length} border points inside`);
    for (const radius of [1 / 3600, 30 / 3600, 0.7, 6]) {
      for (const order of [4, 8]) {
        const cover = dilateKeyRanges(region.ranges, radius, order);
        for (let i = 1; i < cover.length; i++)
          assert.ok(cover[i - 1]![1] < cover[i]![0], "sorted, disjoint, merged");
        const ra: number[] = [];
        const dec: number[] = [];
        for (const p of inside) {
          for (let k = 0; k < 8; k++) {
            // Up to the radius itself, in every direction.
            const d = radius * (k === 0 ? 1 - 1e-9 : rand());
            const q = destination(p.ra, p.dec, rand() * 360, d);
            if (angularSeparationDeg(p.ra, p.dec, q.ra, q.dec) > radius) continue;
            ra.push(q.ra);
            dec.push(q.dec);
          }
        }
        const qKeys = ang2pixOrder29(ra, dec);
        for (let j = 0; j < qKeys.length; j++) {
          assert.ok(
            inRanges(cover, qKeys[j]!),
            `${region.name}, radius ${radius} deg, order ${order}: (${ra[j]}, ${dec[j]}) not covered`,
          );
        }
        checked += qKeys.length;
      }
    }
  }
  assert.ok(checked > 10_000, `${checked} partners checked`);
});

test("dilateKeyRanges: the margin is thin for a small radius, the whole sky for a large one", () => {
  const area = (r: Array<[bigint, bigint]>) =>
    r.reduce((s, [a, b]) => s + Number(b - a), 0) / 4 ** 29;
  // Two base pixels: a margin ~1.5 order-7 pixels wide, a few percent of their area.
  const two = [pixelRange(0, 4n), pixelRange(0, 5n)];
  const thin = dilateKeyRanges(two, 1 / 3600, 7);
  assert.ok(area(thin) > 2 && area(thin) < 2.15, `${area(thin)} base pixels`);
  // The region itself, widened to whole pixels at the order, is always inside.
  const span: Array<[bigint, bigint]> = [[(5n << shift(0)) + 999n, (5n << shift(0)) + 10n ** 15n]];
  const cover = dilateKeyRanges(span, 1 / 3600, 10);
  assert.ok(cover.some(([a, b]) => a <= 5n << shift(0) && b >= span[0]![1]));
  assert.deepEqual(dilateKeyRanges(span, 180, 3), [[0n, 12n << shift(0)]]);
  assert.deepEqual(dilateKeyRanges([], 1, 3), []);
  assert.throws(() => dilateKeyRanges(span, -1, 3), UsageError);
  assert.throws(() => dilateKeyRanges(span, 1, 30), UsageError);
});
