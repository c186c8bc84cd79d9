// Builder specs of the synthetic surveys (src/synth) the demo builds. They are ordinary specs,
// the same a user would write as JSON for their own survey: `builtinSpecJson` prints them
// (`astropile build --print-spec hsc`). They live with the demo so the builders never depend on
// the synthetic sky.

import {
  type BuilderSpec,
  type ColumnSource,
  checkSpec,
  type ResolvedSpec,
} from "../build/spec.ts";
import { HSC_BANDS } from "../synth/imaging.ts";
import { BAND_NAMES } from "../synth/sed.ts";

export type BuiltinName = "hsc" | "desi" | "manga";

/** The names builtinSpec and builtinSpecJson take. */
export const BUILTIN_NAMES: readonly BuiltinName[] = ["hsc", "desi", "manga"];

/** Synthetic HSC-like imaging: tiles + forced catalog → image dataset. */
export function hscSpec(stampSize = 64): BuilderSpec {
  const columns: Record<string, ColumnSource> = {
    object_id: { from: "object_id", dtype: "int64", description: "HSC object id" },
    ra: "ra",
    dec: "dec",
  };
  for (const b of BAND_NAMES) {
    columns[`forced.${b}_cmodel_mag`] = {
      from: `${b}_cmodel_mag`,
      dtype: "float32",
      unit: "mag",
      description: `CModel magnitude in ${b} (AB); NaN when the flux is not positive`,
    };
    columns[`forced.${b}_cmodel_magerr`] = {
      from: `${b}_cmodel_magerr`,
      dtype: "float32",
      unit: "mag",
      description: `Error of forced.${b}_cmodel_mag`,
    };
  }
  columns["forced.i_extendedness_value"] = {
    from: "i_extendedness_value",
    dtype: "float32",
    description: "1 for extended sources, 0 for point sources (i band)",
  };
  columns.tract = { from: "tract", dtype: "int32", description: "Tract of the object's patch" };
  columns.patch = { from: "patch", dtype: "int32", description: "Patch as 100·x + y" };
  return {
    name: "hsc",
    config: "pdr3_dud",
    provenance: { project: "AstroPile synthetic", survey: "HSC", release: "PDR3-synthetic" },
    catalog: { files: "catalog/*.csv", columns },
    image: {
      kind: "tiles",
      stampSize,
      bands: HSC_BANDS.map((b) => ({
        label: b.label,
        files: `tiles/${b.filter}/**/calexp-*.fits`,
      })),
      hdus: { image: "IMAGE", variance: "VARIANCE", mask: "MASK" },
      maskBad: ["BAD", "SAT", "CR", "NO_DATA"],
      zeropoint: "MAGZERO",
      psfFwhm: "PSFFWHM",
    },
  };
}

/** Synthetic DESI-like spectroscopy: healpix coadds + redshift catalog → spectrum dataset. */
export function desiSpec(): BuilderSpec {
  return {
    name: "desi",
    config: "edr_sv3",
    provenance: { project: "AstroPile synthetic", survey: "DESI", release: "EDR-synthetic" },
    catalog: {
      files: "zcatalog/*.ecsv",
      columns: {
        object_id: { from: "TARGETID", dtype: "int64", description: "DESI TARGETID" },
        ra: "TARGET_RA",
        dec: "TARGET_DEC",
        z: {
          from: "Z",
          dtype: "float64",
          required: true,
          range: [-0.01, 8],
          description: "Redshift",
          standardName: "z",
        },
        z_err: {
          from: "ZERR",
          dtype: "float64",
          range: [0, 10],
          description: "Redshift error",
          standardName: "z_err",
        },
        ZWARN: { from: "ZWARN", dtype: "int64", description: "Redshift warning bits (0 = good)" },
        SPECTYPE: {
          from: "SPECTYPE",
          dtype: "string",
          stringLength: 8,
          description: "GALAXY, STAR or QSO",
        },
      },
    },
    spectrum: {
      file: "spectra/{SURVEY}/{PROGRAM}/{HEALPIX}/coadd-{SURVEY}-{PROGRAM}-{HEALPIX}.fits",
      idHdu: "FIBERMAP",
      idColumn: "TARGETID",
      wavelength: "WAVELENGTH",
      flux: "FLUX",
      ivar: "IVAR",
      mask: "MASK",
      lsfSigma: "LSF_SIGMA",
      fluxUnit: "1e-17 erg/(s cm2 Angstrom)",
    },
  };
}

/** Synthetic MaNGA-like IFU: LOGCUBE + MAPS files and a drpall catalog → IFU dataset. */
export function mangaSpec(): BuilderSpec {
  return {
    name: "manga",
    config: "dr17_synthetic",
    provenance: { project: "AstroPile synthetic", survey: "MaNGA", release: "DR17-synthetic" },
    catalog: {
      files: "drpall-*.ecsv",
      columns: {
        object_id: { from: "MANGAID", dtype: "string", stringLength: 16, description: "MaNGA id" },
        ra: "OBJRA",
        dec: "OBJDEC",
        z: {
          from: "Z",
          dtype: "float64",
          required: true,
          range: [-0.01, 8],
          description: "Redshift",
          standardName: "z",
        },
        plateifu: {
          from: "PLATEIFU",
          dtype: "string",
          stringLength: 16,
          description: "Plate-IFU designation",
        },
      },
    },
    ifu: {
      file: "cubes/manga-{PLATEIFU}-LOGCUBE.fits",
      flux: "FLUX",
      ivar: "IVAR",
      mask: "MASK",
      wavelength: "WAVE",
      lsfSigma: "LSFSIG",
      spaxelSize: "SPAXSIZE",
      maps: [
        { label: "stellar_vel", file: "maps/manga-{PLATEIFU}-MAPS.fits", hdu: "STELLAR_VEL" },
        { label: "ha_flux", file: "maps/manga-{PLATEIFU}-MAPS.fits", hdu: "HA_FLUX" },
      ],
      fluxUnit: "1e-17 erg/(s cm2 Angstrom spaxel)",
    },
  };
}

const BUILTINS: Record<BuiltinName, () => BuilderSpec> = {
  hsc: () => hscSpec(),
  desi: desiSpec,
  manga: mangaSpec,
};

/** The spec of a synthetic survey, resolved against the directory its sources were written to. */
export function builtinSpec(
  name: BuiltinName,
  sourceDir: string,
  options: { stampSize?: number } = {},
): ResolvedSpec {
  const spec = name === "hsc" ? hscSpec(options.stampSize) : BUILTINS[name]();
  return checkSpec(spec, sourceDir, `built-in spec "${name}"`);
}

/** The JSON a user would write for the same survey (root "."). */
export function builtinSpecJson(name: BuiltinName): string {
  return JSON.stringify({ ...BUILTINS[name](), root: "." }, null, 2);
}
