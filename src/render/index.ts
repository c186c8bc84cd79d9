/**
 * Pixels and plots: stretches and intervals (as astropy.visualization), colormaps (as
 * matplotlib), Lupton RGB composites, spectrum plots, IFU slices, PNG encoding. Arrays in, PNG
 * bytes out; no DOM, no native canvas.
 *
 * @module render
 */
export { COLORMAPS, type ColormapName, colormapIndex, colormapLut } from "./colormap.ts";
export {
  type BadPixels,
  type CubeArray,
  type IfuSlice,
  type IfuSliceOptions,
  type ImageArray,
  type ImageRenderOptions,
  ifuSlice,
  nearestChannel,
  type PictureOptions,
  type RenderedImage,
  type RgbRenderOptions,
  renderIfuSlicePng,
  renderImage,
  renderImagePng,
  renderRgb,
  renderRgbPng,
} from "./image.ts";
export {
  asymmetricPercentileInterval,
  type Interval,
  manualInterval,
  type PixelMask,
  type PixelSelection,
  type PixelValues,
  percentileInterval,
  percentiles,
} from "./interval.ts";
export {
  MAX_CUBE_VALUES,
  MAX_PLOT_SIDE,
  MAX_RENDER_PIXELS,
  MAX_SPECTRUM_SAMPLES,
  MIN_PLOT_SIDE,
  RenderParameterError,
  RenderTooLargeError,
} from "./limits.ts";
export { SPECTRAL_LINES, type SpectralLine } from "./lines.ts";
export {
  type LinearRgbOptions,
  type LuptonOptions,
  makeLinearRgb,
  makeLuptonRgb,
  type RgbMinimum,
} from "./lupton.ts";
export { encodePng, MAX_PNG_SIDE, type PngFilter, type PngOptions, type Raster } from "./png.ts";
export {
  drawSpectrum,
  renderSpectrumPng,
  SPECTRUM_COLORS,
  type SpectrumData,
  type SpectrumPlot,
  type SpectrumPlotOptions,
} from "./spectrum.ts";
export {
  type NormalizeOptions,
  normalizePixels,
  STRETCHES,
  type Stretch,
  type StretchName,
  stretchFunction,
} from "./stretch.ts";
