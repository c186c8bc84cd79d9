// TAN WCS against astropy.wcs (wcslib): pixel → sky to 1e-10 deg, sky → pixel to 1e-8 pixel;
// cutouts against astropy's Cutout2D.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FormatError, UsageError } from "../../src/core/errors.ts";
import { type FitsHeader, formatCard, parseHeader } from "../../src/formats/fits-header.ts";
import { cutout, TanWcs } from "../../src/formats/wcs.ts";
import { assertValues, type ExpectedValue, loadExpected } from "./expected.ts";

interface WcsCase {
  cards: string[];
  pixels0: [string, string][];
  sky: [string, string][];
  probe: [string, string][];
  probe_pixels0: [string, string][];
}

interface CutoutCase {
  ra: string;
  dec: string;
  size: number;
  data: ExpectedValue[];
  crpix: [string, string];
  origin_original: [number, number];
}

const expected = loadExpected<
  Record<string, WcsCase> & { cutouts: { image_shape: number[]; wcs: string; cases: CutoutCase[] } }
>("wcs.expected.json");
const cases = Object.entries(expected).filter(([name]) => name !== "cutouts") as [
  string,
  WcsCase,
][];

function headerOf(cards: string[]): FitsHeader {
  return parseHeader(`${cards.map((c) => c.padEnd(80)).join("")}END`);
}

function assertSky(actual: [number, number], e: [string, string], what: string): void {
  const lat = Number(e[1]);
  let dlng = actual[0] - Number(e[0]);
  dlng -= 360 * Math.round(dlng / 360);
  assert.ok(Math.abs(actual[1] - lat) <= 1e-10, `${what}: dec ${actual[1]} vs ${lat}`);
  assert.ok(
    Math.abs(dlng) * Math.cos((lat * Math.PI) / 180) <= 1e-10,
    `${what}: ra ${actual[0]} vs ${e[0]}`,
  );
  assert.ok(actual[0] >= 0 && actual[0] < 360, `${what}: ra in [0, 360)`);
}

describe("TAN WCS", () => {
  for (const [name, c] of cases) {
    test(`${name}: pixel ↔ sky as astropy.wcs`, () => {
      const wcs = TanWcs.fromHeader(headerOf(c.cards));
      // astropy gives world coordinates in the header's axis order; ours are always (lng, lat).
      if (name === "latfirst") {
        c.sky = c.sky.map(([a, b]) => [b, a]);
        c.probe = c.probe.map(([a, b]) => [b, a]);
      }
      c.pixels0.forEach(([x, y], k) => {
        assertSky(wcs.pixel0ToSky(Number(x), Number(y)), c.sky[k], `${name} pixel ${x},${y}`);
        // 1-based FITS convention: the same pixel is (x+1, y+1).
        assert.deepEqual(
          wcs.pixel1ToSky(Number(x) + 1, Number(y) + 1),
          wcs.pixel0ToSky(Number(x), Number(y)),
        );
      });
      c.probe.forEach(([ra, dec], k) => {
        const [px, py] = wcs.skyToPixel0(Number(ra), Number(dec));
        const [ex, ey] = c.probe_pixels0[k].map(Number);
        assert.ok(
          Math.abs(px - ex) <= 1e-8 && Math.abs(py - ey) <= 1e-8,
          `${name} sky ${ra},${dec}: (${px}, ${py}) vs (${ex}, ${ey})`,
        );
        const [p1x, p1y] = wcs.skyToPixel1(Number(ra), Number(dec));
        assert.ok(Math.abs(p1x - 1 - px) < 1e-9 && Math.abs(p1y - 1 - py) < 1e-9);
      });
      // Our own cards describe the same mapping.
      const again = TanWcs.fromHeader(
        parseHeader(`${wcs.toCards().flatMap(formatCard).join("")}END`),
      );
      for (const [x, y] of c.pixels0.slice(0, 10)) {
        const a = wcs.pixel0ToSky(Number(x), Number(y));
        const b = again.pixel0ToSky(Number(x), Number(y));
        assert.ok(
          Math.abs(a[0] - b[0]) < 1e-12 && Math.abs(a[1] - b[1]) < 1e-12,
          `${name} toCards`,
        );
      }
    });
  }

  test("points 90° or more from the tangent point have no pixel; unsupported headers are refused", () => {
    const wcs = TanWcs.fromHeader(headerOf(expected.cd.cards));
    assert.ok(wcs.skyToPixel0(150.1 + 180, -2.2).every(Number.isNaN));
    const sip = expected.cd.cards.map((c) =>
      c.replace("RA---TAN", "RA---TAN-SIP").replace("DEC--TAN", "DEC--TAN-SIP"),
    );
    assert.throws(() => TanWcs.fromHeader(headerOf(sip)), FormatError);
    const sin = expected.cd.cards.map((c) =>
      c.replace("RA---TAN", "RA---SIN").replace("DEC--TAN", "DEC--SIN"),
    );
    assert.throws(() => TanWcs.fromHeader(headerOf(sin)), /only the TAN projection/);
    assert.throws(
      () =>
        new TanWcs({
          crpix: [1, 1],
          crval: [0, 0],
          cd: [
            [1, 2],
            [2, 4],
          ],
        }),
      UsageError,
    );
  });
});

describe("cutout", () => {
  const { image_shape: shape, wcs: wcsName, cases: cutouts } = expected.cutouts;
  const wcs = TanWcs.fromHeader(headerOf(expected[wcsName].cards));
  const image = { data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => i), shape };

  test("stamps, NaN fill and shifted CRPIX as astropy's Cutout2D (partial mode)", () => {
    for (const c of cutouts) {
      const stamp = cutout(image, wcs, Number(c.ra), Number(c.dec), c.size);
      const what = `cutout at ${c.ra},${c.dec} size ${c.size}`;
      assert.deepEqual(stamp.shape, [c.size, c.size]);
      assertValues(stamp.data, c.data, what);
      assert.equal(stamp.filled, c.data.filter((v) => v === null).length, `${what}: filled`);
      // astropy's origin_original is where the overlap starts; ours may lie outside the image.
      assert.deepEqual(
        stamp.origin.map((v) => Math.max(0, v)),
        c.origin_original,
        `${what}: origin`,
      );
      assert.ok(
        Math.abs(stamp.wcs.crpix[0] - Number(c.crpix[0])) < 1e-12 &&
          Math.abs(stamp.wcs.crpix[1] - Number(c.crpix[1])) < 1e-12,
        `${what}: crpix`,
      );
      // The stamp's WCS puts the position where the big image's WCS does, shifted.
      const [sx, sy] = stamp.wcs.skyToPixel0(Number(c.ra), Number(c.dec));
      assert.ok(Math.abs(sx - stamp.position[0]) < 1e-8 && Math.abs(sy - stamp.position[1]) < 1e-8);
    }
  });

  test("multi-band images are cut band by band; integer images become floats", () => {
    const bands = {
      data: Int32Array.from({ length: 2 * 80 * 100 }, (_, i) => i),
      shape: [2, 80, 100],
    };
    const [ra, dec] = wcs.pixel0ToSky(50, 40);
    const stamp = cutout(bands, wcs, ra, dec, 3);
    assert.ok(stamp.data instanceof Float64Array);
    assert.deepEqual(stamp.shape, [2, 3, 3]);
    assert.equal(stamp.data[4], 40 * 100 + 50);
    assert.equal(stamp.data[9 + 4], 8000 + 40 * 100 + 50);
    assert.throws(() => cutout(bands, wcs, ra, dec, 0), UsageError);
  });
});
