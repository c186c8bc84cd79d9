// Standard names, the alias table, and modalities. Files keep each survey's own column names;
// the reader maps them to standard names here. A rename is an alias; a change of unit or meaning
// (a sigma stored where an inverse variance is expected) is a conversion, applied on read.
import type { ColumnEntry } from "../storage/manifest.ts";

export type Modality = "image" | "spectrum" | "ifu" | "catalog";

/** Standard columns every example carries when the dataset has them. */
export const CORE_COLUMNS = ["object_id", "ra", "dec", "healpix"] as const;

export const IMAGE_COLUMNS = [
  "image_array",
  "image_ivar",
  "image_mask",
  "image_band",
  "image_psf_fwhm",
  "image_scale",
] as const;
export const SPECTRUM_COLUMNS = [
  "spectrum_flux",
  "spectrum_ivar",
  "spectrum_lsf_sigma",
  "spectrum_lambda",
  "spectrum_mask",
] as const;
/**
 * IFU cubes stored as flat columns (one row per object): cubes [ny, nx, L] so each spaxel's
 * spectrum is contiguous, a shared wavelength grid [L], and 2-D maps `ifu_map_<label>` [ny, nx].
 */
export const IFU_COLUMNS = [
  "ifu_flux",
  "ifu_ivar",
  "ifu_mask",
  "ifu_lsf_sigma",
  "ifu_lambda",
  "spaxel_size",
] as const;
export const IFU_MAP_PREFIX = "ifu_map_";
export const REDSHIFT_COLUMNS = ["z", "z_err"] as const;

/** Column groups accepted by `select`: a modality name selects all of its columns. */
export const GROUPS: Record<string, readonly string[]> = {
  image: IMAGE_COLUMNS,
  spectrum: SPECTRUM_COLUMNS,
  ifu: IFU_COLUMNS,
};

export type Conversion = "sigma_to_ivar";

export interface Alias {
  /** Name in the files. */
  from: string;
  /** Standard name. */
  to: string;
  /** Applied on read when the stored quantity differs from the standard one. */
  convert?: Conversion;
}

/** Renames seen in Multimodal Universe files and in FITS-derived catalogs, for every survey. */
export const COMMON_ALIASES: Alias[] = [
  { from: "image_flux", to: "image_array" },
  { from: "spectrum_wave", to: "spectrum_lambda" },
  { from: "spectrum_wavelength", to: "spectrum_lambda" },
  { from: "spectrum_noise", to: "spectrum_ivar", convert: "sigma_to_ivar" },
  { from: "RA", to: "ra" },
  { from: "DEC", to: "dec" },
  { from: "Z", to: "z" },
  { from: "ZERR", to: "z_err" },
  { from: "Z_ERR", to: "z_err" },
];

/** Survey-specific renames, keyed by the provenance survey name (upper case). */
export const SURVEY_ALIASES: Record<string, Alias[]> = {
  DESI: [{ from: "TARGETID", to: "object_id" }],
  SDSS: [{ from: "SPECOBJID", to: "object_id" }],
  GAIA: [{ from: "source_id", to: "object_id" }],
};

export interface ColumnMapping {
  /** Name the view uses: the standard name when there is one, else the file's. */
  name: string;
  /** Column in the files. */
  source: string;
  convert?: Conversion;
}

/**
 * Maps a config's columns to view names. A column already carrying a standard name wins over an
 * alias of it; the manifest's `standardName` (set by the builder) wins over the tables.
 */
export function mapColumns(columns: ColumnEntry[], survey?: string): ColumnMapping[] {
  const names = new Set(columns.map((c) => c.name));
  const aliases = [...(SURVEY_ALIASES[survey?.toUpperCase() ?? ""] ?? []), ...COMMON_ALIASES];
  const taken = new Set<string>();
  const out: ColumnMapping[] = [];
  for (const c of columns) {
    const explicit = c.standardName && !names.has(c.standardName) ? c.standardName : undefined;
    const alias = aliases.find((a) => a.from === c.name && !names.has(a.to));
    let name = explicit ?? alias?.to ?? c.name;
    if (taken.has(name)) name = c.name; // two aliases of one standard name: keep the second as is
    taken.add(name);
    out.push({ name, source: c.name, convert: explicit ? undefined : alias?.convert });
  }
  return out;
}

export function modalityOf(viewNames: Iterable<string>): Modality {
  const names = new Set(viewNames);
  if (names.has("ifu_flux")) return "ifu";
  if (names.has("image_array")) return "image";
  if (names.has("spectrum_flux")) return "spectrum";
  return "catalog";
}

/** The modality a column belongs to (for `features`). */
export function columnModality(name: string): Modality | "core" {
  if ((CORE_COLUMNS as readonly string[]).includes(name) || name === "_healpix_29") return "core";
  if (name.startsWith("image_")) return "image";
  if (name.startsWith("spectrum_")) return "spectrum";
  if (name.startsWith("ifu_") || name === "spaxel_size") return "ifu";
  return "catalog";
}

/** sigma → inverse variance; sigma <= 0 or not finite means no information (ivar 0). */
export function sigmaToIvar(values: Float32Array | Float64Array): Float32Array | Float64Array {
  const out = new (values.constructor as Float32ArrayConstructor)(values.length);
  for (let i = 0; i < values.length; i++) {
    const s = values[i];
    out[i] = s > 0 && Number.isFinite(s) ? 1 / (s * s) : 0;
  }
  return out;
}
