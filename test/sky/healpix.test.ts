// HEALPix against the healpy reference stored in test/fixtures/sky/healpix.json (made by
// scripts/make_healpix_fixtures.py), plus property tests that need no reference.
// Run: node --import tsx --test test/sky/healpix.test.ts

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import {
  ang2pix,
  ang2pixNumber,
  ang2pixOrder29,
  angularSeparationDeg,
  boundaries,
  boxKeyRanges,
  coneKeyRanges,
  degrade,
  keyRange,
  MAX_ORDER,
  neighbours,
  npix,
  npixNumber,
  nside,
  pix2ang,
  pixelRadiusBoundDeg,
  queryBox,
  queryDisc,
} from "../../src/sky/index.ts";

interface Fixture {
  healpy_version: string;
  orders: number[];
  points: { ra: number[]; dec: number[]; kind: string[] };
  ang2pix: Record<string, string[]>;
  ties: Record<string, Record<string, string[]>>;
  pix2ang: Array<{ order: number; pix: string; ra: number; dec: number }>;
  neighbours: Array<{ order: number; pix: string; neighbours: string[] }>;
  boundaries: Array<{ order: number; pix: string; step: number; ra: number[]; dec: number[] }>;
  query_disc: Array<{
    label: string;
    ra: number;
    dec: number;
    radius: number;
    order: number;
    exclusive_count: number;
    inclusive_count: number;
    exclusive: Array<[string, string]>;
    inclusive: Array<[string, string]>;
  }>;
}

const fixture: Fixture = JSON.parse(
  readFileSync(new URL("../fixtures/sky/healpix.json", import.meta.url), "utf8"),
);

/** Deterministic uniform [0, 1) with 53 random bits (mulberry32 pairs). */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  const next32 = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return () => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
}

const DEG = Math.PI / 180;

function randomSphere(n: number, rand: () => number): { ra: Float64Array; dec: Float64Array } {
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ra[i] = rand() * 360;
    dec[i] = Math.asin(2 * rand() - 1) / DEG;
  }
  return { ra, dec };
}

/**
 * n points uniform in the cap of `radiusDeg` around (ra0, dec0); with `onEdge`, points at
 * exactly the radius instead.
 */
function randomInCap(
  ra0: number,
  dec0: number,
  radiusDeg: number,
  n: number,
  rand: () => number,
  onEdge = false,
): { ra: number[]; dec: number[] } {
  const p = [
    Math.cos(dec0 * DEG) * Math.cos(ra0 * DEG),
    Math.cos(dec0 * DEG) * Math.sin(ra0 * DEG),
    Math.sin(dec0 * DEG),
  ];
  // e1 towards increasing ra, e2 towards increasing dec (well defined away from the poles;
  // at the poles any orthonormal pair works).
  let e1 = [-Math.sin(ra0 * DEG), Math.cos(ra0 * DEG), 0];
  if (Math.abs(dec0) === 90) e1 = [1, 0, 0];
  const e2 = [
    p[1]! * e1[2]! - p[2]! * e1[1]!,
    p[2]! * e1[0]! - p[0]! * e1[2]!,
    p[0]! * e1[1]! - p[1]! * e1[0]!,
  ];
  const r = Math.min(radiusDeg, 180) * DEG;
  const ra: number[] = [];
  const dec: number[] = [];
  for (let i = 0; i < n; i++) {
    // Uniform in area: sin(theta/2) = sqrt(u) sin(r/2), stable for tiny radii.
    const theta = onEdge ? r : 2 * Math.asin(Math.sqrt(rand()) * Math.sin(r / 2));
    const az = rand() * 2 * Math.PI;
    const s = Math.sin(theta);
    const c = Math.cos(theta);
    const v = [0, 1, 2].map((k) => c * p[k]! + s * (Math.cos(az) * e1[k]! + Math.sin(az) * e2[k]!));
    let a = Math.atan2(v[1]!, v[0]!) / DEG;
    if (a < 0) a += 360;
    if (a >= 360) a -= 360;
    ra.push(a);
    dec.push(Math.max(-90, Math.min(90, Math.atan2(v[2]!, Math.hypot(v[0]!, v[1]!)) / DEG)));
  }
  return { ra, dec };
}

function inRanges(ranges: Array<[bigint, bigint]>, key: bigint): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (key < r[0]) hi = mid - 1;
    else if (key >= r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

function assertWellFormedRanges(ranges: Array<[bigint, bigint]>, maxRanges: number): void {
  assert.ok(
    ranges.length >= 1 && ranges.length <= maxRanges,
    `${ranges.length} ranges, max ${maxRanges}`,
  );
  for (let i = 0; i < ranges.length; i++) {
    const [lo, hi] = ranges[i]!;
    assert.ok(lo >= 0n && lo < hi && hi <= npix(29), `range ${i} [${lo}, ${hi})`);
    if (i > 0) assert.ok(lo > ranges[i - 1]![1], `ranges ${i - 1}, ${i} overlap or touch`);
  }
}

function expandRuns(runs: Array<[string, string]>): bigint[] {
  const out: bigint[] = [];
  for (const [a, b] of runs) for (let p = BigInt(a); p < BigInt(b); p++) out.push(p);
  return out;
}

function raDiff(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

describe("healpix sizes and hierarchy", () => {
  test("nside, npix", () => {
    assert.equal(MAX_ORDER, 29);
    assert.equal(nside(0), 1);
    assert.equal(nside(29), 536870912);
    assert.equal(npix(0), 12n);
    assert.equal(npix(29), 12n * 4n ** 29n);
    assert.equal(npixNumber(24), 12 * 4 ** 24);
    assert.throws(() => npixNumber(25), UsageError);
  });

  test("degrade and keyRange", () => {
    assert.equal(
      degrade(0x3fffffffffffffffn % npix(29), 29, 0),
      (0x3fffffffffffffffn % npix(29)) >> 58n,
    );
    assert.equal(degrade(1234n, 4, 4), 1234n);
    assert.equal(degrade(123456789012345678n, 29, 20), 123456789012345678n >> 18n);
    assert.equal(degrade(767n, 3, 2), 191n);
    assert.deepEqual(keyRange(4, 3000), [3000n << 50n, 3001n << 50n]);
    assert.deepEqual(keyRange(29, 5n), [5n, 6n]);
    assert.deepEqual(keyRange(0, 11), [11n << 58n, npix(29)]);
    assert.throws(() => degrade(5n, 3, 4), /toOrder \(4\) must be <= fromOrder \(3\)/);
    assert.throws(() => degrade(npix(3), 3, 1), UsageError);
    assert.throws(() => keyRange(2, 192), /pix must be an integer in 0\.\.12\*4\^2-1/);
  });
});

describe("ang2pix against healpy", () => {
  test(`fixture made by healpy ${fixture.healpy_version}`, () => {
    assert.match(fixture.healpy_version, /^\d+\.\d+/);
    assert.ok(fixture.points.ra.length > 2000);
  });

  const { ra, dec, kind } = fixture.points;
  for (const order of fixture.orders) {
    test(`every fixture point, order ${order}, exactly`, () => {
      const got = ang2pix(order, ra, dec);
      const expected = fixture.ang2pix[String(order)]!;
      const ties = fixture.ties[String(order)]!;
      for (let i = 0; i < ra.length; i++) {
        if (got[i] !== BigInt(expected[i]!)) {
          const tie = ties[String(i)]
            ? ` (on a border: healpy also gives ${ties[String(i)]!.join(", ")} within 1e-11 deg)`
            : "";
          assert.fail(
            `point ${i} (${kind[i]}) ra=${ra[i]} dec=${dec[i]} order ${order}: got ${got[i]}, healpy ${expected[i]}${tie}`,
          );
        }
      }
      if (order <= 24) {
        for (let i = 0; i < ra.length; i++) {
          assert.equal(ang2pixNumber(order, ra[i]!, dec[i]!), Number(expected[i]!));
        }
      }
      if (order === 29) assert.deepEqual(ang2pixOrder29(ra, dec), got);
    });
  }

  test("the fixture keeps its border points (where healpy changes within 1e-11 deg)", () => {
    // On these the pixel depends on the last bit of cos(theta); the tests above require the
    // exact healpy answer on them too.
    const ties29 = Object.keys(fixture.ties["29"]!).length;
    assert.ok(ties29 > 100, `only ${ties29} border points at order 29`);
  });

  test("Float64Array input, out parameter and Number/BigInt agreement", () => {
    const ra64 = Float64Array.from(ra.slice(0, 100));
    const dec64 = Float64Array.from(dec.slice(0, 100));
    const out = new BigInt64Array(120).fill(-7n);
    const res = ang2pix(16, ra64, dec64, out);
    assert.equal(res, out);
    assert.equal(out[100], -7n);
    for (let i = 0; i < 100; i++) assert.equal(out[i], BigInt(fixture.ang2pix["16"]![i]!));
  });
});

describe("pix2ang, neighbours, boundaries against healpy", () => {
  test("pix2ang within 1e-10 deg", () => {
    for (const p of fixture.pix2ang) {
      for (const pix of [BigInt(p.pix), ...(p.order <= 24 ? [Number(p.pix)] : [])]) {
        const c = pix2ang(p.order, pix);
        assert.ok(
          raDiff(c.ra, p.ra) <= 1e-10 && Math.abs(c.dec - p.dec) <= 1e-10,
          `order ${p.order} pix ${p.pix}: got (${c.ra}, ${c.dec}), healpy (${p.ra}, ${p.dec})`,
        );
        assert.ok(c.ra >= 0 && c.ra < 360);
      }
    }
  });

  test("neighbours exactly (all pixels at orders 0-1, every base-pixel corner above)", () => {
    assert.ok(fixture.neighbours.length > 500);
    let missing = 0;
    for (const n of fixture.neighbours) {
      const got = neighbours(n.order, BigInt(n.pix));
      assert.deepEqual(got.map(String), n.neighbours, `order ${n.order} pix ${n.pix}`);
      missing += got.filter((v) => v === -1n).length;
    }
    assert.ok(missing > 0, "the fixture should include the 3-pixel vertices");
  });

  test("boundaries within 1e-10 deg", () => {
    for (const b of fixture.boundaries) {
      const got = boundaries(b.order, BigInt(b.pix), b.step);
      assert.equal(got.length, b.ra.length);
      got.forEach((p, i) => {
        const tol = Math.abs(b.dec[i]!) > 89.999999 ? 1e-10 / Math.cos(b.dec[i]! * DEG) : 1e-10;
        assert.ok(
          raDiff(p.ra, b.ra[i]!) * Math.cos(b.dec[i]! * DEG) <= tol &&
            Math.abs(p.dec - b.dec[i]!) <= 1e-10,
          `order ${b.order} pix ${b.pix} point ${i}: got (${p.ra}, ${p.dec}), healpy (${b.ra[i]}, ${b.dec[i]})`,
        );
      });
    }
  });
});

describe("queryDisc against healpy query_disc", () => {
  for (const d of fixture.query_disc) {
    test(`${d.label}: r=${d.radius} deg at (${d.ra}, ${d.dec}), order ${d.order}`, () => {
      const mine = queryDisc(d.order, d.ra, d.dec, d.radius);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i - 1]! < mine[i]!, "sorted, unique");
      const mineSet = new Set(mine);
      // Superset of the pixels whose centre is in the disc. healpy decides that with cosines,
      // which cannot resolve angles below ~1e-7 rad: a pixel it lists but we do not must then
      // have its centre outside the disc by an accurate distance.
      for (const p of expandRuns(d.exclusive)) {
        if (mineSet.has(p)) continue;
        const c = pix2ang(d.order, p);
        const sep = angularSeparationDeg(d.ra, d.dec, c.ra, c.dec);
        assert.ok(
          sep > d.radius && d.radius < 1e-5,
          `pixel ${p} (centre at ${sep / d.radius} radii) from healpy's inclusive=False set is missing`,
        );
      }
      // Pixels healpy's inclusive=True adds and we do not must really miss the disc: no point
      // of their (densely sampled) border, nor their centre, is within the radius.
      for (const p of expandRuns(d.inclusive)) {
        if (mineSet.has(p)) continue;
        const c = pix2ang(d.order, p);
        let nearest = angularSeparationDeg(d.ra, d.dec, c.ra, c.dec);
        for (const q of boundaries(d.order, p, 32)) {
          nearest = Math.min(nearest, angularSeparationDeg(d.ra, d.dec, q.ra, q.dec));
        }
        assert.ok(nearest > d.radius, `pixel ${p} touches the disc (${nearest} <= ${d.radius})`);
      }
      assert.ok(
        mine.length <= 2 * d.inclusive_count + 16,
        `${mine.length} pixels vs healpy inclusive ${d.inclusive_count}`,
      );
      // Every pixel holding a point of the disc is returned.
      const rand = makeRandom(Math.round(d.ra * 1000 + d.dec * 10 + d.order));
      for (const onEdge of [false, true]) {
        const pts = randomInCap(d.ra, d.dec, d.radius, 2000, rand, onEdge);
        for (const pix of ang2pix(d.order, pts.ra, pts.dec)) {
          assert.ok(mineSet.has(pix), `pixel ${pix} of a point in the disc is missing`);
        }
      }
    });
  }
});

describe("coneKeyRanges covers every point of the cone", () => {
  const discs: Array<[number, number, number]> = [
    ...fixture.query_disc.map((d): [number, number, number] => [d.ra, d.dec, d.radius]),
    [10, 20, 1e-7],
    [0, 90, 1e-7],
    [0, -90, 3],
    [359.99999, 0, 0.01],
    [0, 41.8103148957786, 1 / 3600],
    [45, 0, 120],
    [300, -60, 180],
  ];
  for (const [ra0, dec0, radius] of discs) {
    test(`cone r=${radius} deg at (${ra0}, ${dec0})`, () => {
      const rand = makeRandom(Math.round(ra0 * 7 + dec0 * 13 + radius * 1000));
      const inside = randomInCap(ra0, dec0, radius, 3000, rand);
      const edge = randomInCap(ra0, dec0, radius, 500, rand, true);
      const keys = [...ang2pix(29, inside.ra, inside.dec), ...ang2pix(29, edge.ra, edge.dec)];
      for (const maxRanges of [1, 7, 1000]) {
        const ranges = coneKeyRanges(ra0, dec0, radius, { maxRanges });
        assertWellFormedRanges(ranges, maxRanges);
        for (const key of keys) {
          assert.ok(inRanges(ranges, key), `key ${key} not covered (maxRanges ${maxRanges})`);
        }
      }
      // The default cover is not absurdly larger than the cone (small cones are bounded below
      // by the order-29 pixel size).
      const ranges = coneKeyRanges(ra0, dec0, radius);
      let covered = 0n;
      for (const [lo, hi] of ranges) covered += hi - lo;
      const capFraction = (1 - Math.cos(Math.min(radius, 180) * DEG)) / 2;
      const coverFraction = Number(covered) / Number(npix(29));
      if (radius >= 1 / 60)
        assert.ok(
          coverFraction <= capFraction * 1.2 + 1e-9,
          `cover ${coverFraction / capFraction}x`,
        );
    });
  }
  test("the whole sky is one range", () => {
    assert.deepEqual(coneKeyRanges(12, 34, 180), [[0n, npix(29)]]);
  });
});

describe("queryBox and boxKeyRanges", () => {
  const boxes: Array<[number, number, number, number]> = [
    [10, 20, -5, 5],
    [350, 10, -5, 5],
    [0, 360, 80, 90],
    [100, 300, -90, -60],
    [10, 10.001, 0, 0.001],
    [44.99, 45.01, 41.8, 41.82],
    [200, 200, -30, 30],
    [-20, 20, 60, 89.5],
  ];
  for (const [raMin, raMax, decMin, decMax] of boxes) {
    test(`box ra ${raMin}..${raMax}, dec ${decMin}..${decMax}`, () => {
      const rand = makeRandom(Math.round(raMin * 3 + decMax * 11));
      const width = raMax - raMin >= 360 ? 360 : (((raMax - raMin) % 360) + 360) % 360;
      const ra: number[] = [];
      const dec: number[] = [];
      const push = (a: number, d: number) => {
        ra.push(a);
        dec.push(d);
      };
      for (let i = 0; i < 3000; i++)
        push(raMin + rand() * width, decMin + rand() * (decMax - decMin));
      for (let i = 0; i <= 200; i++) {
        const t = i / 200;
        push(raMin, decMin + t * (decMax - decMin));
        push(raMin + width, decMin + t * (decMax - decMin));
        push(raMin + t * width, decMin);
        push(raMin + t * width, decMax);
      }
      const area = width * (decMax - decMin);
      for (const order of area > 0 && area < 1 ? [3, 8, 13, 20] : [3, 8, 10]) {
        const pixels = new Set(queryBox(order, raMin, raMax, decMin, decMax));
        for (const p of ang2pix(order, ra, dec))
          assert.ok(pixels.has(p), `order ${order}: pixel ${p} missing`);
        if (order === 3) {
          // Not absurdly larger than the pixels the sample points fall in.
          const hit = new Set(ang2pix(order, ra, dec));
          assert.ok(
            pixels.size <= 2 * hit.size + 16,
            `${pixels.size} pixels, points hit ${hit.size}`,
          );
        }
      }
      const ranges = boxKeyRanges(raMin, raMax, decMin, decMax);
      assertWellFormedRanges(ranges, 1000);
      for (const key of ang2pix(29, ra, dec))
        assert.ok(inRanges(ranges, key), `key ${key} not covered`);
    });
  }
  test("a full-ra box from pole to pole is the whole sky", () => {
    assert.deepEqual(boxKeyRanges(0, 360, -90, 90), [[0n, npix(29)]]);
    assert.equal(queryBox(1, 0, 360, -90, 90).length, 48);
  });
});

describe("properties", () => {
  const rand = makeRandom(42);
  const { ra, dec } = randomSphere(20000, rand);
  const keys29 = ang2pix(29, ra, dec);

  test("degrade(ang2pix(29)) == ang2pix(k) for every order k", () => {
    for (let k = 0; k <= 29; k++) {
      const atK = ang2pix(k, ra, dec);
      for (let i = 0; i < ra.length; i++) {
        assert.equal(degrade(keys29[i]!, 29, k), atK[i], `order ${k} point ${i}`);
      }
    }
  });

  test("the centre of a point's pixel maps back to that pixel, at every order", () => {
    for (let k = 0; k <= 29; k++) {
      const atK = ang2pix(k, ra.subarray(0, 2000), dec.subarray(0, 2000));
      const cra: number[] = [];
      const cdec: number[] = [];
      for (const p of atK) {
        const c = pix2ang(k, p);
        cra.push(c.ra);
        cdec.push(c.dec);
      }
      assert.deepEqual(ang2pix(k, cra, cdec), atK, `order ${k}`);
    }
  });

  test("pixelRadiusBoundDeg bounds the distance from a pixel's centre to its points", () => {
    for (let k = 0; k <= 29; k++) {
      const bound = pixelRadiusBoundDeg(k);
      const atK = ang2pix(k, ra, dec);
      let worst = 0;
      for (let i = 0; i < ra.length; i++) {
        const c = pix2ang(k, atK[i]!);
        worst = Math.max(worst, angularSeparationDeg(ra[i]!, dec[i]!, c.ra, c.dec) / bound);
      }
      // Pixel borders near the worst corners (where a polar face meets the equator belt).
      const ns = 2n ** BigInt(k);
      for (const face of [0n, 3n, 4n, 8n]) {
        for (const pix of [face * ns * ns, face * ns * ns + ns * ns - 1n, face * ns * ns + 1n]) {
          const c = pix2ang(k, pix);
          for (const q of boundaries(k, pix, 16)) {
            worst = Math.max(worst, angularSeparationDeg(q.ra, q.dec, c.ra, c.dec) / bound);
          }
        }
      }
      assert.ok(worst <= 1, `order ${k}: distance ${worst} x bound`);
      assert.ok(worst > 0.7, `order ${k}: bound looks loose (${worst})`);
    }
  });

  test("neighbours are symmetric and adjacent", () => {
    for (const k of [0, 1, 3, 12, 29]) {
      const atK = ang2pix(k, ra.subarray(0, 300), dec.subarray(0, 300));
      for (const p of atK) {
        const nb = neighbours(k, p);
        assert.equal(nb.length, 8);
        for (const q of nb) {
          if (q === -1n) continue;
          assert.ok(
            neighbours(k, q).includes(p),
            `order ${k}: ${p} not a neighbour of its neighbour ${q}`,
          );
          const a = pix2ang(k, p);
          const b = pix2ang(k, q);
          assert.ok(angularSeparationDeg(a.ra, a.dec, b.ra, b.dec) <= 4 * pixelRadiusBoundDeg(k));
        }
      }
    }
  });

  test("exact poles, ra 0 and 360, and ra outside [0, 360)", () => {
    for (const k of [0, 5, 29]) {
      assert.deepEqual(
        ang2pix(k, [360, 720, -360], [12, 12, 12]),
        ang2pix(k, [0, 0, 0], [12, 12, 12]),
      );
      assert.deepEqual(ang2pix(k, [-90], [3]), ang2pix(k, [270], [3]));
      const north = ang2pix(k, [0, 90, 180, 270], [90, 90, 90, 90]);
      assert.deepEqual(
        [...north].map((p) => degrade(p, k, 0)),
        [0n, 1n, 2n, 3n],
      );
      const south = ang2pix(k, [0, 90, 180, 270], [-90, -90, -90, -90]);
      assert.deepEqual(
        [...south].map((p) => degrade(p, k, 0)),
        [8n, 9n, 10n, 11n],
      );
    }
  });
});

describe("bad input", () => {
  test("orders outside 0..29", () => {
    for (const order of [-1, 30, 1.5, Number.NaN]) {
      assert.throws(() => ang2pix(order, [0], [0]), {
        name: "UsageError",
        message: new RegExp(`order must be an integer in 0\\.\\.29, got ${order}`),
      });
      assert.throws(() => pix2ang(order, 0), UsageError);
      assert.throws(() => queryDisc(order, 0, 0, 1), UsageError);
    }
    assert.throws(() => ang2pixNumber(25, 0, 0), /order must be <= 24/);
  });

  test("non-finite ra, dec outside [-90, 90]", () => {
    assert.throws(
      () => ang2pix(3, [0, Number.POSITIVE_INFINITY], [0, 0]),
      /raDeg\[1\] must be a finite number, got Infinity/,
    );
    assert.throws(
      () => ang2pix(3, [0, 0], [0, 90.0000001]),
      /decDeg\[1\] must be a finite number in \[-90, 90\] degrees, got 90\.0000001/,
    );
    assert.throws(() => ang2pix(3, [0], [Number.NaN]), /decDeg\[0\].*got NaN/);
    assert.throws(() => ang2pix(3, [0, 1], [0]), /same length/);
    assert.throws(() => ang2pixNumber(3, Number.NaN, 0), /raDeg must be a finite number, got NaN/);
    assert.throws(() => ang2pixNumber(3, 0, -91), /decDeg.*got -91/);
    assert.throws(
      () => queryDisc(3, 0, 0, -1),
      /radiusDeg must be a finite number >= 0 degrees, got -1/,
    );
    assert.throws(() => coneKeyRanges(0, 100, 1), /decDeg.*got 100/);
    assert.throws(() => coneKeyRanges(0, 0, 1, { maxRanges: 0 }), /maxRanges/);
    assert.throws(() => queryBox(3, 0, 10, 5, 4), /decMinDeg \(5\) must be <= decMaxDeg \(4\)/);
    assert.throws(() => boxKeyRanges(0, Number.NaN, 0, 1), /raMaxDeg must be a finite number/);
  });

  test("pixel numbers out of range", () => {
    assert.throws(
      () => pix2ang(0, 12),
      /pix must be an integer in 0\.\.12\*4\^0-1 at order 0, got 12/,
    );
    assert.throws(() => pix2ang(29, -1n), UsageError);
    assert.throws(() => pix2ang(29, npix(29)), UsageError);
    assert.throws(() => neighbours(3, 0.5), UsageError);
    assert.throws(() => queryDisc(12, 0, 0, 30, { maxPixels: 1000 }), /maxPixels/);
  });
});

describe("throughput (reported, not asserted)", () => {
  test("ang2pix at order 29", (t) => {
    const n = 1_000_000;
    const { ra, dec } = randomSphere(n, makeRandom(7));
    const out = new BigInt64Array(n);
    const rates: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      ang2pix(29, ra, dec, out);
      rates.push(n / (performance.now() - t0) / 1e3);
    }
    rates.sort((a, b) => a - b);
    t.diagnostic(`ang2pix order 29: median ${rates[2]!.toFixed(1)} M points/s on one core`);
  });
});
