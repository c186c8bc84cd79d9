// A spectrum as a line plot raster: the flux against wavelength in an axes box with ticks and
// numbers, its 1-sigma band from ivar, masked samples shaded, spectral lines marked at
// (1 + z) * rest wavelength. No DOM, no canvas: pixels drawn here, then encoded as PNG.
import { drawText, textHeight, textWidth } from "./font.ts";
import type { PixelMask, PixelValues } from "./interval.ts";
import {
  finiteParam,
  intParam,
  MAX_PLOT_SIDE,
  MAX_SPECTRUM_SAMPLES,
  MIN_PLOT_SIDE,
  RenderParameterError,
  RenderTooLargeError,
} from "./limits.ts";
import { SPECTRAL_LINES, type SpectralLine } from "./lines.ts";
import { encodePng, type PngOptions, type Raster } from "./png.ts";

/** A 1-D spectrum, as the data service's spectrum.json gives it. */
export interface SpectrumData {
  /** Wavelength of each sample (Å, vacuum, for the line markers); samples with lambda <= 0 or not finite are padding and skipped. */
  lambda: PixelValues;
  /** Flux of each sample (any unit; the y axis is numbered in it). */
  flux: PixelValues;
  /** Inverse variance of the flux (1 / unit²); samples with ivar <= 0 are bad. Draws the ±1 sigma band. */
  ivar?: PixelValues;
  /** One entry per sample; a set entry is a bad sample (Multimodal Universe spectrum masks: true = bad). */
  mask?: PixelMask;
  /** Redshift: lines are marked at (1 + z) * rest wavelength. None marked without it. */
  z?: number | null;
  /** Lines to mark, when the options do not say (see {@link SpectrumPlotOptions.lines}). */
  lines?: readonly SpectralLine[] | boolean;
}

/** Options of {@link drawSpectrum}. */
export interface SpectrumPlotOptions extends PngOptions {
  /** Picture width in pixels (default 800, 32..4096). */
  width?: number;
  /** Picture height in pixels (default 300, 32..4096). */
  height?: number;
  /** Lines to mark (default {@link SPECTRAL_LINES}; `false` or `[]` for none). Need `z`. */
  lines?: readonly SpectralLine[] | boolean;
  /** Flux range of the y axis [low, high] (default the good samples' min and max, 5% margin, widened by the ±1 sigma band only if it fits). */
  fluxRange?: readonly [number, number];
  /** Wavelength range of the x axis [low, high] (default the samples' range). */
  lambdaRange?: readonly [number, number];
  /** Draw the ±1 sigma band when ivar is given (default true). */
  errorBand?: boolean;
  /** Draw tick numbers (default true; needs a picture at least 120x80). */
  labels?: boolean;
}

/** A drawn spectrum plot: the RGB raster and where things are in it. */
export interface SpectrumPlot extends Raster {
  /** The axes box, pixel coordinates (inclusive) of its frame: x from left to right, y from top to bottom (rows, top row 0). */
  box: { left: number; right: number; top: number; bottom: number };
  /** Wavelengths at the left and right inner edges of the box. */
  lambdaRange: [number, number];
  /** Flux at the bottom and top inner edges of the box. */
  fluxRange: [number, number];
  /** Column (fractional) of a wavelength. */
  xOf(lambda: number): number;
  /** Row (fractional) of a flux. */
  yOf(flux: number): number;
  /** The lines marked: name, observed wavelength and column. */
  marked: Array<{ name: string; kind: SpectralLine["kind"]; observed: number; x: number }>;
}

/** Colours (RGB) of the plot: matplotlib's tab10 blue for the curve, as its defaults. */
export const SPECTRUM_COLORS = {
  background: [255, 255, 255],
  frame: [40, 40, 40],
  curve: [31, 119, 180],
  band: [198, 219, 239],
  masked: [225, 225, 225],
  zero: [160, 160, 160],
  emission: [214, 39, 40],
  absorption: [44, 160, 44],
  text: [40, 40, 40],
} as const satisfies Record<string, readonly [number, number, number]>;

type Rgb = readonly [number, number, number];

/** A 1-2-5 tick step giving about `target` intervals over `span`. */
function tickStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

function tickLabel(v: number, step: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const digits = Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / a)) - 1));
    return v.toExponential(digits).replace("e+", "e");
  }
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function checkSamples(name: string, a: PixelValues | PixelMask | undefined, n: number): void {
  if (a === undefined) return;
  if (typeof a?.length !== "number" || a.length !== n)
    throw new RenderParameterError(name, `${name} has ${a?.length} samples, lambda has ${n}`);
}

/** Draws a spectrum (see {@link SpectrumPlotOptions}); throws a RenderParameterError naming the parameter at fault. */
export function drawSpectrum(
  spectrum: SpectrumData,
  options: SpectrumPlotOptions = {},
): SpectrumPlot {
  const width = intParam("width", options.width ?? 800, MIN_PLOT_SIDE, MAX_PLOT_SIDE, true);
  const height = intParam("height", options.height ?? 300, MIN_PLOT_SIDE, MAX_PLOT_SIDE, true);
  const { lambda, flux, ivar, mask } = spectrum ?? ({} as SpectrumData);
  if (!lambda || typeof lambda.length !== "number")
    throw new RenderParameterError("lambda", "lambda must be an array of wavelengths");
  const n = lambda.length;
  if (n > MAX_SPECTRUM_SAMPLES)
    throw new RenderTooLargeError("lambda", `${n} samples are more than ${MAX_SPECTRUM_SAMPLES}`);
  if (!flux) throw new RenderParameterError("flux", "flux must be an array");
  checkSamples("flux", flux, n);
  checkSamples("ivar", ivar, n);
  checkSamples("mask", mask, n);
  const z = spectrum.z ?? undefined;
  if (z !== undefined && (finiteParam("z", z) <= -1 || z > 20))
    throw new RenderParameterError("z", `z must be in (-1, 20], got ${z}`);

  // which samples: used (a real wavelength), good (also finite flux, not masked, ivar > 0)
  const used = new Uint8Array(n);
  const good = new Uint8Array(n);
  let lMin = Number.POSITIVE_INFINITY;
  let lMax = Number.NEGATIVE_INFINITY;
  let fMin = Number.POSITIVE_INFINITY;
  let fMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const l = lambda[i]!;
    if (!(Number.isFinite(l) && l > 0)) continue;
    used[i] = 1;
    if (l < lMin) lMin = l;
    if (l > lMax) lMax = l;
    const f = flux[i]!;
    const ok =
      Number.isFinite(f) &&
      !(mask && Boolean(mask[i])) &&
      !(ivar && !(ivar[i]! > 0 && Number.isFinite(ivar[i]!)));
    if (!ok) continue;
    good[i] = 1;
    if (f < fMin) fMin = f;
    if (f > fMax) fMax = f;
  }
  if (options.lambdaRange) {
    const [a, b] = options.lambdaRange;
    finiteParam("lambdaRange", a);
    finiteParam("lambdaRange", b);
    if (!(b > a))
      throw new RenderParameterError(
        "lambdaRange",
        "lambdaRange must be [low, high] with low < high",
      );
    lMin = a;
    lMax = b;
  }
  if (!Number.isFinite(lMin)) {
    lMin = 0;
    lMax = 1;
  } else if (lMax === lMin) {
    lMin -= 1;
    lMax += 1;
  }
  if (options.fluxRange) {
    const [a, b] = options.fluxRange;
    finiteParam("fluxRange", a);
    finiteParam("fluxRange", b);
    if (!(b > a))
      throw new RenderParameterError("fluxRange", "fluxRange must be [low, high] with low < high");
    fMin = a;
    fMax = b;
  } else {
    if (!Number.isFinite(fMin)) {
      fMin = 0;
      fMax = 1;
    } else if (fMax === fMin) {
      const d = Math.abs(fMin) * 0.1 || 1;
      fMin -= d;
      fMax += d;
    }
    const pad = (fMax - fMin) * 0.05;
    fMin -= pad;
    fMax += pad;
  }

  // layout: numbers left of and below the box when there is room
  const scale = Math.max(1, Math.floor(Math.min(width, height) / 300));
  const labels = (options.labels ?? true) && width >= 120 && height >= 80;
  const yStep = tickStep(fMax - fMin, Math.max(2, Math.floor(height / (40 * scale))));
  const xStep = tickStep(lMax - lMin, Math.max(2, Math.floor(width / (90 * scale))));
  const yTicks: number[] = [];
  for (let v = Math.ceil(fMin / yStep) * yStep; v <= fMax; v += yStep) yTicks.push(v);
  const xTicks: number[] = [];
  for (let v = Math.ceil(lMin / xStep) * xStep; v <= lMax; v += xStep) xTicks.push(v);
  const yLabelWidth = labels
    ? Math.max(...yTicks.map((v) => textWidth(tickLabel(v, yStep), scale)), 0)
    : 0;
  const left = labels ? yLabelWidth + 4 * scale + 2 : 2;
  const right = width - 1 - (labels ? 3 * scale + 6 : 2);
  const top = 3 * scale + 2;
  const bottom = height - 1 - (labels ? textHeight(scale) + 5 * scale : 2);
  if (right - left < 8 || bottom - top < 8)
    throw new RenderParameterError("width", `a ${width}x${height} plot has no room for the axes`);

  const x0 = left + 1;
  const x1 = right - 1;
  const y0 = top + 1;
  const y1 = bottom - 1;
  const xOf = (l: number) => x0 + ((l - lMin) / (lMax - lMin)) * (x1 - x0);
  const yOf = (f: number) => y1 - ((f - fMin) / (fMax - fMin)) * (y1 - y0);

  const data = new Uint8Array(width * height * 3).fill(255);
  const paint = (x: number, y: number, c: Rgb) => {
    const at = (y * width + x) * 3;
    data[at] = c[0];
    data[at + 1] = c[1];
    data[at + 2] = c[2];
  };
  const inside = (x: number, y: number) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
  const column = (x: number, ya: number, yb: number, c: Rgb) => {
    if (x < x0 || x > x1) return;
    let a = Math.round(Math.min(ya, yb));
    let b = Math.round(Math.max(ya, yb));
    if (b < y0 || a > y1) return;
    a = Math.max(a, y0);
    b = Math.min(b, y1);
    const step = width * 3;
    for (let at = (a * width + x) * 3, end = (b * width + x) * 3; at <= end; at += step) {
      data[at] = c[0];
      data[at + 1] = c[1];
      data[at + 2] = c[2];
    }
  };
  const line = (xa: number, ya: number, xb: number, yb: number, c: Rgb) => {
    // Dense spectra (several samples a column) are vertical runs: drawn as columns, the two
    // halves of a one-column step meeting at the middle row.
    let ax = Math.round(xa);
    if (Math.abs(Math.round(xb) - ax) <= 1) {
      if (Math.round(xb) === ax) column(ax, ya, yb, c);
      else {
        const ym = (ya + yb) / 2;
        column(ax, ya, ym, c);
        column(Math.round(xb), ym, yb, c);
      }
      return;
    }
    // Bresenham on rounded ends; vertical runs far outside the box are cut first
    let ay = Math.round(Math.max(Math.min(ya, y1 + 2 * height), y0 - 2 * height));
    const bx = Math.round(xb);
    const by = Math.round(Math.max(Math.min(yb, y1 + 2 * height), y0 - 2 * height));
    const dx = Math.abs(bx - ax);
    const dy = -Math.abs(by - ay);
    const sx = ax < bx ? 1 : -1;
    const sy = ay < by ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      if (inside(ax, ay)) paint(ax, ay, c);
      if (ax === bx && ay === by) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        ax += sx;
      }
      if (e2 <= dx) {
        err += dx;
        ay += sy;
      }
    }
  };

  // masked samples: shade from half-way to the previous sample to half-way to the next
  for (let i = 0; i < n; i++) {
    if (!used[i] || good[i]) continue;
    let prev = i - 1;
    while (prev >= 0 && !used[prev]) prev--;
    let next = i + 1;
    while (next < n && !used[next]) next++;
    const l = lambda[i]!;
    const la = prev >= 0 ? (l + lambda[prev]!) / 2 : l;
    const lb = next < n ? (l + lambda[next]!) / 2 : l;
    const xa = Math.round(xOf(Math.min(la, lb)));
    const xb = Math.round(xOf(Math.max(la, lb)));
    for (let x = Math.max(xa, x0); x <= Math.min(xb, x1); x++)
      column(x, y0, y1, SPECTRUM_COLORS.masked);
  }

  // the 1-sigma band, interpolated column by column between neighbouring good samples
  if (ivar && (options.errorBand ?? true)) {
    let prev = -1;
    for (let i = 0; i < n; i++) {
      if (!good[i]) {
        if (used[i]) prev = -1;
        continue;
      }
      const s = 1 / Math.sqrt(ivar[i]!);
      if (prev < 0)
        column(
          Math.round(xOf(lambda[i]!)),
          yOf(flux[i]! + s),
          yOf(flux[i]! - s),
          SPECTRUM_COLORS.band,
        );
      else {
        const la = lambda[prev]!;
        const lb = lambda[i]!;
        const sa = 1 / Math.sqrt(ivar[prev]!);
        const xa = Math.round(xOf(la));
        const xb = Math.round(xOf(lb));
        for (let x = Math.min(xa, xb); x <= Math.max(xa, xb); x++) {
          const t = xa === xb ? 1 : (x - xa) / (xb - xa);
          const f = flux[prev]! + t * (flux[i]! - flux[prev]!);
          const sd = sa + t * (s - sa);
          column(x, yOf(f + sd), yOf(f - sd), SPECTRUM_COLORS.band);
        }
      }
      prev = i;
    }
  }

  // zero flux, dotted
  if (fMin < 0 && fMax > 0) {
    const y = Math.round(yOf(0));
    for (let x = x0; x <= x1; x += 3) paint(x, y, SPECTRUM_COLORS.zero);
  }

  // spectral lines at (1 + z) * rest, dashed
  const marked: SpectrumPlot["marked"] = [];
  const wanted = options.lines ?? spectrum.lines;
  const lineList =
    wanted === false ? [] : wanted === true || wanted === undefined ? SPECTRAL_LINES : wanted;
  if (!Array.isArray(lineList))
    throw new RenderParameterError("lines", "lines must be true, false or a list of lines");
  if (z !== undefined) {
    for (const ln of lineList) {
      const observed = (1 + z) * finiteParam("lines.rest", ln.rest);
      if (observed < lMin || observed > lMax) continue;
      const x = Math.round(xOf(observed));
      marked.push({ name: ln.name, kind: ln.kind, observed, x: xOf(observed) });
      const c = ln.kind === "absorption" ? SPECTRUM_COLORS.absorption : SPECTRUM_COLORS.emission;
      for (let y = y0; y <= y1; y++) if ((y - y0) % 7 < 4) paint(x, y, c);
    }
  }

  // the curve through consecutive good samples (a gap at bad ones)
  let px = Number.NaN;
  let py = Number.NaN;
  for (let i = 0; i < n; i++) {
    if (!good[i]) {
      if (used[i]) px = Number.NaN;
      continue;
    }
    const x = xOf(lambda[i]!);
    const y = yOf(flux[i]!);
    if (Number.isNaN(px)) line(x, y, x, y, SPECTRUM_COLORS.curve);
    else line(px, py, x, y, SPECTRUM_COLORS.curve);
    px = x;
    py = y;
  }

  // frame, ticks and numbers
  for (let x = left; x <= right; x++) {
    paint(x, top, SPECTRUM_COLORS.frame);
    paint(x, bottom, SPECTRUM_COLORS.frame);
  }
  for (let y = top; y <= bottom; y++) {
    paint(left, y, SPECTRUM_COLORS.frame);
    paint(right, y, SPECTRUM_COLORS.frame);
  }
  const tick = 3 * scale;
  const text = (x: number, y: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) paint(x, y, SPECTRUM_COLORS.text);
  };
  for (const v of xTicks) {
    const x = Math.round(xOf(v));
    for (let k = 1; k <= tick; k++) paint(x, bottom - k, SPECTRUM_COLORS.frame);
    if (labels) {
      const s = tickLabel(v, xStep);
      const w = textWidth(s, scale);
      const tx = Math.min(Math.max(0, Math.round(x - w / 2)), width - w);
      drawText(s, tx, bottom + 3 * scale, scale, text);
    }
  }
  for (const v of yTicks) {
    const y = Math.round(yOf(v));
    for (let k = 1; k <= tick; k++) paint(left + k, y, SPECTRUM_COLORS.frame);
    if (labels) {
      const s = tickLabel(v, yStep);
      const ty = Math.min(
        Math.max(0, Math.round(y - textHeight(scale) / 2)),
        height - textHeight(scale),
      );
      drawText(s, left - 2 * scale - textWidth(s, scale), ty, scale, text);
    }
  }

  return {
    width,
    height,
    channels: 3,
    data,
    box: { left, right, top, bottom },
    lambdaRange: [lMin, lMax],
    fluxRange: [fMin, fMax],
    xOf,
    yOf,
    marked,
  };
}

/**
 * A spectrum as a PNG line plot (RGB): flux against wavelength, masked samples shaded, the ±1
 * sigma band from ivar, lines marked at (1 + z) * rest wavelength (see {@link drawSpectrum}).
 */
export function renderSpectrumPng(
  spectrum: SpectrumData,
  options: SpectrumPlotOptions = {},
): Uint8Array {
  return encodePng(drawSpectrum(spectrum, options), options);
}
