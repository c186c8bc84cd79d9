// Builder specs: a declarative description (JSON, or the same object in TypeScript) of where a
// survey's files are and how their columns map to the dataset's schema. A user describes their
// own survey with one of these and `astropile build SPEC --out DIR`; no code.
//
// {
//   "config": "pdr3_dud",                               sub-dataset name (a directory)
//   "provenance": { "survey": "HSC", "release": "PDR3" },
//   "root": ".",                                        base of relative paths (default: the spec's folder)
//   "catalog": {                                        one row per object
//     "files": "catalog/*.csv",                         glob(s); format from the extension or "format"
//     "columns": { "object_id": "object_id", "ra": "ra", "dec": "dec",
//                  "forced.g_cmodel_mag": { "from": "g_cmodel_mag", "dtype": "float32", "unit": "mag" } }
//   },
//   "image": { "kind": "tiles", "stampSize": 64, "bands": [{ "label": "hsc-g", "files": "tiles/HSC-G/**/*.fits" }],
//              "hdus": { "image": "IMAGE", "variance": "VARIANCE", "mask": "MASK" },
//              "maskBad": ["BAD", "SAT", "CR", "NO_DATA"], "zeropoint": "MAGZERO", "psfFwhm": "PSFFWHM" },
//   "spectrum": { "file": "spectra/coadd-{HEALPIX}.fits", "idHdu": "FIBERMAP", "idColumn": "TARGETID",
//                 "wavelength": "WAVELENGTH", "flux": "FLUX", "ivar": "IVAR", "mask": "MASK", "lsfSigma": "LSF_SIGMA" }
// }
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod/v3"; // the v3 API loads in a sixth of the time: see core/record-schema.ts
import { DTYPES } from "../core/columns.ts";
import { SpecError } from "../core/errors.ts";
import { ownRecordSchema } from "../core/record-schema.ts";
import { own } from "../core/records.ts";
import { isSafeConfigName, LAYOUTS } from "../storage/layout.ts";

const hduRef = z.union([z.string().min(1), z.number().int().nonnegative()]);
const globs = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
/** An AB zeropoint given as a number: within (0, 100) mag. */
const zeropoint = z.number().gt(0).lt(100);

export const ColumnSourceSchema = z.union([
  z.string().min(1),
  z
    .object({
      /** Source column name. */
      from: z.string().min(1),
      dtype: z.enum(DTYPES).optional(),
      unit: z.string().optional(),
      description: z.string().optional(),
      /** Standard name this column maps to (recorded in the manifest). */
      standardName: z.string().optional(),
      /** A missing or NaN value rejects the row. */
      required: z.boolean().optional(),
      /** Values outside [min, max] reject the row (NaN is checked by `required`). */
      range: z.tuple([z.number(), z.number()]).optional(),
      /** Fixed UTF-8 length for string columns; longer values reject the row. */
      stringLength: z.number().int().positive().optional(),
      /** Value for missing entries of integer, bool or string columns (else the row is rejected). */
      fill: z.union([z.number(), z.string(), z.boolean()]).optional(),
    })
    .strict(),
]);

export const CatalogSourceSchema = z
  .object({
    files: globs,
    format: z.enum(["csv", "ecsv", "fits"]).optional(),
    /** FITS: the table HDU (index or EXTNAME); default 1. */
    hdu: hduRef.optional(),
    /** CSV options. */
    delimiter: z.string().length(1).optional(),
    comment: z.string().length(1).optional(),
    /** Output column ← source column. Must map object_id, ra and dec. */
    columns: ownRecordSchema(z.string().min(1), ColumnSourceSchema),
  })
  .strict();

export const TileImageSchema = z
  .object({
    kind: z.literal("tiles"),
    /** Stamp side in pixels. */
    stampSize: z.number().int().min(1).max(4096),
    bands: z.array(z.object({ label: z.string().min(1).max(32), files: globs }).strict()).min(1),
    hdus: z
      .object({
        image: hduRef.optional(),
        variance: hduRef.optional(),
        ivar: hduRef.optional(),
        sigma: hduRef.optional(),
        mask: hduRef.optional(),
      })
      .strict()
      .optional(),
    /** Bad-pixel mask planes by name (MP_<NAME> cards of the mask HDU) or as a bitmask. */
    maskBad: z.union([z.array(z.string().min(1)), z.number().int().nonnegative()]).optional(),
    /** AB zeropoint of the pixel values, or the header keyword holding it; default 22.5 (nanomaggies). */
    zeropoint: z.union([zeropoint, z.string().min(1)]).optional(),
    /** PSF FWHM in arcsec, or the header keyword holding it. */
    psfFwhm: z.union([z.number().positive(), z.string().min(1)]).optional(),
  })
  .strict();

export const CutoutImageSchema = z
  .object({
    kind: z.literal("cutouts"),
    /** Path template of one object's file, e.g. "cutouts/{object_id}.fits" ({NAME}: catalog source column). */
    file: z.string().min(1),
    stampSize: z.number().int().min(1).max(4096),
    bands: z
      .array(
        z
          .object({
            label: z.string().min(1).max(32),
            hdu: hduRef,
            /** Inverse-variance / variance / mask HDUs of this band, if any. */
            ivar: hduRef.optional(),
            variance: hduRef.optional(),
            mask: hduRef.optional(),
          })
          .strict(),
      )
      .min(1),
    maskBad: z.number().int().nonnegative().optional(),
    zeropoint: z.union([zeropoint, z.string().min(1)]).optional(),
    psfFwhm: z.union([z.number().positive(), z.string().min(1)]).optional(),
    /** Pixel scale (arcsec/pixel) when the files carry no WCS. */
    pixelScale: z.number().positive().optional(),
  })
  .strict();

export const SpectrumSourceSchema = z
  .object({
    /** Path template of the file holding an object's spectrum ({NAME}: catalog source column). */
    file: z.string().min(1),
    /** Table HDU listing the objects of a multi-row file, and its id column (matched to object_id). */
    idHdu: hduRef.optional(),
    idColumn: z.string().min(1),
    /** Image HDUs: wavelength (1-D shared, or one row per object), flux, and optional others. */
    wavelength: hduRef,
    flux: hduRef,
    ivar: hduRef.optional(),
    variance: hduRef.optional(),
    sigma: hduRef.optional(),
    /** Non-zero = bad pixel. */
    mask: hduRef.optional(),
    /** LSF Gaussian sigma in Angstrom. */
    lsfSigma: hduRef.optional(),
    /** Stored spectrum length L; default: the first file's wavelength length. */
    length: z.number().int().positive().optional(),
    fluxUnit: z.string().optional(),
  })
  .strict();

export const IfuSourceSchema = z
  .object({
    /** Path template of one object's cube file, e.g. "cubes/manga-{PLATEIFU}-LOGCUBE.fits". */
    file: z.string().min(1),
    flux: hduRef,
    ivar: hduRef.optional(),
    mask: hduRef.optional(),
    wavelength: hduRef,
    lsfSigma: hduRef.optional(),
    /** Maps to store as ifu_map_<label>: a file template and an HDU (2-D image). */
    maps: z
      .array(z.object({ label: z.string().min(1), file: z.string().min(1), hdu: hduRef }).strict())
      .optional(),
    /** Cube size on the sky (spaxels per side) and spectrum length L stored; from the first cube by default. */
    spaxels: z.number().int().positive().optional(),
    length: z.number().int().positive().optional(),
    /** Spaxel size (arcsec), or the header keyword holding it. */
    spaxelSize: z.union([z.number().positive(), z.string().min(1)]).optional(),
    fluxUnit: z.string().optional(),
  })
  .strict();

export const BuilderSpecSchema = z
  .object({
    /** Dataset name in the manifest (default: the output directory's name). */
    name: z.string().min(1).optional(),
    config: z.string().refine(isSafeConfigName, "a config name usable as a directory name"),
    provenance: z
      .object({
        project: z.string().optional(),
        survey: z.string().min(1),
        release: z.string().optional(),
      })
      .catchall(z.string()),
    /** Base directory of relative paths; default the spec file's directory (or the cwd). */
    root: z.string().optional(),
    catalog: CatalogSourceSchema,
    image: z.discriminatedUnion("kind", [TileImageSchema, CutoutImageSchema]).optional(),
    spectrum: SpectrumSourceSchema.optional(),
    ifu: IfuSourceSchema.optional(),
    build: z
      .object({
        /**
         * "adaptive" (default): partition pixels sized by the data; "mmu": Multimodal Universe's
         * fixed order-4 `healpix=N` layout, for datasets its loaders must read.
         */
        layout: z.enum(LAYOUTS).optional(),
        /** Most rows in one file (default 1,000,000). */
        maxRowsPerFile: z
          .number()
          .int()
          .positive()
          .max(2 ** 31)
          .optional(),
        /** Most uncompressed bytes in one file (default 128 MiB). */
        fileBytes: z.number().int().positive().optional(),
        compression: z.enum(["gzip", "none"]).optional(),
        /** Target uncompressed bytes of one work unit (a resumable, parallel piece). */
        unitBytes: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ColumnSource = z.infer<typeof ColumnSourceSchema>;
export type CatalogSource = z.infer<typeof CatalogSourceSchema>;
export type TileImageSource = z.infer<typeof TileImageSchema>;
export type CutoutImageSource = z.infer<typeof CutoutImageSchema>;
export type SpectrumSource = z.infer<typeof SpectrumSourceSchema>;
export type IfuSource = z.infer<typeof IfuSourceSchema>;
export type BuilderSpec = z.infer<typeof BuilderSpecSchema>;

/** A spec checked and with `root` made absolute. */
export type ResolvedSpec = BuilderSpec & { root: string };

/** Every key a spec's objects can have (at any depth), for "did you mean" on a misspelt one. */
let specKeys: string[] | null = null;

function keysOf(schema: z.ZodTypeAny, into: Set<string>, seen: Set<z.ZodTypeAny>): void {
  if (seen.has(schema)) return;
  seen.add(schema);
  const def = schema._def as {
    innerType?: z.ZodTypeAny;
    schema?: z.ZodTypeAny;
    type?: z.ZodTypeAny;
    options?: z.ZodTypeAny[];
    valueType?: z.ZodTypeAny;
  };
  if (schema instanceof z.ZodObject) {
    for (const [key, value] of Object.entries(schema.shape as Record<string, z.ZodTypeAny>)) {
      into.add(key);
      keysOf(value, into, seen);
    }
  }
  const recordValue = (schema as { valueSchema?: z.ZodTypeAny }).valueSchema;
  for (const inner of [
    def.innerType,
    def.schema,
    def.type,
    def.valueType,
    recordValue,
    ...(def.options ?? []),
  ])
    if (inner instanceof z.ZodType) keysOf(inner, into, seen);
}

/** Edit distance of two short strings (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    row = next;
  }
  return row[b.length]!;
}

/** `"colums" (did you mean "columns"?)`: the nearest known key within two edits, if any. */
function withSuggestion(key: string): string {
  if (specKeys === null) {
    const all = new Set<string>();
    keysOf(BuilderSpecSchema, all, new Set());
    specKeys = [...all];
  }
  let best: string | null = null;
  let bestDistance = 3;
  for (const known of specKeys) {
    const d = editDistance(key.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best === null ? `"${key}"` : `"${key}" (did you mean "${best}"?)`;
}

/** Checks a spec object; `base` resolves a relative `root`. */
export function checkSpec(input: unknown, base: string, where = "builder spec"): ResolvedSpec {
  const parsed = BuilderSpecSchema.safeParse(input);
  if (!parsed.success) {
    // A misspelt key explains the rest ("colums" is also a missing "columns"): say it first.
    const issues = parsed.error.issues;
    const issue = issues.find((i) => i.code === "unrecognized_keys") ?? issues[0];
    const path = issue.path.join(".") || "(top level)";
    const message =
      issue.code === "unrecognized_keys"
        ? `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map(withSuggestion).join(", ")}`
        : issue.message;
    throw new SpecError(`${path}: ${message}`, { file: where });
  }
  const spec = parsed.data;
  for (const name of ["object_id", "ra", "dec"]) {
    if (!Object.hasOwn(spec.catalog.columns, name))
      throw new SpecError(`catalog.columns must map "${name}"`, { file: where });
  }
  const kinds = [spec.image, spec.spectrum, spec.ifu].filter(Boolean).length;
  if (kinds > 1)
    throw new SpecError(
      "a parent dataset has one modality: give at most one of image, spectrum, ifu",
      {
        file: where,
      },
    );
  const root =
    spec.root === undefined ? base : isAbsolute(spec.root) ? spec.root : resolve(base, spec.root);
  return { ...spec, root };
}

/** Reads a JSON spec file; relative paths in it are relative to its directory. */
export async function loadSpec(path: string): Promise<ResolvedSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new SpecError(`cannot read the spec: ${(err as Error).message}`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SpecError(`not valid JSON: ${(err as Error).message}`, { file: path });
  }
  return checkSpec(json, dirname(resolve(path)), path);
}

/** The source column of an output column. */
export function sourceName(src: ColumnSource): string {
  return typeof src === "string" ? src : src.from;
}

/** `{NAME}` placeholders of a path template. */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]);
}

/** Fills a template from a row's values; a value with a path separator or ".." is refused. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^{}]+)\}/g, (_, name: string) => {
    const v = own(values, name) ?? "";
    if (v === "" || v.includes("/") || v.includes("\\") || v === "..")
      throw new SpecError(`template field {${name}} has an unusable value "${v}"`);
    return v;
  });
}
