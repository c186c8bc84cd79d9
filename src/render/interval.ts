// Display limits of an image: astropy.visualization's intervals, with numpy's percentile (method
// "linear"), so a picture rendered here has the limits astropy gives for the same pixels.
// Non-finite values (NaN, +-Inf) and masked pixels are left out, as astropy leaves out
// non-finite values.
import { percentParam, RenderParameterError } from "./limits.ts";

/** Pixel values: any typed array of numbers, or a plain number array. */
export type PixelValues = ArrayLike<number>;

/**
 * A pixel mask, one entry per pixel (true or non-zero set). What a set entry means is said by
 * the option next to it (`maskMeaning`): "good" for Multimodal Universe image masks (true = good
 * pixel), "bad" for spectrum masks (true = bad sample).
 */
export type PixelMask = ArrayLike<number | boolean>;

/** Which pixels count, for the intervals. */
export interface PixelSelection {
  /** Pixels to leave out or keep, see `maskMeaning`. */
  mask?: PixelMask;
  /** "good" (default): a set mask entry is a good pixel; "bad": a set entry is left out. */
  maskMeaning?: "good" | "bad";
}

/** The values mapped to the low and the high end of the display range (data units). */
export interface Interval {
  vmin: number;
  vmax: number;
}

/**
 * The good values (finite, not masked) as float64, and whether the input was float32 (numpy's
 * percentile of a float32 array takes the difference of its two neighbours in float32).
 */
function goodValues(values: PixelValues, sel: PixelSelection = {}): Float64Array {
  const { mask } = sel;
  if (mask && mask.length !== values.length)
    throw new RenderParameterError(
      "mask",
      `mask has ${mask.length} entries for ${values.length} pixels`,
    );
  const keepSet = (sel.maskMeaning ?? "good") === "good";
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (mask && Boolean(mask[i]) !== keepSet) continue;
    out[n++] = v;
  }
  return out.subarray(0, n);
}

/**
 * The k-th smallest value of `a` (0-based), partially reordering `a` in place so that no value
 * before index k is larger and none after it smaller (quickselect; falls back to a sort of the
 * remaining range when partitions stay unbalanced, so hostile data cannot make it quadratic).
 */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let rounds = 0;
  while (hi > lo) {
    if (++rounds > 64) {
      const part = a.subarray(lo, hi + 1).sort();
      return part[k - lo]!;
    }
    const mid = (lo + hi) >>> 1;
    // median of three as the pivot
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : Math.max(x, z)) : x < z ? x : Math.max(y, z);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** The smallest value of a[from..]. */
function minFrom(a: Float64Array, from: number): number {
  let m = a[from]!;
  for (let i = from + 1; i < a.length; i++) if (a[i]! < m) m = a[i]!;
  return m;
}

/** numpy's percentile (method "linear") of `sorted`-able `buf` (reordered in place). */
function percentileOf(buf: Float64Array, p: number, float32: boolean): number {
  const n = buf.length;
  const virtual = (n - 1) * (p / 100);
  let prev: number;
  let next: number;
  if (virtual >= n - 1) {
    prev = n - 1;
    next = n - 1;
  } else {
    prev = Math.floor(virtual);
    next = prev + 1;
  }
  const gamma = virtual - Math.floor(virtual);
  const a = select(buf, prev);
  // select leaves every value after `prev` at least a[prev]: the next order statistic is their
  // minimum (one pass instead of a second select).
  const b = next === prev ? a : minFrom(buf, next);
  // numpy's _lerp: the difference in the array's dtype, the rest in float64
  const diff = float32 ? Math.fround(b - a) : b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/**
 * Percentiles (0..100) of the good values, as `numpy.percentile(values, ps)` (method "linear")
 * computes them on the finite, unmasked values; for a Float32Array the result is numpy's for
 * the float32 array. NaN when no value is good.
 */
export function percentiles(
  values: PixelValues,
  ps: readonly number[],
  selection?: PixelSelection,
): number[] {
  for (const [i, p] of ps.entries()) percentParam(`percentiles[${i}]`, p);
  const buf = goodValues(values, selection);
  if (buf.length === 0) return ps.map(() => Number.NaN);
  const float32 = values instanceof Float32Array;
  return ps.map((p) => percentileOf(buf, p, float32));
}

/**
 * astropy's `AsymmetricPercentileInterval(lower, upper)`: the `lower` and `upper` percentiles
 * (0..100) of the finite, unmasked values. Both NaN when no value is good.
 */
export function asymmetricPercentileInterval(
  values: PixelValues,
  lower: number,
  upper: number,
  selection?: PixelSelection,
): Interval {
  percentParam("pmin", lower);
  percentParam("pmax", upper);
  if (lower > upper) throw new RenderParameterError("pmin", `pmin ${lower} is above pmax ${upper}`);
  const [vmin, vmax] = percentiles(values, [lower, upper], selection) as [number, number];
  return { vmin, vmax };
}

/**
 * astropy's `PercentileInterval(percentile)`: keeps the central `percentile` percent of the
 * good values, cutting (100 - percentile) / 2 percent at each end.
 */
export function percentileInterval(
  values: PixelValues,
  percentile: number,
  selection?: PixelSelection,
): Interval {
  percentParam("percentile", percentile);
  const lower = (100 - percentile) * 0.5;
  return asymmetricPercentileInterval(values, lower, 100 - lower, selection);
}

/**
 * astropy's `ManualInterval(vmin, vmax)`: the limits given; a missing one is the minimum
 * (maximum) of the finite, unmasked values.
 */
export function manualInterval(
  values: PixelValues,
  vmin?: number,
  vmax?: number,
  selection?: PixelSelection,
): Interval {
  if (vmin !== undefined && !Number.isFinite(vmin))
    throw new RenderParameterError("vmin", `vmin must be finite, got ${vmin}`);
  if (vmax !== undefined && !Number.isFinite(vmax))
    throw new RenderParameterError("vmax", `vmax must be finite, got ${vmax}`);
  if (vmin !== undefined && vmax !== undefined) return { vmin, vmax };
  const buf = goodValues(values, selection);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of buf) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (buf.length === 0) lo = hi = Number.NaN;
  return { vmin: vmin ?? lo, vmax: vmax ?? hi };
}
