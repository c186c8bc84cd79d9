// Colour composites of three bands after Lupton et al. (2004, PASP 116, 133), operation for
// operation as astropy.visualization.lupton_rgb computes them (AsinhMapping for
// make_lupton_rgb, LinearMapping), in numpy's precision (see makeLuptonRgb): the bands are scaled by one factor per pixel
// computed from their mean intensity, so colours do not change with brightness.

import type { PixelValues } from "./interval.ts";
import { finiteParam, RenderParameterError } from "./limits.ts";

/** `minimum` of astropy's mappings: one level for the three bands, or one per band (r, g, b). */
export type RgbMinimum = number | readonly [number, number, number];

/** Options of {@link makeLuptonRgb}: astropy's `make_lupton_rgb(minimum, stretch, Q)`. */
export interface LuptonOptions {
  /** Intensity mapped to black, data units (default 0). */
  minimum?: RgbMinimum;
  /** The linear stretch: intensity range above minimum shown before softening (default 5). */
  stretch?: number;
  /** The asinh softening parameter (default 8; 0 is linear as astropy makes it, Q = 0.1). */
  Q?: number;
}

/** Options of {@link makeLinearRgb}: astropy's `LinearMapping(minimum, maximum)`. */
export interface LinearRgbOptions {
  /** Intensity mapped to black, data units. */
  minimum: RgbMinimum;
  /** Intensity mapped to white, data units (must differ from minimum). */
  maximum: number;
}

const PIXMAX = 255;

function minima(m: RgbMinimum | undefined): [number, number, number] {
  if (m === undefined) return [0, 0, 0];
  if (typeof m === "number") {
    finiteParam("minimum", m);
    return [m, m, m];
  }
  if (!Array.isArray(m) || m.length !== 3)
    throw new RenderParameterError("minimum", "minimum must be a number or 3 numbers (r, g, b)");
  for (const [i, v] of m.entries()) finiteParam(`minimum[${i}]`, v);
  return [m[0], m[1], m[2]];
}

function checkBands(r: PixelValues, g: PixelValues, b: PixelValues): number {
  if (g.length !== r.length || b.length !== r.length)
    throw new RenderParameterError(
      "bands",
      `the three bands differ in size: ${r.length}, ${g.length}, ${b.length} pixels`,
    );
  return r.length;
}

/**
 * The per-pixel scale of astropy's Mapping._convert_images_to_uint8, then the clipping to 255
 * of the brightest band; `fac(I, round)` is the mapping's map_intensity_to_uint8. When all three
 * bands are Float32Array, every step is rounded to float32 as numpy computes on float32 arrays
 * (a Python float or numpy scalar operand is cast to float32 first). Pixels where a band is not
 * finite come out black (astropy's output there depends on the platform's float-to-uint8 cast).
 */
function convert(
  r: PixelValues,
  g: PixelValues,
  b: PixelValues,
  minimum: [number, number, number],
  fac: (intensity: number, round: (x: number) => number) => number,
): Uint8Array {
  const n = checkBands(r, g, b);
  const f32 = r instanceof Float32Array && g instanceof Float32Array && b instanceof Float32Array;
  const round = f32 ? Math.fround : (x: number) => x;
  const out = new Uint8Array(n * 3);
  const [m0, m1, m2] = minimum.map(round) as [number, number, number];
  const third = round(3.0);
  for (let i = 0; i < n; i++) {
    const ri = round(r[i]! - m0);
    const gi = round(g[i]! - m1);
    const bi = round(b[i]! - m2);
    const intensity = round(round(round(ri + gi) + bi) / third);
    const f = fac(intensity, round);
    let r0 = round(ri * f);
    let g0 = round(gi * f);
    let b0 = round(bi * f);
    if (!(Number.isFinite(r0) && Number.isFinite(g0) && Number.isFinite(b0))) continue;
    if (r0 < 0) r0 = 0;
    if (g0 < 0) g0 = 0;
    if (b0 < 0) b0 = 0;
    // the brightest band at or above 255 scales all three down to keep the colour
    const top = r0 > g0 ? Math.max(r0, b0) : Math.max(g0, b0);
    const at = i * 3;
    if (top >= PIXMAX) {
      out[at] = toUint8(round(round(r0 * PIXMAX) / top));
      out[at + 1] = toUint8(round(round(g0 * PIXMAX) / top));
      out[at + 2] = toUint8(round(round(b0 * PIXMAX) / top));
    } else {
      out[at] = toUint8(r0);
      out[at + 1] = toUint8(g0);
      out[at + 2] = toUint8(b0);
    }
  }
  return out;
}

/** numpy's astype(uint8) of a value in [0, 255]: truncation. */
function toUint8(v: number): number {
  return v >= PIXMAX ? PIXMAX : Math.trunc(v);
}

/**
 * astropy's `make_lupton_rgb(r, g, b, minimum, stretch, Q)`: an asinh composite, 3 bytes per
 * pixel (r, g, b) in the bands' pixel order (row-major, row 0 first, as numpy returns it).
 * Computed as numpy computes it: in float64 for float64 bands, rounded to float32 at every step
 * when all three bands are Float32Array (numpy's float32 arithmetic); the bytes equal astropy's
 * (the one libm function, asinh, is taken in float64 and rounded, which can differ from the
 * platform's float32 asinhf in the last bit: at most 1 DN, not seen on the test fixtures).
 * Other integer or mixed inputs are taken as float64. Pixels with a non-finite band are black.
 */
export function makeLuptonRgb(
  r: PixelValues,
  g: PixelValues,
  b: PixelValues,
  options: LuptonOptions = {},
): Uint8Array {
  const minimum = minima(options.minimum);
  const stretch = finiteParam("stretch", options.stretch ?? 5);
  if (stretch <= 0)
    throw new RenderParameterError("stretch", `stretch must be > 0, got ${stretch}`);
  let q = finiteParam("Q", options.Q ?? 8);
  if (Math.abs(q) < 1 / 2 ** 23) q = 0.1;
  else if (q > 1e10) q = 1e10;
  const frac = 0.1;
  const slope = (frac * PIXMAX) / Math.asinh(frac * q);
  const soften = q / stretch;
  return convert(r, g, b, minimum, (i, round) => {
    if (i <= 0) return 0;
    const sinh = round(Math.asinh(round(i * round(soften))));
    return round(round(sinh * round(slope)) / i);
  });
}

/**
 * astropy's `LinearMapping(minimum, maximum).make_rgb_image(r, g, b)`: a linear composite that
 * keeps colours (intensity `maximum` and above is white-clipped by the brightest band). Same
 * layout and precision as {@link makeLuptonRgb}.
 */
export function makeLinearRgb(
  r: PixelValues,
  g: PixelValues,
  b: PixelValues,
  options: LinearRgbOptions,
): Uint8Array {
  const minimum = minima(options.minimum);
  const maximum = finiteParam("maximum", options.maximum);
  const range = maximum - minimum[0];
  if (range === 0)
    throw new RenderParameterError("maximum", "minimum and maximum must not be equal");
  return convert(r, g, b, minimum, (i, round) =>
    i <= 0 ? 0 : round(i >= round(range) ? PIXMAX / i : PIXMAX / range),
  );
}
