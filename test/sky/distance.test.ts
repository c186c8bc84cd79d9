// Angular distances against 60-digit mpmath references (test/fixtures/sky/healpix.json,
// "separation") and cases whose answer is known exactly.
// Run: node --import tsx --test test/sky/distance.test.ts

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { closeSeparationRad, separationRad } from "../../src/sky/distance.ts";
import {
  angleToChord,
  angularSeparationDeg,
  angularSeparationDegArray,
  chordToAngleDeg,
  inCone,
  radecToUnitVector,
} from "../../src/sky/index.ts";
import { mulberry32 } from "../helpers/sky-points.ts";

const fixture: {
  separation: Array<{ ra1: number; dec1: number; ra2: number; dec2: number; sep: number }>;
} = JSON.parse(readFileSync(new URL("../fixtures/sky/healpix.json", import.meta.url), "utf8"));

/** Within 2e-15 relative, or 5e-14 deg (a few ulps of 180) absolute. */
function assertClose(got: number, expected: number, what: string): void {
  const err = Math.abs(got - expected);
  assert.ok(
    err <= 2e-15 * Math.abs(expected) || err <= 5e-14,
    `${what}: got ${got}, expected ${expected} (error ${err}, ${err / expected} relative)`,
  );
}

describe("angularSeparationDeg", () => {
  test("matches the mpmath references (tiny, ordinary and near-180-degree angles)", () => {
    const tiny = fixture.separation.filter((s) => s.sep < 1e-6);
    const nearHalfTurn = fixture.separation.filter((s) => s.sep > 179.9);
    assert.ok(tiny.length >= 10 && nearHalfTurn.length >= 10, "fixture has both extremes");
    for (const s of fixture.separation) {
      const what = `(${s.ra1}, ${s.dec1}) - (${s.ra2}, ${s.dec2})`;
      const got = angularSeparationDeg(s.ra1, s.dec1, s.ra2, s.dec2);
      if (s.sep < 1) {
        // Small angles keep their relative precision.
        const err = Math.abs(got - s.sep);
        assert.ok(err <= 1e-14 * s.sep || err <= 1e-40, `${what}: ${got} vs ${s.sep}`);
      } else {
        assertClose(got, s.sep, what);
      }
      assert.equal(angularSeparationDeg(s.ra2, s.dec2, s.ra1, s.dec1), got, `${what} symmetric`);
    }
  });

  test("separations known exactly", () => {
    // Along a meridian, along the equator, through a pole (to the last few bits: the result
    // goes through radians).
    const cases: Array<[number, number, number, number, number]> = [
      [30, 10, 30, 40, 30],
      [30, -20, 30, 20, 40],
      [10, 0, 100, 0, 90],
      [350, 0, 20, 0, 30],
      [0, 90, 180, 80, 10],
      [10, 20, 190, -20, 180],
      [0, 90, 0, -90, 180],
      [5, 45, 185, -45, 180],
      [-10, 0, 350, 0, 0],
      [370, 5, 10, 5, 0],
    ];
    for (const [ra1, dec1, ra2, dec2, expected] of cases) {
      assertClose(
        angularSeparationDeg(ra1, dec1, ra2, dec2),
        expected,
        `(${ra1}, ${dec1}) - (${ra2}, ${dec2})`,
      );
    }
    assert.equal(angularSeparationDeg(77, 90, 300, 90), 0);
    assert.equal(angularSeparationDeg(123.456, -45.6, 123.456, -45.6), 0);
    assert.equal(angularSeparationDeg(0, 90, 0, -90), 180);
  });

  test("tiny separations keep full relative precision (1e-9 arcsec)", () => {
    const oneNanoArcsec = 1e-9 / 3600;
    for (const dec of [0, 45, -70, 89.99]) {
      // Along dec: the separation is the (exactly computed) difference of the two doubles.
      const dec2 = dec + oneNanoArcsec;
      const exact = dec2 - dec;
      const got = angularSeparationDeg(200, dec, 200, dec2);
      assert.ok(Math.abs(got - exact) <= 1e-15 * exact, `dec ${dec}: ${got} vs ${exact}`);
    }
    // Along ra at the equator, and straddling ra = 0.
    const ra2 = 100 + 1e-12;
    assert.ok(Math.abs(angularSeparationDeg(100, 0, ra2, 0) - (ra2 - 100)) <= 1e-15 * 1e-12);
    const straddle = angularSeparationDeg(360 - 2 ** -40, 0, 2 ** -40, 0);
    assert.ok(Math.abs(straddle - 2 ** -39) <= 1e-15 * 2 ** -39, `straddling ra 0: ${straddle}`);
  });

  test("array version equals the scalar one", () => {
    const ra1 = [0, 10, 200.5, 359.9];
    const dec1 = [0, -30, 60, 89];
    const one = angularSeparationDegArray(ra1, dec1, 10, 10);
    const pairs = angularSeparationDegArray(ra1, dec1, [1, 2, 3, 4], [-1, -2, -3, -4]);
    for (let i = 0; i < ra1.length; i++) {
      assert.equal(one[i], angularSeparationDeg(ra1[i]!, dec1[i]!, 10, 10));
      assert.equal(pairs[i], angularSeparationDeg(ra1[i]!, dec1[i]!, i + 1, -(i + 1)));
    }
    const out = new Float64Array(6).fill(-1);
    assert.equal(
      angularSeparationDegArray(Float64Array.from(ra1), Float64Array.from(dec1), 10, 10, out),
      out,
    );
    assert.deepEqual([...out.subarray(0, 4)], [...one]);
    assert.equal(out[4], -1);
  });

  test("bad input names the argument", () => {
    assert.throws(
      () => angularSeparationDeg(0, 91, 0, 0),
      /dec1 must be a finite number in \[-90, 90\] degrees, got 91/,
    );
    assert.throws(
      () => angularSeparationDeg(0, 0, Number.NaN, 0),
      /ra2 must be a finite number, got NaN/,
    );
    assert.throws(() => angularSeparationDegArray([0, 0], [0, -100], 0, 0), /dec1\[1\].*got -100/);
    assert.throws(() => angularSeparationDegArray([0], [0], [0, 1], [0, 1]), /same length/);
    assert.throws(
      () => angularSeparationDegArray([0], [0], 0, [0]),
      /both be numbers or both be arrays/,
    );
  });
});

describe("unit vectors and chords", () => {
  test("radecToUnitVector", () => {
    // Exact at the axes thanks to the reduction in degrees (x + 0 turns -0 into 0).
    const vec = (ra: number, dec: number) => [...radecToUnitVector(ra, dec)].map((x) => x + 0);
    assert.deepEqual(vec(0, 0), [1, 0, 0]);
    assert.deepEqual(vec(90, 0), [0, 1, 0]);
    assert.deepEqual(vec(180, 0), [-1, 0, 0]);
    assert.deepEqual(vec(270, 0), [0, -1, 0]);
    assert.deepEqual(vec(33, 90), [0, 0, 1]);
    assert.deepEqual(vec(33, -90), [0, 0, -1]);
    const out = new Float64Array(7);
    radecToUnitVector(123.4, -56.7, out, 4);
    assert.ok(Math.abs(Math.hypot(out[4]!, out[5]!, out[6]!) - 1) < 1e-15);
    assert.equal(out[0], 0);
    assert.throws(() => radecToUnitVector(0, -90.5), /decDeg.*got -90\.5/);
  });

  test("chord <-> angle", () => {
    assert.equal(angleToChord(180), 2);
    assert.equal(angleToChord(0), 0);
    assert.equal(chordToAngleDeg(2), 180);
    assert.ok(Math.abs(angleToChord(60) - 1) < 1e-15);
    for (const angle of [1e-9 / 3600, 1 / 3600, 1, 45, 90, 179.5]) {
      const back = chordToAngleDeg(angleToChord(angle));
      assert.ok(Math.abs(back - angle) <= 1e-14 * angle + 1e-13, `${angle} -> ${back}`);
    }
    // The chord between unit vectors gives the separation back.
    const a = radecToUnitVector(10, 20);
    const b = radecToUnitVector(10.001, 19.999);
    const chord = Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
    assert.ok(
      Math.abs(chordToAngleDeg(chord) - angularSeparationDeg(10, 20, 10.001, 19.999)) < 1e-12,
    );
    assert.throws(() => chordToAngleDeg(-0.1), /chord must be in \[0, 2\], got -0\.1/);
    assert.throws(() => angleToChord(181), /angleDeg must be in \[0, 180\], got 181/);
  });
});

describe("inCone", () => {
  test("inside, outside, close to the edge, across ra 0 and at the poles", () => {
    assert.equal(inCone(10, 10, 10, 10, 0), true);
    assert.equal(inCone(10, 10.5, 10, 10, 1), true);
    assert.equal(inCone(10, 11.5, 10, 10, 1), false);
    assert.equal(inCone(0, 10 + 1 - 1e-9, 0, 10, 1), true);
    assert.equal(inCone(0, 10 + 1 + 1e-9, 0, 10, 1), false);
    assert.equal(inCone(359.9, 0, 0.05, 0, 0.2), true);
    assert.equal(inCone(359.9, 0, 0.15, 0, 0.2), false);
    assert.equal(inCone(123, 89.5, 303, 89.5, 1.01), true);
    assert.equal(inCone(123, 89.5, 303, 89.5, 0.99), false);
    assert.equal(inCone(5, -30, 185, 30, 180), true);
    assert.throws(
      () => inCone(0, 0, 0, 0, -1),
      /radiusDeg must be a finite number >= 0 degrees, got -1/,
    );
  });
});

describe("closeSeparationRad (the matching kernel's fast path)", () => {
  test("matches the mpmath references, close or not", () => {
    for (const s of fixture.separation) {
      const what = `(${s.ra1}, ${s.dec1}) - (${s.ra2}, ${s.dec2})`;
      const got = closeSeparationRad(s.ra1, s.dec1, s.ra2, s.dec2) * (180 / Math.PI);
      if (s.sep < 1) {
        const err = Math.abs(got - s.sep);
        assert.ok(err <= 1e-14 * s.sep || err <= 1e-40, `${what}: ${got} vs ${s.sep}`);
      } else {
        assertClose(got, s.sep, what);
      }
    }
  });

  test("agrees with separationRad to 2e-15 relative on close pairs at every scale", () => {
    const rand = mulberry32(7);
    let series = 0;
    for (let i = 0; i < 200_000; i++) {
      const ra = rand() * 360;
      // Every declination band, with a tenth of the points within a degree of a pole.
      const dec = i % 10 === 0 ? (rand() < 0.5 ? -1 : 1) * (90 - rand()) : rand() * 180 - 90;
      const scale = 10 ** (-10 + 10.5 * rand());
      const ra2 = ra + (rand() - 0.5) * scale;
      const dec2 = Math.max(-90, Math.min(90, dec + (rand() - 0.5) * scale));
      const exact = separationRad(ra, dec, ra2, dec2);
      const got = closeSeparationRad(ra, dec, ra2, dec2);
      if (scale < 1) series++;
      assert.ok(
        Math.abs(got - exact) <= 2e-15 * exact,
        `(${ra}, ${dec}) - (${ra2}, ${dec2}): ${got} vs ${exact}`,
      );
      assert.equal(closeSeparationRad(ra2, dec2, ra, dec) > 0, exact > 0);
    }
    assert.ok(series > 100_000, "most pairs took the series path");
  });

  test("falls back to the exact form across ra 0/360, for wide pairs and at the poles; equal points are 0 apart", () => {
    const cases: Array<[number, number, number, number]> = [
      [359.9999999, 10, 0.0000001, 10],
      [0, 0, 3, 4],
      [10, 89.9999999999, 190, 89.9999999999],
      [10, -90, 200, -90],
      [123.456, -45, 123.456, -45],
    ];
    for (const [a, b, c, d] of cases) {
      assert.equal(
        closeSeparationRad(a, b, c, d),
        separationRad(a, b, c, d),
        `${a} ${b} ${c} ${d}`,
      );
    }
  });
});
