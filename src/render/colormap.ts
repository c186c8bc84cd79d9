// Colormaps as matplotlib draws them: 256-entry LUTs (generated from matplotlib, see
// colormaps.generated.ts) indexed as matplotlib's Colormap.__call__ indexes a float in [0, 1].
import { COLORMAP_HEX } from "./colormaps.generated.ts";
import { RenderParameterError } from "./limits.ts";

/** The colormaps: matplotlib's gray, viridis, magma and inferno. */
export type ColormapName = "gray" | "viridis" | "magma" | "inferno";

// the generated module holds exactly these (a compile error when they drift apart)
const _sameNames: [ColormapName, keyof typeof COLORMAP_HEX] extends [
  keyof typeof COLORMAP_HEX,
  ColormapName,
]
  ? true
  : never = true;
void _sameNames;

/** The colormap names, for validating a request parameter. */
export const COLORMAPS: readonly ColormapName[] = ["gray", "viridis", "magma", "inferno"];

const luts = new Map<ColormapName, Uint8Array>();

/** A checked colormap name (a RenderParameterError naming `cmap` otherwise). */
export function toColormap(
  name: string | undefined,
  fallback: ColormapName = "gray",
): ColormapName {
  const n = name ?? fallback;
  if (!(COLORMAPS as readonly string[]).includes(n))
    throw new RenderParameterError(
      "cmap",
      `unknown colormap ${JSON.stringify(n)}; one of ${COLORMAPS.join(", ")}`,
    );
  return n as ColormapName;
}

/** The colormap's LUT: 256 RGB entries, 768 bytes (entry i at bytes 3i..3i+2). */
export function colormapLut(name: ColormapName): Uint8Array {
  const cmap = toColormap(name);
  let lut = luts.get(cmap);
  if (!lut) {
    lut = new Uint8Array(Buffer.from(COLORMAP_HEX[cmap], "hex"));
    luts.set(cmap, lut);
  }
  return lut;
}

/**
 * The LUT entry matplotlib picks for a value in [0, 1]: floor(x * 256), with 1 mapped to 255
 * (values outside [0, 1] are clamped).
 */
export function colormapIndex(x: number): number {
  const s = x * 256;
  return s >= 255 ? 255 : s <= 0 ? 0 : Math.floor(s);
}
