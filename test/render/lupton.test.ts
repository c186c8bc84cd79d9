// RGB composites against astropy's make_lupton_rgb and LinearMapping (fixtures from
// scripts/make_render_fixtures.py), and renderRgbPng decoded back by pngjs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import { isAstroPileError } from "../../src/core/errors.ts";
import {
  type ImageArray,
  makeLinearRgb,
  makeLuptonRgb,
  renderRgb,
  renderRgbPng,
} from "../../src/render/index.ts";
import { readFixture, typed } from "./fixtures.ts";

interface LuptonFixture {
  shape: [number, number];
  bands: Array<Array<number | string>>;
  cases: Array<{
    kind: "asinh" | "linear" | "asinh-percentile" | "linear-percentile";
    minimum: number | [number, number, number];
    stretch?: number;
    maximum?: number;
    Q?: number;
    pmin?: number;
    pmax?: number;
    rgb: number[];
    rgbFloat32?: number[];
  }>;
}

const fx = readFixture<LuptonFixture>("lupton.json");
const [r, g, b] = fx.bands.map((v) => typed("float64", v)) as [
  Float64Array,
  Float64Array,
  Float64Array,
];
const bands: [ImageArray, ImageArray, ImageArray] = [
  { data: r, shape: fx.shape },
  { data: g, shape: fx.shape },
  { data: b, shape: fx.shape },
];

test("makeLuptonRgb and makeLinearRgb equal astropy's bytes for float64 bands", () => {
  let n = 0;
  for (const c of fx.cases) {
    if (c.kind === "asinh") {
      const got = makeLuptonRgb(r, g, b, { minimum: c.minimum, stretch: c.stretch, Q: c.Q });
      assert.deepEqual([...got], c.rgb, JSON.stringify({ ...c, rgb: 0, rgbFloat32: 0 }));
      n++;
    } else if (c.kind === "linear") {
      const got = makeLinearRgb(r, g, b, { minimum: c.minimum, maximum: c.maximum! });
      assert.deepEqual([...got], c.rgb);
      n++;
    }
  }
  assert.equal(n, 6);
  // the fixture is not trivial: saturated pixels (the colour-keeping clip) and black ones
  const first = fx.cases[0]!.rgb;
  assert.ok(first.includes(255) && first.includes(0), "saturated and black pixels");
});

test("float32 bands: the renderer follows numpy's float32 arithmetic and equals astropy's bytes", () => {
  const r32 = Float32Array.from(r);
  const g32 = Float32Array.from(g);
  const b32 = Float32Array.from(b);
  let differ = 0;
  for (const c of fx.cases.filter((k) => k.kind === "linear"))
    assert.deepEqual(
      [...makeLinearRgb(r32, g32, b32, { minimum: c.minimum, maximum: c.maximum! })],
      c.rgbFloat32,
    );
  for (const c of fx.cases.filter((k) => k.kind === "asinh")) {
    const got = makeLuptonRgb(r32, g32, b32, { minimum: c.minimum, stretch: c.stretch, Q: c.Q });
    assert.deepEqual([...got], c.rgbFloat32);
    // float32 matters: the float64 computation of the same values differs somewhere
    const wide = makeLuptonRgb(
      Float64Array.from(r32),
      Float64Array.from(g32),
      Float64Array.from(b32),
      {
        minimum: c.minimum,
        stretch: c.stretch,
        Q: c.Q,
      },
    );
    wide.forEach((v, i) => {
      if (v !== c.rgbFloat32![i]) differ++;
    });
  }
  assert.ok(differ > 0, "float32 arithmetic exercised");
});

test("renderRgbPng: percentile limits of the mean intensity as the fixture derives them, through PNG", () => {
  let n = 0;
  for (const c of fx.cases) {
    if (c.kind !== "asinh-percentile" && c.kind !== "linear-percentile") continue;
    const stretch = c.kind === "asinh-percentile" ? "asinh" : "linear";
    const rendered = renderRgb(bands, {
      stretch,
      Q: c.Q,
      pmin: c.pmin,
      pmax: c.pmax,
      origin: "upper",
    });
    assert.equal(rendered.interval.vmin, c.minimum);
    assert.deepEqual([...rendered.data], c.rgb, `${c.kind} ${c.pmin} ${c.pmax}`);
    const png = PNG.sync.read(
      Buffer.from(
        renderRgbPng(bands, { stretch, Q: c.Q, pmin: c.pmin, pmax: c.pmax, origin: "upper" }),
      ),
    );
    const rgba = png.data;
    for (let i = 0; i < c.rgb.length / 3; i++) {
      assert.deepEqual(
        [rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2], rgba[i * 4 + 3]],
        [...c.rgb.slice(i * 3, i * 3 + 3), 255],
      );
    }
    n++;
  }
  assert.equal(n, 4);
});

test("renderRgb: a NaN in any band is transparent (or black), and left out of the limits", () => {
  const rn = Float64Array.from(r);
  rn[5] = Number.NaN;
  const withNan = renderRgb([{ data: rn, shape: fx.shape }, bands[1], bands[2]], {
    origin: "upper",
  });
  assert.equal(withNan.channels, 4);
  assert.deepEqual([...withNan.data.subarray(20, 24)], [0, 0, 0, 0]);
  assert.equal(withNan.data[4 * 4 + 3], 255);
  const black = renderRgb([{ data: rn, shape: fx.shape }, bands[1], bands[2]], {
    origin: "upper",
    bad: "low",
  });
  assert.equal(black.channels, 3);
  assert.deepEqual([...black.data.subarray(15, 18)], [0, 0, 0]);
});

test("bad RGB inputs: typed errors naming the parameter", () => {
  const check = (fn: () => unknown, parameter: string) =>
    assert.throws(
      fn,
      (e: unknown) =>
        isAstroPileError(e, "ASTROPILE_USAGE") &&
        (e as { parameter?: string }).parameter === parameter,
      parameter,
    );
  const small = { data: new Float32Array(4), shape: [2, 2] };
  check(() => renderRgbPng([bands[0], bands[1]] as never), "bands");
  check(() => renderRgbPng([bands[0], bands[1], small]), "bands[2]");
  check(() => renderRgbPng(bands, { stretch: "sqrt" as never }), "stretch");
  check(() => renderRgbPng(bands, { range: 0 }), "range");
  check(() => renderRgbPng(bands, { pmin: -3 }), "pmin");
  check(() => renderRgbPng(bands, { pmax: 300 }), "pmax");
  check(() => renderRgbPng(bands, { pmin: 90, pmax: 10 }), "pmin");
  check(() => renderRgbPng(bands, { mask: [1] }), "mask");
  check(() => renderRgbPng(bands, { Q: Number.NaN }), "Q");
  check(() => renderRgbPng(bands, { minimum: [0, 1] as never }), "minimum");
  check(() => makeLuptonRgb(r, g, new Float64Array(3)), "bands");
  check(() => makeLinearRgb(r, g, b, { minimum: 1, maximum: 1 }), "maximum");
});
