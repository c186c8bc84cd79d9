// Stretches of astropy.visualization, applied as astropy's ImageNormalize(vmin, vmax, stretch,
// clip=True) applies them: (v - vmin) / (vmax - vmin), clipped to [0, 1], then stretched; all in
// float64, operation for operation as numpy does it.

import type { Interval, PixelMask, PixelValues } from "./interval.ts";
import { finiteParam, RenderParameterError } from "./limits.ts";

/** Stretch names: astropy's LinearStretch, SqrtStretch, LogStretch(a), AsinhStretch(a). */
export type StretchName = "linear" | "sqrt" | "log" | "asinh";

/** The stretches, for validating a request parameter. */
export const STRETCHES: readonly StretchName[] = ["linear", "sqrt", "log", "asinh"];

/** A stretch and its parameter. */
export interface Stretch {
  name: StretchName;
  /** asinh: astropy's `a` (default 0.1, linear below about a); log: `a` (default 1000). */
  a?: number;
}

/** The stretch's parameter with astropy's defaults, checked. */
function stretchParameter(s: Stretch): number {
  if (s.name === "asinh" || s.name === "log") {
    const a = finiteParam("a", s.a ?? (s.name === "asinh" ? 0.1 : 1000));
    if (a <= 0) throw new RenderParameterError("a", `stretch parameter a must be > 0, got ${a}`);
    return a;
  }
  return 0;
}

/** A stretch name or spec, checked (a RenderParameterError naming `stretch` otherwise). */
export function toStretch(s: StretchName | Stretch | undefined, fallback: StretchName): Stretch {
  const spec = typeof s === "string" ? { name: s } : (s ?? { name: fallback });
  if (!STRETCHES.includes(spec.name))
    throw new RenderParameterError(
      "stretch",
      `unknown stretch ${JSON.stringify(spec.name)}; one of ${STRETCHES.join(", ")}`,
    );
  stretchParameter(spec);
  return spec;
}

/**
 * The stretch as a function of a value in [0, 1] (as astropy's stretch classes compute it; the
 * result is in [0, 1] for inputs in [0, 1]).
 */
export function stretchFunction(stretch: StretchName | Stretch): (x: number) => number {
  const s = toStretch(stretch, "linear");
  const a = stretchParameter(s);
  switch (s.name) {
    case "linear":
      return (x) => x;
    case "sqrt":
      return Math.sqrt;
    case "log": {
      const norm = Math.log(a + 1);
      return (x) => Math.log(x * a + 1) / norm;
    }
    case "asinh": {
      const norm = Math.asinh(1 / a);
      return (x) => Math.asinh(x / a) / norm;
    }
  }
}

/** Options of {@link normalizePixels}. */
export interface NormalizeOptions {
  /** Pixels left out (NaN in the result), see `maskMeaning`. */
  mask?: PixelMask;
  /** "good" (default): a set mask entry is a good pixel; "bad": a set entry is a bad one. */
  maskMeaning?: "good" | "bad";
}

/**
 * astropy's `ImageNormalize(vmin=, vmax=, stretch=, clip=True)(values)`: each value scaled to
 * [0, 1] between the limits, clipped, then stretched, in float64. Non-finite and masked values
 * come out as NaN (astropy clips +-Inf to the ends instead; here they count as bad pixels). When
 * vmax equals vmin every good value comes out 0 (astropy would divide by zero).
 */
export function normalizePixels(
  values: PixelValues,
  interval: Interval,
  stretch: StretchName | Stretch,
  options: NormalizeOptions = {},
): Float64Array {
  const { vmin, vmax } = interval;
  const s = toStretch(stretch, "linear");
  const a = stretchParameter(s);
  const { mask } = options;
  if (mask && mask.length !== values.length)
    throw new RenderParameterError(
      "mask",
      `mask has ${mask.length} entries for ${values.length} pixels`,
    );
  const keepSet = (options.maskMeaning ?? "good") === "good";
  const range = vmax - vmin;
  const flat = !(range !== 0 && Number.isFinite(range) && Number.isFinite(vmin));
  const kind = s.name === "linear" ? 0 : s.name === "sqrt" ? 1 : s.name === "log" ? 2 : 3;
  const norm = kind === 2 ? Math.log(a + 1) : kind === 3 ? Math.asinh(1 / a) : 1;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || (mask && Boolean(mask[i]) !== keepSet)) {
      out[i] = Number.NaN;
      continue;
    }
    let x = flat ? 0 : (v - vmin) / range;
    x = x < 0 ? 0 : Math.min(x, 1);
    if (kind === 1) x = Math.sqrt(x);
    else if (kind === 2) x = Math.log(x * a + 1) / norm;
    else if (kind === 3) x = Math.asinh(x / a) / norm;
    out[i] = x;
  }
  return out;
}
