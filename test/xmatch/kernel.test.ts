// The kernel against astropy: committed fixtures (scripts/make_xmatch_fixtures.py) with points
// on order-4 pixel borders, at the poles, across RA 0/360, in clumps and duplicated; and a live
// run of astropy on fresh random points.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import {
  matchAll,
  matchNearest,
  type Pairs,
  type Points,
  SkyIndex,
} from "../../src/xmatch/kernel.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { mulberry32, skyPoints } from "../helpers/sky-points.ts";

interface Fixture {
  radii_arcsec: number[];
  left: { ra: number[]; dec: number[] };
  right: { ra: number[]; dec: number[] };
  answers: {
    search_around_sky: Record<string, { left: number[]; right: number[]; sep_arcsec: number[] }>;
    match_coordinates_sky: Record<string, { right: number[]; sep_arcsec: number[] }>;
  };
}

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "xmatch");
const TOL_ARCSEC = 1e-6;

function load(name: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as Fixture;
}

/** Asserts our pairs equal astropy's (left, right sorted) with separations to 1e-6 arcsec. */
function assertSamePairs(
  ours: Pairs,
  theirs: { left: ArrayLike<number>; right: ArrayLike<number>; sep_arcsec: ArrayLike<number> },
  what: string,
): void {
  const key = (l: number, r: number) => `${l}:${r}`;
  const mine = new Map<string, number>();
  for (let i = 0; i < ours.left.length; i++)
    mine.set(key(ours.left[i]!, ours.right[i]!), ours.sepDeg[i]! * 3600);
  const missing: string[] = [];
  for (let i = 0; i < theirs.left.length; i++) {
    const k = key(theirs.left[i]!, theirs.right[i]!);
    const s = mine.get(k);
    if (s === undefined) {
      missing.push(`${k} at ${theirs.sep_arcsec[i]}"`);
      continue;
    }
    assert.ok(
      Math.abs(s - theirs.sep_arcsec[i]!) <= TOL_ARCSEC,
      `${what}: pair ${k} sep ${s}" vs astropy ${theirs.sep_arcsec[i]}"`,
    );
    mine.delete(k);
  }
  assert.deepEqual(missing, [], `${what}: pairs astropy finds and we miss`);
  assert.deepEqual([...mine.keys()], [], `${what}: pairs we find and astropy does not`);
}

for (const name of ["borders_poles.json", "clumps.json"]) {
  const fx = load(name);

  test(`matchAll equals astropy search_around_sky on ${name} at every radius`, () => {
    for (const r of fx.radii_arcsec) {
      const theirs = fx.answers.search_around_sky[fmt(r)]!;
      assert.ok(theirs, `fixture has radius ${r}`);
      const ours = matchAll(fx.left, fx.right, r / 3600);
      assertSamePairs(ours, theirs, `${name} r=${r}"`);
      // Looking left points up in turn (for sky-ordered input) finds the same pairs, same order.
      assert.deepEqual(matchAll(fx.left, fx.right, r / 3600, { leftInSkyOrder: true }), ours);
      // Sorted by (left, right), as documented.
      for (let i = 1; i < ours.left.length; i++) {
        assert.ok(
          ours.left[i - 1]! < ours.left[i]! ||
            (ours.left[i - 1] === ours.left[i] && ours.right[i - 1]! < ours.right[i]!),
        );
      }
    }
    // The fixture exercises something at each radius but the smallest.
    assert.ok(fx.answers.search_around_sky["1.0"]!.left.length > 10);
  });

  test(`matchNearest equals astropy match_coordinates_sky (1st and 2nd neighbour) on ${name}`, () => {
    const all = 180; // no radius cut: every left point has a nearest right point
    const k2 = matchNearest(fx.left, fx.right, all, { k: 2 });
    const n = fx.left.ra.length;
    assert.equal(k2.left.length, 2 * n);
    for (const nth of [1, 2]) {
      const theirs = fx.answers.match_coordinates_sky[String(nth)]!;
      for (let i = 0; i < n; i++) {
        const t = 2 * i + nth - 1;
        assert.equal(k2.left[t], i);
        const sep = k2.sepDeg[t]! * 3600;
        assert.ok(
          Math.abs(sep - theirs.sep_arcsec[i]!) <= TOL_ARCSEC,
          `left ${i} nth ${nth}: ${sep}" vs ${theirs.sep_arcsec[i]}"`,
        );
        // Equal separations (exact duplicates on the right) may be ordered either way.
        if (k2.right[t] !== theirs.right[i]) {
          const alt = matchAll(
            { ra: [fx.left.ra[i]!], dec: [fx.left.dec[i]!] },
            { ra: [fx.right.ra[theirs.right[i]!]!], dec: [fx.right.dec[theirs.right[i]!]!] },
            180,
          );
          assert.equal(alt.sepDeg[0], k2.sepDeg[t], `left ${i}: a different neighbour`);
        }
      }
    }
    // With a radius, nearest = the first neighbour when it lies within the radius.
    const theirs = fx.answers.match_coordinates_sky["1"]!;
    const near = matchNearest(fx.left, fx.right, 30 / 3600);
    const expect = [...theirs.sep_arcsec.keys()].filter((i) => theirs.sep_arcsec[i]! <= 30);
    assert.deepEqual(Array.from(near.left), expect);
  });

  test(`minRadiusDeg: astropy search_around_sky pairs at sep >= min, and the nearest of them, on ${name}`, () => {
    let dropped = 0;
    for (const r of fx.radii_arcsec) {
      const theirs = fx.answers.search_around_sky[fmt(r)]!;
      for (let min of [1e-5, 0.3 * r]) {
        // Keep the minimum clear of astropy's separations by more than the tolerance.
        while (theirs.sep_arcsec.some((s) => Math.abs(s - min) <= 2 * TOL_ARCSEC)) min += 3e-6;
        const keep = [...theirs.left.keys()].filter((t) => theirs.sep_arcsec[t]! >= min);
        dropped += theirs.left.length - keep.length;
        const filtered = {
          left: keep.map((t) => theirs.left[t]!),
          right: keep.map((t) => theirs.right[t]!),
          sep_arcsec: keep.map((t) => theirs.sep_arcsec[t]!),
        };
        const opts = { minRadiusDeg: min / 3600 };
        const ours = matchAll(fx.left, fx.right, r / 3600, opts);
        assertSamePairs(ours, filtered, `${name} r=${r}" min=${min}"`);
        assert.deepEqual(
          matchAll(fx.left, fx.right, r / 3600, { ...opts, leftInSkyOrder: true }),
          ours,
        );
        // Nearest with a minimum: the closest of the filtered pairs of each left point.
        const best = new Map<number, number>();
        for (const [t, l] of filtered.left.entries())
          best.set(l, Math.min(best.get(l) ?? Number.POSITIVE_INFINITY, filtered.sep_arcsec[t]!));
        const near = matchNearest(fx.left, fx.right, r / 3600, opts);
        assert.deepEqual(
          Array.from(near.left),
          [...best.keys()].sort((a, b) => a - b),
        );
        for (const [t, l] of near.left.entries()) {
          const sep = near.sepDeg[t]! * 3600;
          assert.ok(Math.abs(sep - best.get(l)!) <= TOL_ARCSEC, `${name} r=${r}" nearest of ${l}`);
        }
      }
    }
    assert.ok(dropped > 100, `${dropped} astropy pairs under the minimum`);
  });
}

function fmt(r: number): string {
  return Number.isInteger(r) ? r.toFixed(1) : String(r);
}

test("pairs at the poles and across RA 0/360, radius from 1 mas to 10 deg", () => {
  const cases: Array<[number, number, number, number]> = [
    [0, 90, 180, 89.99999], // across the north pole
    [10, -90, 250, -89.9999], // across the south pole
    [359.9999999, 0, 0.0000001, 0], // across RA 0
    [0.0001, 45, 359.9999, 45],
  ];
  for (const [a, d, b, e] of cases) {
    const sepDeg = matchAll({ ra: [a], dec: [d] }, { ra: [b], dec: [e] }, 180).sepDeg[0]!;
    for (const f of [1.000001, 2, 1e6]) {
      const r = Math.min(sepDeg * f, 10);
      if (r < sepDeg) continue;
      const p = matchAll({ ra: [a], dec: [d] }, { ra: [b, 123], dec: [e, 0] }, r);
      assert.deepEqual(Array.from(p.right), [0], `(${a}, ${d})-(${b}, ${e}) within ${r}`);
    }
    const p = matchAll({ ra: [a], dec: [d] }, { ra: [b], dec: [e] }, sepDeg * 0.999999);
    assert.equal(p.left.length, 0);
  }
});

test("a pair exactly at the radius is kept (sep <= radius); 1 mas pairs are found", () => {
  const left = { ra: [10], dec: [20] };
  const right = { ra: [10 + 0.001 / 3600 / Math.cos((20 * Math.PI) / 180)], dec: [20] };
  const sep = matchAll(left, right, 1).sepDeg[0]!;
  assert.equal(matchAll(left, right, sep).left.length, 1);
  assert.equal(matchAll(left, right, sep * (1 - 1e-12)).left.length, 0);
  assert.ok(Math.abs(sep * 3600 - 0.001) < 1e-9);
});

test("a point placed one radius north of another is at the radius to the last bit, and kept (as astropy keeps it)", () => {
  // Exactly, (10, 0) and (10, 1/3600) are 1/3600 degrees apart: the haversine rounded to one
  // step beyond, so the pair fell outside its own radius.
  for (const [ra, dec, step] of [
    [10, 0, 1 / 3600],
    [150.1, 2.2, 2 / 3600],
    [0, -45, 5 / 3600],
    [359.5, 89.999, 1 / 3600],
  ] as const) {
    // The radius is the separation the two doubles have (dec + step rounds).
    const r = dec + step - dec;
    const left = { ra: [ra], dec: [dec] };
    const right = { ra: [ra], dec: [dec + step] };
    const all = matchAll(left, right, r);
    assert.equal(all.left.length, 1, `(${ra}, ${dec}) + ${step * 3600}"`);
    assert.equal(all.sepDeg[0], r);
    assert.equal(matchNearest(left, right, r).left.length, 1);
    assert.equal(
      matchAll(left, new SkyIndex(right, r), r, { leftInSkyOrder: true }).left.length,
      1,
    );
    assert.equal(angularSeparationDeg(ra, dec, ra, dec + step), r);
    // A double closer, and the pair is outside.
    assert.equal(matchAll(left, right, r * (1 - 2 ** -52)).left.length, 0);
  }
});

test("brute force agrees on dense random points at several radii (duplicates, clumps, poles)", () => {
  const a = skyPoints(1500, 3, 0.2);
  const b = skyPoints(1500, 4, 0.2);
  for (const r of [1e-3, 2, 60, 900, 3600, 4 * 3600]) {
    const ours = matchAll(a, b, r / 3600);
    const index = new SkyIndex(b, r / 3600);
    let count = 0;
    for (let i = 0; i < a.ra.length; i++) {
      index.search(a.ra[i]!, a.dec[i]!, r / 3600, () => count++);
    }
    assert.equal(count, ours.left.length);
    // Brute force over all pairs with the same accurate separation.
    let brute = 0;
    const one = { ra: [0], dec: [0] };
    for (let i = 0; i < a.ra.length; i += 13) {
      one.ra[0] = a.ra[i]!;
      one.dec[0] = a.dec[i]!;
      const got = matchAll(one, b, 180);
      const within = Array.from(got.sepDeg).filter((s) => s <= r / 3600).length;
      const ourRow = ours.left.filter((l) => l === i).length;
      assert.equal(ourRow, within, `left ${i} at r=${r}"`);
      brute += within;
    }
    if (r >= 60) assert.ok(brute > 0, `r=${r}" finds pairs`);
  }
});

/**
 * n points in a square patch of `size` degrees around (ra0, dec0), then n/10 exact duplicates
 * of the first points and n/10 points in a 0.1" clump around the first one.
 */
function densePatch(rand: () => number, n: number, ra0: number, dec0: number, size: number) {
  const ra: number[] = [];
  const dec: number[] = [];
  for (let i = 0; i < n; i++) {
    dec.push(Math.max(-90, Math.min(90, dec0 + (rand() - 0.5) * size)));
    ra.push(
      (((ra0 + ((rand() - 0.5) * size) / Math.max(0.01, Math.cos((dec0 * Math.PI) / 180))) % 360) +
        360) %
        360,
    );
  }
  for (let i = 0; i < n / 10; i++) {
    ra.push(ra[i]!); // exact duplicates
    dec.push(dec[i]!);
    ra.push(ra[0]! + (rand() - 0.5) / 36000); // a 0.1" clump
    dec.push(dec[0]!);
  }
  return { ra: Float64Array.from(ra), dec: Float64Array.from(dec) };
}

test("dense patches (across ra 0, around a pole, one crowded cell) equal brute force", () => {
  // Zones and cells adapt to where points are: small patches fill few cells, duplicates and
  // a 0.1" clump crowd one cell (the packed-key sort), ra 0/360 and the pole wrap the window.
  const rand = mulberry32(77);
  const patch = (n: number, ra0: number, dec0: number, size: number) =>
    densePatch(rand, n, ra0, dec0, size);
  for (const [ra0, dec0, size] of [
    [0, 10, 0.05],
    [123, 89.99, 0.05],
    [200, -45, 0.02],
  ] as const) {
    const a = patch(900, ra0, dec0, size);
    const b = patch(900, ra0, dec0, size);
    for (const r of [0.5, 10]) {
      const got = matchAll(a, b, r / 3600);
      assert.deepEqual(matchAll(a, b, r / 3600, { leftInSkyOrder: true }), got);
      let brute = 0;
      for (let i = 0; i < a.ra.length; i++) {
        for (let j = 0; j < b.ra.length; j++) {
          if (angularSeparationDeg(a.ra[i]!, a.dec[i]!, b.ra[j]!, b.dec[j]!) <= r / 3600) brute++;
        }
      }
      assert.equal(got.left.length, brute, `patch at ${ra0},${dec0} r=${r}"`);
      assert.ok(brute > 10, `${brute} pairs`);
      const nearest = matchNearest(a, b, r / 3600);
      assert.deepEqual(matchNearest(a, b, r / 3600, { leftInSkyOrder: true }), nearest);
      let hits = 0;
      for (let i = 0; i < a.ra.length; i++) {
        let best = Number.POSITIVE_INFINITY;
        for (let j = 0; j < b.ra.length; j++)
          best = Math.min(best, angularSeparationDeg(a.ra[i]!, a.dec[i]!, b.ra[j]!, b.dec[j]!));
        if (best <= r / 3600) {
          // The kernel's fast separation is within a few ulps of the reference form.
          const got = nearest.sepDeg[hits]!;
          assert.ok(
            Math.abs(got - best) <= 1e-14 * best,
            `nearest of left ${i}: ${got} vs ${best}`,
          );
          assert.equal(nearest.left[hits], i);
          hits++;
        }
      }
      assert.equal(nearest.left.length, hits);
    }
  }
});

/** The next double above a positive x. */
function nextUp(x: number): number {
  const f = Float64Array.of(x);
  new BigInt64Array(f.buffer)[0]! += 1n;
  return f[0]!;
}

/** Separations of every (left i, right j) at i * right length + j, in degrees. */
function allSeparations(a: Points, b: Points): Float64Array {
  const m = b.ra.length;
  const out = new Float64Array(a.ra.length * m);
  for (let i = 0; i < a.ra.length; i++)
    for (let j = 0; j < m; j++)
      out[i * m + j] = angularSeparationDeg(a.ra[i]!, a.dec[i]!, b.ra[j]!, b.dec[j]!);
  return out;
}

/** Brute force from allSeparations: per left point, the right points with min <= sep <= r. */
function bruteRows(sep: Float64Array, m: number, minDeg: number, rDeg: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < sep.length / m; i++) {
    const row: number[] = [];
    for (let j = 0; j < m; j++) {
      const s = sep[i * m + j]!;
      if (s >= minDeg && s <= rDeg) row.push(j);
    }
    rows.push(row);
  }
  return rows;
}

/** Rows of right points as the kernel returns them: all of each row, or the first k. */
function asPairs(rows: number[][], sep: Float64Array, m: number, k?: number): Pairs {
  const left: number[] = [];
  const right: number[] = [];
  for (const [i, row] of rows.entries()) {
    for (const j of row.slice(0, k ?? row.length)) {
      left.push(i);
      right.push(j);
    }
  }
  return {
    left: Uint32Array.from(left),
    right: Uint32Array.from(right),
    sepDeg: Float64Array.from(left, (i, t) => sep[i * m + right[t]!]!),
  };
}

/** Same pairs; separations equal to 1e-12 relative (so a faster separation may be swapped in). */
function assertPairsNear(got: Pairs, want: Pairs, what: string): void {
  assert.deepEqual(got.left, want.left, `${what}: left`);
  assert.deepEqual(got.right, want.right, `${what}: right`);
  for (const [t, s] of want.sepDeg.entries()) {
    assert.ok(Math.abs(got.sepDeg[t]! - s) <= 1e-12 * s, `${what}: sep ${got.sepDeg[t]} vs ${s}`);
  }
}

test("minRadiusDeg: matchAll and matchNearest (k 1, 3) equal brute force, self-match included", () => {
  const rand = mulberry32(78);
  for (const [ra0, dec0, size] of [
    [0, 10, 0.05],
    [123, 89.99, 0.05],
    [200, -45, 0.02],
  ] as const) {
    const a = densePatch(rand, 300, ra0, dec0, size);
    const b = densePatch(rand, 300, ra0, dec0, size);
    for (const [what, right] of [
      ["a x b", b],
      ["a x a", a],
    ] as const) {
      const sep = allSeparations(a, right);
      const m = right.ra.length;
      for (const r of [0.5, 10]) {
        const rDeg = r / 3600;
        const everything = bruteRows(sep, m, 0, rDeg).flat().length;
        for (const min of [1e-6, 0.1 * r]) {
          const minDeg = min / 3600;
          const at = `${what} at ${ra0},${dec0} r=${r}" min=${min}"`;
          const rows = bruteRows(sep, m, minDeg, rDeg);
          const want = asPairs(rows, sep, m);
          assert.ok(want.left.length > 0, `${at}: pairs`);
          // The minimum removes pairs: self-pairs, or real ones under 1".
          if (right === a || (r === 10 && min >= 1)) {
            assert.ok(want.left.length < everything, `${at}: ${want.left.length} of ${everything}`);
          }
          const index = new SkyIndex(right, rDeg);
          const opts = { minRadiusDeg: minDeg };
          const all = matchAll(a, right, rDeg, opts);
          assertPairsNear(all, want, `${at}: matchAll`);
          assert.deepEqual(matchAll(a, right, rDeg, { ...opts, leftInSkyOrder: true }), all);
          assert.deepEqual(matchAll(a, index, rDeg, opts), all);
          // SkyIndex.search on every 7th left point (each call computes its ra windows).
          for (let i = 0; i < a.ra.length; i += 7) {
            const found: number[] = [];
            index.search(a.ra[i]!, a.dec[i]!, rDeg, (j) => found.push(j), minDeg);
            assert.deepEqual(
              found.sort((x, y) => x - y),
              rows[i],
              `${at}: search from ${i}`,
            );
          }
          // Nearest first, ties in separation to the lower right index.
          for (const [i, row] of rows.entries())
            row.sort((x, y) => sep[i * m + x]! - sep[i * m + y]! || x - y);
          for (const k of [1, 3]) {
            const wantK = asPairs(rows, sep, m, k);
            const o = { ...opts, k };
            const near = matchNearest(a, right, rDeg, o);
            assertPairsNear(near, wantK, `${at}: nearest k=${k}`);
            assert.deepEqual(matchNearest(a, right, rDeg, { ...o, leftInSkyOrder: true }), near);
            assert.deepEqual(matchNearest(a, index, rDeg, o), near);
          }
          if (right === a) {
            // No point matches itself (nor its exact duplicates, at 0)...
            assert.ok(all.sepDeg.every((s) => s > 0));
            assert.ok(all.left.every((l, t) => l !== all.right[t]));
          }
        }
      }
      if (right === a) {
        // ...while without a minimum each point's nearest is at 0 (itself or a duplicate).
        const self = matchNearest(a, a, 0.5 / 3600);
        assert.equal(self.left.length, a.ra.length);
        assert.ok(self.sepDeg.every((s) => s === 0));
      }
    }
  }
});

test("a pair exactly at minRadiusDeg is kept, one a double closer is not (every path)", () => {
  const rand = mulberry32(79);
  let pairs = 0;
  for (let t = 0; t < 300; t++) {
    const ra = rand() * 360;
    const dec = Math.asin(2 * rand() - 1) * (180 / Math.PI);
    const off = 10 ** (-9 * rand()); // 1e-9 .. 1 deg
    const left = { ra: [ra], dec: [dec] };
    // ra kept in [0, 360), as the kernel holds it, so both sides measure the same points.
    const right = {
      ra: [(ra + off * (rand() - 0.5) + 360) % 360],
      dec: [Math.max(-90, dec - off * rand())],
    };
    const found = matchAll(left, right, 2 * off);
    if (found.left.length === 0 || found.sepDeg[0] === 0) continue;
    // Limits are decided on the reference separation (the kernel's own value is within a
    // few ulps of it, and replaced by it next to a limit).
    const d = angularSeparationDeg(ra, dec, right.ra[0]!, right.dec[0]!);
    pairs++;
    const index = new SkyIndex(right, 2 * off);
    const count = (min: number) => [
      matchAll(left, right, 2 * off, { minRadiusDeg: min }).left.length,
      matchAll(left, right, 2 * off, { minRadiusDeg: min, leftInSkyOrder: true }).left.length,
      matchNearest(left, index, 2 * off, { minRadiusDeg: min }).left.length,
      matchNearest(left, right, 2 * off, { minRadiusDeg: min, k: 2 }).left.length,
      (() => {
        let n = 0;
        index.search(ra, dec, 2 * off, () => n++, min);
        return n;
      })(),
    ];
    assert.deepEqual(count(d), [1, 1, 1, 1, 1], `pair at ${d} deg with the minimum at ${d}`);
    assert.deepEqual(count(nextUp(d)), [0, 0, 0, 0, 0], `pair at ${d} deg, minimum above`);
    assert.equal(matchAll(left, right, 2 * off, { minRadiusDeg: d }).sepDeg[0], d);
  }
  assert.ok(pairs > 250, `${pairs} pairs`);
});

test("minRadiusDeg outside [0, radius) is a UsageError naming both; 0 with radius 0 is allowed", () => {
  const p = { ra: [1, 1], dec: [1, 1] };
  for (const min of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1, 2]) {
    const both = new RegExp(`minimum ${min} and radius 1 degrees`);
    assert.throws(() => matchAll(p, p, 1, { minRadiusDeg: min }), UsageError);
    assert.throws(() => matchAll(p, p, 1, { minRadiusDeg: min }), both);
    assert.throws(() => matchNearest(p, p, 1, { minRadiusDeg: min, k: 2 }), both);
    assert.throws(() => new SkyIndex(p, 1).search(1, 1, 1, () => {}, min), both);
  }
  assert.throws(() => matchAll(p, p, 0, { minRadiusDeg: 1e-9 }), UsageError);
  // Radius 0 (exact positions) keeps working with the default minimum.
  assert.equal(matchAll(p, p, 0, { minRadiusDeg: 0 }).left.length, 4);
  assert.equal(matchAll(p, p, 0).left.length, 4);
});

test("an index the caller keeps is untouched by later matches (work memory is reused)", () => {
  const a = skyPoints(2000, 31, 0.3);
  const b = skyPoints(2000, 32, 0.3);
  const c = skyPoints(3000, 33, 0.3);
  const index = new SkyIndex(b, 60 / 3600);
  const first = matchAll(a, index, 60 / 3600);
  const firstNearest = matchNearest(a, index, 60 / 3600);
  // Other matches in between sort other points in this thread's work memory.
  matchAll(c, a, 60 / 3600);
  matchNearest(b, c, 30 / 3600, { k: 2 });
  assert.deepEqual(matchAll(a, index, 60 / 3600), first);
  assert.deepEqual(matchNearest(a, index, 60 / 3600), firstNearest);
  assert.deepEqual(matchAll(a, b, 60 / 3600), first);
  assert.ok(first.left.length > 100);
});

test("bad input is a UsageError naming the side and row", () => {
  assert.throws(() => matchAll({ ra: [1], dec: [91] }, { ra: [], dec: [] }, 1), UsageError);
  assert.throws(() => matchAll({ ra: [1], dec: [1] }, { ra: [1, 2], dec: [1] }, 1), /right/);
  assert.throws(() => matchAll({ ra: [1], dec: [1] }, { ra: [1], dec: [1] }, -1), UsageError);
  assert.throws(() => matchNearest({ ra: [1], dec: [1] }, { ra: [1], dec: [1] }, 1, { k: 0 }));
  assert.equal(matchAll({ ra: [], dec: [] }, { ra: [1], dec: [1] }, 1).left.length, 0);
});

test("live: astropy search_around_sky and match_coordinates_sky on fresh random points", {
  skip: referenceSkip(["astropy", "numpy"]),
}, () => {
  const seed = Date.now() >>> 0;
  const rand = mulberry32(seed);
  const n = 3000;
  const a = skyPoints(n, seed, 0.5);
  const b = skyPoints(n, seed + 1, 0.5);
  // Half of the right side near left points, within a few arcsec.
  for (let i = 0; i < n / 2; i++) {
    const j = Math.floor(rand() * n);
    b.dec[i] = Math.max(-90, Math.min(90, a.dec[j]! + (rand() - 0.5) / 1800));
    b.ra[i] = (a.ra[j]! + (rand() - 0.5) / 1800 + 360) % 360;
  }
  const r = 1 + rand() * 20;
  const input = JSON.stringify({
    a: [Array.from(a.ra), Array.from(a.dec)],
    b: [Array.from(b.ra), Array.from(b.dec)],
    r,
  });
  const out = JSON.parse(
    runPython(
      `
import json, sys
import numpy as np, astropy.units as u
from astropy.coordinates import SkyCoord, search_around_sky, match_coordinates_sky
d = json.load(sys.stdin)
c1 = SkyCoord(np.array(d["a"][0]) * u.deg, np.array(d["a"][1]) * u.deg)
c2 = SkyCoord(np.array(d["b"][0]) * u.deg, np.array(d["b"][1]) * u.deg)
i1, i2, s, _ = search_around_sky(c1, c2, d["r"] * u.arcsec)
idx, s1, _ = match_coordinates_sky(c1, c2)
print(json.dumps({"left": i1.tolist(), "right": i2.tolist(), "sep_arcsec": s.to_value(u.arcsec).tolist(),
  "nn": idx.tolist(), "nn_sep": s1.to_value(u.arcsec).tolist()}))
`,
      [],
      input,
    ),
  ) as { left: number[]; right: number[]; sep_arcsec: number[]; nn: number[]; nn_sep: number[] };
  assert.ok(out.left.length > 100, `seed ${seed}: pairs to compare`);
  assertSamePairs(matchAll(a, b, r / 3600), out, `live seed ${seed} r=${r}"`);
  const near = matchNearest(a, b, 180);
  for (let i = 0; i < n; i++) {
    assert.ok(
      Math.abs(near.sepDeg[i]! * 3600 - out.nn_sep[i]!) <= TOL_ARCSEC,
      `seed ${seed} nn ${i}`,
    );
  }
});
