// Rows shaped as examples in the seed schemas (DESIGN.md): images as a per-band list, spectra
// with their arrays, IFU cubes as spaxels and maps, catalog columns flat under official names,
// provenance on every example. Arrays stay typed arrays with their shape (views, no copies).

import type { ColumnValues, NumericArray } from "../core/columns.ts";
import { own } from "../core/records.ts";
import { IFU_MAP_PREFIX, IMAGE_COLUMNS, type Modality } from "../schema/standard.ts";
import type { Provenance } from "../storage/manifest.ts";

export interface NDArray<T extends NumericArray = NumericArray> {
  data: T;
  shape: number[];
}

export type Value = number | bigint | string | boolean | NDArray | string[] | null;

export interface ImageBand {
  band: string;
  flux: NDArray;
  ivar?: NDArray;
  /** true (1) = good pixel, as in Multimodal Universe image masks. */
  mask?: NDArray<Uint8Array>;
  psf_fwhm?: number;
  scale?: number;
  units?: string;
}

export interface Spaxel {
  flux: NDArray;
  ivar?: NDArray;
  lsf_sigma?: NDArray;
  lambda?: NDArray;
  mask?: NDArray<Uint8Array>;
  x: number;
  y: number;
}

export interface Example {
  provenance: Provenance;
  object_id?: Value;
  ra?: number;
  dec?: number;
  healpix?: number;
  image?: ImageBand[];
  spaxels?: Spaxel[];
  images?: Array<{ label: string; data: NDArray }>;
  extra?: Record<string, Value>;
  [column: string]: unknown;
}

export interface RowColumn {
  values: ColumnValues;
  /** Shape of one row of this column. */
  shape: number[];
  dtype: string;
  unit?: string;
}

/** One row of each column: the value (scalar) or an NDArray view (arrays). */
function cell(col: RowColumn, row: number): Value {
  const per = col.shape.reduce((a, b) => a * b, 1);
  if (Array.isArray(col.values)) {
    return col.shape.length === 0 ? col.values[row] : col.values.slice(row * per, (row + 1) * per);
  }
  if (col.shape.length === 0) {
    const v = col.values[row];
    if (col.dtype === "bool") return v === 1;
    if (typeof v === "bigint") return v;
    return v as number;
  }
  return {
    data: col.values.subarray(row * per, (row + 1) * per) as NumericArray,
    shape: col.shape,
  };
}

function plane(a: NDArray, i: number): NDArray {
  const [, ...rest] = a.shape;
  const per = rest.reduce((x, y) => x * y, 1);
  return { data: a.data.subarray(i * per, (i + 1) * per) as NumericArray, shape: rest };
}

const IMAGE_KEYS = new Set<string>(IMAGE_COLUMNS);
const SPECTRUM_KEYS: Record<string, string> = {
  spectrum_flux: "flux",
  spectrum_ivar: "ivar",
  spectrum_lsf_sigma: "lsf_sigma",
  spectrum_lambda: "lambda",
  spectrum_mask: "mask",
};
const IFU_KEYS = new Set(["ifu_flux", "ifu_ivar", "ifu_mask", "ifu_lsf_sigma", "ifu_lambda"]);
const CORE = new Set(["object_id", "ra", "dec", "healpix"]);

/** Builds the example for `row` from the columns read (view names). */
export function toExample(
  modality: Modality,
  provenance: Provenance,
  columns: Record<string, RowColumn>,
  row: number,
): Example {
  const ex: Example = { provenance };
  const get = (name: string) => {
    const col = own(columns, name);
    return col ? cell(col, row) : undefined;
  };
  for (const name of CORE) {
    const v = get(name);
    if (v === undefined) continue;
    put(ex, name, name === "healpix" && typeof v === "bigint" ? Number(v) : v);
  }
  const rest = Object.keys(columns).filter((n) => !CORE.has(n) && n !== "_healpix_29");

  if (modality === "image" && columns.image_array) {
    const flux = get("image_array") as NDArray;
    const ivar = get("image_ivar") as NDArray | undefined;
    const mask = get("image_mask") as NDArray | undefined;
    const bands = get("image_band") as string[] | undefined;
    const psf = get("image_psf_fwhm") as NDArray | undefined;
    const scale = get("image_scale") as NDArray | undefined;
    const nBands = flux.shape[0];
    ex.image = Array.from({ length: nBands }, (_, b) => {
      const band: ImageBand = { band: bands?.[b] ?? String(b), flux: plane(flux, b) };
      if (ivar) band.ivar = plane(ivar, b);
      // Legacy Survey has one 2-D mask for all bands.
      if (mask)
        band.mask = (mask.shape.length === 3 ? plane(mask, b) : mask) as NDArray<Uint8Array>;
      if (psf) band.psf_fwhm = psf.data[b] as number;
      if (scale) band.scale = scale.data[b] as number;
      if (columns.image_array.unit) band.units = columns.image_array.unit;
      return band;
    });
    for (const n of rest) if (!IMAGE_KEYS.has(n)) put(ex, n, get(n));
    return ex;
  }

  if (modality === "spectrum" && columns.spectrum_flux) {
    const extra: Record<string, Value> = {};
    for (const n of rest) {
      const v = get(n) as Value;
      const key = own(SPECTRUM_KEYS, n);
      if (key) ex[key] = v;
      else if (n === "z" || n === "z_err") ex[n] = v;
      else put(extra, n, v);
    }
    ex.extra = extra;
    return ex;
  }

  if (modality === "ifu" && columns.ifu_flux) {
    const flux = get("ifu_flux") as NDArray;
    const [ny, nx, nl] = flux.shape;
    const cube = (name: string) => get(name) as NDArray | undefined;
    const ivar = cube("ifu_ivar");
    const mask = cube("ifu_mask");
    const lsf = cube("ifu_lsf_sigma");
    const lambda = cube("ifu_lambda");
    const spec = (a: NDArray | undefined, k: number): NDArray | undefined =>
      a &&
      (a.shape.length === 1
        ? a
        : { data: a.data.subarray(k * nl, (k + 1) * nl) as NumericArray, shape: [nl] });
    ex.spaxels = [];
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const k = y * nx + x;
        const s: Spaxel = { flux: spec(flux, k)!, x, y };
        if (ivar) s.ivar = spec(ivar, k);
        if (mask) s.mask = spec(mask, k) as NDArray<Uint8Array>;
        if (lsf) s.lsf_sigma = spec(lsf, k);
        if (lambda) s.lambda = lambda;
        ex.spaxels.push(s);
      }
    }
    ex.images = rest
      .filter((n) => n.startsWith(IFU_MAP_PREFIX))
      .map((n) => ({ label: n.slice(IFU_MAP_PREFIX.length), data: get(n) as NDArray }));
    for (const n of rest) {
      if (!IFU_KEYS.has(n) && !n.startsWith(IFU_MAP_PREFIX)) put(ex, n, get(n));
    }
    return ex;
  }

  for (const n of rest) put(ex, n, get(n));
  return ex;
}

/**
 * Sets a column's value on an example: an own property whatever the name (`obj.__proto__ = v`
 * would set the prototype instead, and the column would vanish).
 */
function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else obj[key] = value;
}
