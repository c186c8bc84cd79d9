// Single-band pictures against astropy's ImageNormalize(interval, stretch, clip=True) and the
// matplotlib colormap (fixtures from scripts/make_render_fixtures.py), decoded back from PNG by
// pngjs; IFU slices; bad inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import { isAstroPileError } from "../../src/core/errors.ts";
import {
  type ImageRenderOptions,
  ifuSlice,
  normalizePixels,
  renderIfuSlicePng,
  renderImage,
  renderImagePng,
  type StretchName,
} from "../../src/render/index.ts";
import { readFixture, toNumbers, typed } from "./fixtures.ts";

interface ImageFixture {
  images: Array<{
    dtype: string;
    shape: [number, number];
    data: Array<number | string>;
    mask: number[];
    cases: Array<{
      interval: "asymmetric" | "manual";
      limits: [number, number];
      stretch: string;
      cmap: "gray" | "viridis" | "magma" | "inferno";
      vmin: number;
      vmax: number;
      normalized: Array<number | string>;
      rgba: number[];
    }>;
  }>;
}

const fx = readFixture<ImageFixture>("images.json");

function stretchOf(name: string) {
  return name === "asinh0.02" ? { name: "asinh" as const, a: 0.02 } : (name as StretchName);
}

test("renderImage equals astropy ImageNormalize(clip=True) + matplotlib colormap, byte for byte", () => {
  let cases = 0;
  let maxDiff = 0;
  for (const img of fx.images) {
    const data = typed(img.dtype, img.data);
    const [h, w] = img.shape;
    for (const c of img.cases) {
      const options: ImageRenderOptions = {
        stretch: stretchOf(c.stretch),
        cmap: c.cmap,
        mask: img.mask,
        origin: "upper", // numpy order, as the fixture
        ...(c.interval === "asymmetric"
          ? { pmin: c.limits[0], pmax: c.limits[1] }
          : { vmin: c.limits[0], vmax: c.limits[1] }),
      };
      const label = `${img.dtype} ${c.interval} ${c.limits} ${c.stretch} ${c.cmap}`;
      const r = renderImage({ data, shape: img.shape }, options);
      assert.deepEqual([r.interval.vmin, r.interval.vmax], [c.vmin, c.vmax], label);
      // the stretched values: equal up to the last bits of libm's asinh/log
      const norm = normalizePixels(data, r.interval, stretchOf(c.stretch), { mask: img.mask });
      toNumbers(c.normalized).forEach((want, i) => {
        if (Number.isNaN(want))
          assert.ok(Number.isNaN(norm[i]), `${label} pixel ${i} should be bad`);
        else maxDiff = Math.max(maxDiff, Math.abs(norm[i]! - want));
      });
      // the picture, through the PNG and an independent decoder
      const png = PNG.sync.read(Buffer.from(renderImagePng({ data, shape: img.shape }, options)));
      assert.equal(png.width, w);
      assert.equal(png.height, h);
      assert.deepEqual([...png.data], c.rgba, label);
      assert.equal(r.channels, c.cmap === "gray" ? 2 : 4, "bad pixels present: an alpha channel");
      cases++;
    }
  }
  assert.equal(cases, 14);
  assert.ok(maxDiff < 1e-15, `stretched values differ from astropy's by ${maxDiff}`);
});

test("origin lower flips rows; bad pixels drawn low when asked; no alpha without bad pixels", () => {
  const img = fx.images[0]!;
  const data = typed(img.dtype, img.data);
  const [h, w] = img.shape;
  const upper = renderImage(
    { data, shape: img.shape },
    { origin: "upper", cmap: "viridis", mask: img.mask },
  );
  const lower = renderImage({ data, shape: img.shape }, { cmap: "viridis", mask: img.mask });
  const rowBytes = w * upper.channels;
  for (let y = 0; y < h; y++)
    assert.deepEqual(
      lower.data.subarray(y * rowBytes, (y + 1) * rowBytes),
      upper.data.subarray((h - 1 - y) * rowBytes, (h - y) * rowBytes),
    );
  const low = renderImage(
    { data, shape: img.shape },
    { origin: "upper", cmap: "viridis", mask: img.mask, bad: "low" },
  );
  assert.equal(low.channels, 3);
  // pixel (5, 7) is NaN: the low end of viridis (68, 1, 84)
  const at = (5 * w + 7) * 3;
  assert.deepEqual([...low.data.subarray(at, at + 3)], [68, 1, 84]);
  const clean = Float64Array.from(data, (v) => (Number.isFinite(v) ? v : 0));
  const gray = renderImage({ data: clean, shape: img.shape });
  assert.equal(gray.channels, 1);
  const decoded = PNG.sync.read(Buffer.from(renderImagePng({ data: clean, shape: img.shape })));
  for (let i = 0; i < h * w; i++) assert.equal(decoded.data[i * 4], gray.data[i]);
});

test("an all-bad image renders (transparent), a flat image renders at the low end", () => {
  const nan = renderImage(
    { data: new Float32Array(6).fill(Number.NaN), shape: [2, 3] },
    { cmap: "magma" },
  );
  assert.equal(nan.channels, 4);
  assert.ok(
    nan.data.every((b) => b === 0),
    "all transparent",
  );
  const flat = renderImage({ data: new Float32Array(6).fill(3), shape: [2, 3] }, { cmap: "magma" });
  assert.deepEqual([flat.interval.vmin, flat.interval.vmax], [3, 3]);
  assert.deepEqual([...flat.data.subarray(0, 3)], [0, 0, 3]); // magma's first entry
});

test("IFU slices: one channel of a [y, x, lambda] cube and of a [lambda, y, x] cube, by index or wavelength", () => {
  const ny = 4;
  const nx = 5;
  const nl = 6;
  const yxl = new Float32Array(ny * nx * nl);
  const lyx = new Float32Array(ny * nx * nl);
  for (let y = 0; y < ny; y++)
    for (let x = 0; x < nx; x++)
      for (let l = 0; l < nl; l++) {
        const v = 100 * l + 10 * y + x;
        yxl[(y * nx + x) * nl + l] = v;
        lyx[(l * ny + y) * nx + x] = v;
      }
  const lambda = Float64Array.from({ length: nl }, (_, k) => 3600 + 2 * k);
  const a = ifuSlice({ data: yxl, shape: [ny, nx, nl] }, { channel: 3 });
  const b = ifuSlice(
    { data: lyx, shape: [nl, ny, nx] },
    { layout: "lyx", wavelength: 3606.4, lambda },
  );
  assert.equal(b.channel, 3);
  assert.deepEqual(a.shape, [ny, nx]);
  assert.deepEqual([...a.data], [...b.data]);
  assert.equal(a.data[2 * nx + 1], 300 + 20 + 1);
  const png = renderIfuSlicePng(
    { data: yxl, shape: [ny, nx, nl] },
    { channel: 3, stretch: "linear", pmin: 0, pmax: 100, origin: "upper" },
  );
  const decoded = PNG.sync.read(Buffer.from(png));
  assert.equal(decoded.width, nx);
  // linear from the slice's min (300) to max (334): pixel (y=2, x=1) = 21/34 of the way
  const idx = Math.floor((21 / 34) * 256);
  assert.equal(decoded.data[(2 * nx + 1) * 4], idx === 256 ? 255 : idx);
});

test("bad images, options and cubes: typed errors naming the parameter", () => {
  const image = { data: new Float32Array(12), shape: [3, 4] };
  const check = (fn: () => unknown, parameter: string, code = "ASTROPILE_USAGE") =>
    assert.throws(
      fn,
      (e: unknown) =>
        isAstroPileError(e, code) && (e as { parameter?: string }).parameter === parameter,
      parameter,
    );
  check(() => renderImagePng({ data: new Float32Array(11), shape: [3, 4] }), "image.data");
  check(() => renderImagePng({ data: new Float32Array(12), shape: [12] }), "image.shape");
  check(() => renderImagePng({ data: new Float32Array(12), shape: [3, -4] }), "image.shape");
  check(() => renderImagePng({ data: new Float32Array(12), shape: [3, 4.5] }), "image.shape");
  check(
    () => renderImagePng({ data: new BigInt64Array(12) as never, shape: [3, 4] }),
    "image.data",
  );
  check(
    () => renderImagePng({ data: [], shape: [100_000, 100_000] }),
    "image",
    "ASTROPILE_MEMORY_BUDGET",
  );
  check(() => renderImagePng(image, { stretch: "cubic" as never }), "stretch");
  check(() => renderImagePng(image, { stretch: { name: "asinh", a: 0 } }), "a");
  check(() => renderImagePng(image, { cmap: "jet" as never }), "cmap");
  check(() => renderImagePng(image, { pmin: 50, pmax: 10 }), "pmin");
  check(() => renderImagePng(image, { pmax: Number.NaN }), "pmax");
  check(() => renderImagePng(image, { vmin: Number.POSITIVE_INFINITY, vmax: 1 }), "vmin");
  check(() => renderImagePng(image, { mask: [1, 0] }), "mask");
  check(() => renderImagePng(image, { bad: "red" as never }), "bad");
  check(() => renderImagePng(image, { origin: "left" as never }), "origin");
  check(() => renderImagePng(image, { compression: 12 }), "compression");
  check(() => renderImagePng(image, { filter: "best" as never }), "filter");
  const cube = { data: new Float32Array(24), shape: [2, 3, 4] };
  check(() => ifuSlice(cube, {}), "channel");
  check(() => ifuSlice(cube, { channel: 4 }), "channel");
  check(() => ifuSlice(cube, { channel: -1 }), "channel");
  check(() => ifuSlice(cube, { wavelength: 5000 }), "lambda");
  check(
    () => ifuSlice(cube, { wavelength: 5000, lambda: [1, 2, 3, Number.NaN].map(() => Number.NaN) }),
    "lambda",
  );
  check(
    () => ifuSlice({ data: new Float32Array(23), shape: [2, 3, 4] }, { channel: 0 }),
    "cube.data",
  );
  check(
    () => ifuSlice({ data: new Float32Array(24), shape: [6, 4] }, { channel: 0 }),
    "cube.shape",
  );
  check(() => ifuSlice(cube, { channel: 0, layout: "xyl" as never }), "layout");
});
