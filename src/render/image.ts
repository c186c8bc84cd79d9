// The renderers the data service and the CLI call: a band as a colormapped PNG, three bands as
// a Lupton RGB composite, one wavelength channel of an IFU cube. Limits from percentiles of the
// good pixels (astropy's intervals), stretches and colormaps as astropy and matplotlib draw them.
import { type ColormapName, colormapLut, toColormap } from "./colormap.ts";
import {
  asymmetricPercentileInterval,
  type Interval,
  type PixelMask,
  type PixelValues,
  percentiles,
} from "./interval.ts";
import {
  finiteParam,
  intParam,
  MAX_CUBE_VALUES,
  MAX_RENDER_PIXELS,
  percentParam,
  RenderParameterError,
  RenderTooLargeError,
} from "./limits.ts";
import { makeLinearRgb, makeLuptonRgb, type RgbMinimum } from "./lupton.ts";
import { encodePng, type PngOptions, type Raster } from "./png.ts";
import { normalizePixels, type Stretch, type StretchName, toStretch } from "./stretch.ts";

/** A 2-D image: `data` row-major (numpy order, row 0 first), `shape` [height, width]. */
export interface ImageArray {
  data: PixelValues;
  shape: readonly number[];
}

/** What to do with bad pixels (non-finite, or masked). */
export type BadPixels = "transparent" | "low";

/** Options shared by the image renderers. */
export interface PictureOptions extends PngOptions {
  /**
   * Mask, one entry per pixel of the image (see `maskMeaning`). Masked pixels are left out of
   * the limits and drawn as bad pixels.
   */
  mask?: PixelMask;
  /** "good" (default, Multimodal Universe image masks): a set entry is a good pixel; "bad": a set entry is a bad one. */
  maskMeaning?: "good" | "bad";
  /**
   * Bad pixels (NaN, +-Inf, masked): "transparent" (default; matplotlib's "bad" colour, the PNG
   * then has an alpha channel) or "low": the low end of the colormap (black for RGB).
   */
  bad?: BadPixels;
  /**
   * "lower" (default, the astronomical convention of ds9 and astropy's make_lupton_rgb files):
   * row 0 of the array is the bottom row of the picture; "upper": the top row.
   */
  origin?: "lower" | "upper";
}

/** Options of {@link renderImagePng}. */
export interface ImageRenderOptions extends PictureOptions {
  /** Stretch (default "asinh" with astropy's a = 0.1). */
  stretch?: StretchName | Stretch;
  /** Lower percentile (0..100) of the good pixels mapped to the low end (default 1). */
  pmin?: number;
  /** Upper percentile (0..100) mapped to the high end (default 99.5). */
  pmax?: number;
  /** Value (data units) mapped to the low end, instead of the `pmin` percentile. */
  vmin?: number;
  /** Value (data units) mapped to the high end, instead of the `pmax` percentile. */
  vmax?: number;
  /** Colormap (default "gray"). */
  cmap?: ColormapName;
}

/** A raster with the display limits it was drawn with (data units). */
export interface RenderedImage extends Raster {
  interval: Interval;
}

/** Checks an image's shape and size; returns [height, width]. */
export function imageShape(image: ImageArray, name = "image"): [number, number] {
  const shape = image?.shape;
  if (!Array.isArray(shape) || shape.length !== 2)
    throw new RenderParameterError(
      `${name}.shape`,
      `${name} must be 2-D [height, width], got shape ${JSON.stringify(shape)}`,
    );
  const [h, w] = shape as [number, number];
  intParam(`${name}.shape`, h, 1, Number.MAX_SAFE_INTEGER);
  intParam(`${name}.shape`, w, 1, Number.MAX_SAFE_INTEGER);
  if (h * w > MAX_RENDER_PIXELS)
    throw new RenderTooLargeError(
      name,
      `${name} of ${h}x${w} pixels is more than the ${MAX_RENDER_PIXELS} pixels a picture may have`,
    );
  const data = image.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array)
    throw new RenderParameterError(
      `${name}.data`,
      `${name} holds 64-bit integers; convert to numbers`,
    );
  if (!data || typeof data.length !== "number" || data.length !== h * w)
    throw new RenderParameterError(
      `${name}.data`,
      `${name} has ${data?.length} values for shape [${h}, ${w}]`,
    );
  return [h, w];
}

function checkMask(mask: PixelMask | undefined, n: number): void {
  if (mask !== undefined && (typeof mask?.length !== "number" || mask.length !== n))
    throw new RenderParameterError("mask", `mask has ${mask?.length} entries for ${n} pixels`);
}

function pictureDefaults(options: PictureOptions) {
  const bad = options.bad ?? "transparent";
  if (bad !== "transparent" && bad !== "low")
    throw new RenderParameterError("bad", `bad must be "transparent" or "low", got ${String(bad)}`);
  const origin = options.origin ?? "lower";
  if (origin !== "lower" && origin !== "upper")
    throw new RenderParameterError(
      "origin",
      `origin must be "lower" or "upper", got ${String(origin)}`,
    );
  return { bad, origin, maskMeaning: options.maskMeaning ?? "good" };
}

/**
 * One band as a colormapped raster: limits from the `pmin`/`pmax` percentiles of the good pixels
 * (or `vmin`/`vmax`), stretched as astropy's ImageNormalize(clip=True), coloured as matplotlib's
 * colormap. Gray gives 1 channel (2 with transparent bad pixels), other colormaps 3 (4).
 */
export function renderImage(image: ImageArray, options: ImageRenderOptions = {}): RenderedImage {
  const [h, w] = imageShape(image, "image");
  const { bad, origin, maskMeaning } = pictureDefaults(options);
  const stretch = toStretch(options.stretch, "asinh");
  const cmap = toColormap(options.cmap, "gray");
  checkMask(options.mask, h * w);
  const selection = { mask: options.mask, maskMeaning };
  const { vmin, vmax } = options;
  if (vmin !== undefined) finiteParam("vmin", vmin);
  if (vmax !== undefined) finiteParam("vmax", vmax);
  const interval: Interval =
    vmin !== undefined && vmax !== undefined
      ? { vmin, vmax }
      : asymmetricPercentileInterval(
          image.data,
          options.pmin ?? 1,
          options.pmax ?? 99.5,
          selection,
        );
  if (vmin !== undefined) interval.vmin = vmin;
  if (vmax !== undefined) interval.vmax = vmax;
  const norm = normalizePixels(image.data, interval, stretch, selection);
  const lut = colormapLut(cmap);
  let anyBad = false;
  for (let i = 0; i < norm.length; i++)
    if (Number.isNaN(norm[i])) {
      anyBad = true;
      break;
    }
  const alpha = anyBad && bad === "transparent";
  const gray = cmap === "gray";
  const channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
  const out = new Uint8Array(h * w * channels);
  for (let y = 0; y < h; y++) {
    const row = (origin === "lower" ? h - 1 - y : y) * w * channels;
    for (let x = 0; x < w; x++) {
      const v = norm[y * w + x]!;
      const at = row + x * channels;
      const isBad = Number.isNaN(v);
      if (isBad && alpha) continue; // (0, 0, 0, 0): matplotlib's bad colour
      // colormapIndex(v), inlined: floor(v * 256), 1 -> 255 (v is in [0, 1])
      const s = v * 256;
      const k = isBad ? 0 : (s >= 255 ? 255 : Math.floor(s)) * 3;
      if (gray) out[at] = lut[k]!;
      else {
        out[at] = lut[k]!;
        out[at + 1] = lut[k + 1]!;
        out[at + 2] = lut[k + 2]!;
      }
      if (alpha) out[at + channels - 1] = 255;
    }
  }
  return { width: w, height: h, channels: channels as Raster["channels"], data: out, interval };
}

/**
 * One band as a PNG (see {@link renderImage}): e.g. a cutout's flux with
 * `{ stretch: "asinh", pmin: 1, pmax: 99.5, cmap: "viridis" }`.
 */
export function renderImagePng(image: ImageArray, options: ImageRenderOptions = {}): Uint8Array {
  const raster = renderImage(image, options);
  // A colour LUT repeats byte triplets that deflate finds unfiltered (a third smaller than with
  // "up" on noisy cutouts); gray levels compress better filtered (bench/render.ts).
  const filter = options.filter ?? (raster.channels >= 3 ? "none" : "up");
  return encodePng(raster, { ...options, filter });
}

/** Options of {@link renderRgbPng}. */
export interface RgbRenderOptions extends PictureOptions {
  /** "asinh" (default): astropy's make_lupton_rgb; "linear": astropy's LinearMapping. */
  stretch?: "asinh" | "linear";
  /** The asinh softening parameter Q (default 8). */
  Q?: number;
  /** Intensity (data units) mapped to black; default the `pmin` percentile of the mean intensity. */
  minimum?: RgbMinimum;
  /**
   * asinh: make_lupton_rgb's `stretch`, the intensity range above minimum (data units); default
   * the `pmax` percentile of the mean intensity minus minimum.
   */
  range?: number;
  /** linear: intensity mapped to white (data units); default the `pmax` percentile. */
  maximum?: number;
  /** Percentile (0..100) of the mean intensity (r + g + b) / 3 of good pixels for the minimum (default 1). */
  pmin?: number;
  /** Percentile (0..100) of the mean intensity for the top of the range (default 99.5). */
  pmax?: number;
}

/**
 * Three bands (red, green, blue: e.g. i, r, g) as an RGB raster after Lupton et al. (2004), as
 * astropy computes it: the limits, when not given, from percentiles of the mean intensity over
 * the good pixels (finite in all bands, not masked). The three rasters must have one shape.
 */
export function renderRgb(
  bands: readonly [ImageArray, ImageArray, ImageArray],
  options: RgbRenderOptions = {},
): RenderedImage {
  if (!Array.isArray(bands) || bands.length !== 3)
    throw new RenderParameterError("bands", "an RGB composite needs exactly 3 bands (r, g, b)");
  const [h, w] = imageShape(bands[0], "bands[0]");
  for (const k of [1, 2]) {
    const [hk, wk] = imageShape(bands[k]!, `bands[${k}]`);
    if (hk !== h || wk !== w)
      throw new RenderParameterError(
        `bands[${k}]`,
        `band ${k} is ${hk}x${wk}, band 0 is ${h}x${w}: the bands must have one shape`,
      );
  }
  const { bad, origin, maskMeaning } = pictureDefaults(options);
  const stretch = options.stretch ?? "asinh";
  if (stretch !== "asinh" && stretch !== "linear")
    throw new RenderParameterError(
      "stretch",
      `stretch must be "asinh" or "linear" for RGB, got ${String(stretch)}`,
    );
  const n = h * w;
  checkMask(options.mask, n);
  const pmin = percentParam("pmin", options.pmin ?? 1);
  const pmax = percentParam("pmax", options.pmax ?? 99.5);
  if (pmin > pmax) throw new RenderParameterError("pmin", `pmin ${pmin} is above pmax ${pmax}`);
  const [r, g, b] = bands.map((band) => band.data) as [PixelValues, PixelValues, PixelValues];
  const good = new Uint8Array(n);
  const intensity = new Float64Array(n);
  let anyBad = false;
  for (let i = 0; i < n; i++) {
    const ok =
      Number.isFinite(r[i]) &&
      Number.isFinite(g[i]) &&
      Number.isFinite(b[i]) &&
      (!options.mask || Boolean(options.mask[i]) === (maskMeaning === "good"));
    good[i] = ok ? 1 : 0;
    if (!ok) anyBad = true;
    intensity[i] = (r[i]! + g[i]! + b[i]!) / 3.0;
  }
  const needLimits =
    options.minimum === undefined ||
    (stretch === "asinh" ? options.range === undefined : options.maximum === undefined);
  const [pLo, pHi] = needLimits
    ? (percentiles(intensity, [pmin, pmax], { mask: good }) as [number, number])
    : [0, 0];
  const minimum = options.minimum ?? (Number.isFinite(pLo) ? pLo : 0);
  const level = typeof minimum === "number" ? minimum : (minimum[0] + minimum[1] + minimum[2]) / 3;
  let rgb: Uint8Array;
  let top: number;
  if (stretch === "asinh") {
    let range = options.range;
    if (range === undefined) {
      range = pHi - level;
      if (!(range > 0)) range = 1; // a flat or empty image: any positive range draws it black
    } else if (!(finiteParam("range", range) > 0))
      throw new RenderParameterError("range", `range must be > 0, got ${range}`);
    rgb = makeLuptonRgb(r, g, b, { minimum, stretch: range, Q: options.Q ?? 8 });
    top = level + range;
  } else {
    let maximum = options.maximum;
    if (maximum === undefined) {
      maximum = pHi;
      if (!(maximum > level)) maximum = level + 1;
    }
    rgb = makeLinearRgb(r, g, b, { minimum, maximum });
    top = maximum;
  }
  const alpha = anyBad && bad === "transparent";
  const channels = alpha ? 4 : 3;
  const out = new Uint8Array(n * channels);
  for (let y = 0; y < h; y++) {
    const row = (origin === "lower" ? h - 1 - y : y) * w * channels;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!good[i]) continue; // transparent, or black
      const at = row + x * channels;
      out[at] = rgb[i * 3]!;
      out[at + 1] = rgb[i * 3 + 1]!;
      out[at + 2] = rgb[i * 3 + 2]!;
      if (alpha) out[at + 3] = 255;
    }
  }
  return { width: w, height: h, channels, data: out, interval: { vmin: level, vmax: top } };
}

/** Three bands as an RGB (or RGBA, with transparent bad pixels) PNG, see {@link renderRgb}. */
export function renderRgbPng(
  bands: readonly [ImageArray, ImageArray, ImageArray],
  options: RgbRenderOptions = {},
): Uint8Array {
  return encodePng(renderRgb(bands, options), options);
}

/** A cube: `data` row-major, `shape` 3-D in the order `layout` says. */
export interface CubeArray {
  data: PixelValues;
  shape: readonly number[];
}

/** Options choosing one channel of an IFU cube. */
export interface IfuSliceOptions {
  /**
   * Axis order of the cube: "yxl" (default; [y, x, lambda], the `ifu_flux` column of AstroPile
   * and Multimodal Universe MaNGA datasets, one spectrum per spaxel) or "lyx" ([lambda, y, x],
   * the FLUX HDU of a MaNGA LOGCUBE FITS file).
   */
  layout?: "yxl" | "lyx";
  /** Channel index (0-based) along the wavelength axis. */
  channel?: number;
  /** Wavelength (units of `lambda`, Å for MaNGA); the channel nearest it is drawn. */
  wavelength?: number;
  /** The wavelengths of the channels (needed with `wavelength`). */
  lambda?: PixelValues;
}

/** One channel of an IFU cube as a [height, width] image, with the channel it took. */
export interface IfuSlice extends ImageArray {
  channel: number;
  shape: [number, number];
  data: Float64Array;
}

/** The index of the value of `lambda` nearest `wavelength` (non-finite entries skipped). */
export function nearestChannel(lambda: PixelValues, wavelength: number): number {
  finiteParam("wavelength", wavelength);
  let best = -1;
  let dist = Number.POSITIVE_INFINITY;
  for (let k = 0; k < lambda.length; k++) {
    const d = Math.abs(lambda[k]! - wavelength);
    if (d < dist) {
      dist = d;
      best = k;
    }
  }
  if (best < 0) throw new RenderParameterError("lambda", "lambda has no finite wavelength");
  return best;
}

/** Cuts one wavelength channel out of an IFU cube (by `channel`, or nearest `wavelength`). */
export function ifuSlice(cube: CubeArray, options: IfuSliceOptions): IfuSlice {
  const layout = options.layout ?? "yxl";
  if (layout !== "yxl" && layout !== "lyx")
    throw new RenderParameterError(
      "layout",
      `layout must be "yxl" or "lyx", got ${String(layout)}`,
    );
  const shape = cube?.shape;
  if (!Array.isArray(shape) || shape.length !== 3)
    throw new RenderParameterError(
      "cube.shape",
      `an IFU cube must be 3-D, got shape ${JSON.stringify(shape)}`,
    );
  for (const s of shape) intParam("cube.shape", s, 1, MAX_CUBE_VALUES, true);
  const [ny, nx, nl] = (layout === "yxl" ? shape : [shape[1], shape[2], shape[0]]) as [
    number,
    number,
    number,
  ];
  if (ny * nx * nl > MAX_CUBE_VALUES)
    throw new RenderTooLargeError(
      "cube",
      `a cube of ${ny * nx * nl} values is more than ${MAX_CUBE_VALUES}`,
    );
  if (ny * nx > MAX_RENDER_PIXELS)
    throw new RenderTooLargeError(
      "cube",
      `a slice of ${ny}x${nx} spaxels is more than ${MAX_RENDER_PIXELS} pixels`,
    );
  const data = cube.data;
  if (!data || data.length !== ny * nx * nl)
    throw new RenderParameterError(
      "cube.data",
      `the cube has ${data?.length} values for shape [${shape.join(", ")}]`,
    );
  let channel: number;
  if (options.channel !== undefined) channel = intParam("channel", options.channel, 0, nl - 1);
  else if (options.wavelength !== undefined) {
    if (!options.lambda || options.lambda.length !== nl)
      throw new RenderParameterError("lambda", `wavelength needs lambda with ${nl} entries`);
    channel = nearestChannel(options.lambda, options.wavelength);
  } else throw new RenderParameterError("channel", "give channel or wavelength");
  const plane = new Float64Array(ny * nx);
  if (layout === "yxl") for (let k = 0; k < ny * nx; k++) plane[k] = data[k * nl + channel]!;
  else for (let k = 0; k < ny * nx; k++) plane[k] = data[channel * ny * nx + k]!;
  return { data: plane, shape: [ny, nx], channel };
}

/**
 * One wavelength channel of an IFU cube as a PNG (the slice as {@link renderImagePng} draws an
 * image; `mask`, if given, is per spaxel, [y, x]).
 */
export function renderIfuSlicePng(
  cube: CubeArray,
  options: IfuSliceOptions & ImageRenderOptions,
): Uint8Array {
  return renderImagePng(ifuSlice(cube, options), options);
}
