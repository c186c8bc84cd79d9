// Spectrum sources: files holding one or many spectra (DESI coadds: a table HDU lists the
// objects, image HDUs hold one row per object; SDSS-style per-object files: one row). The file
// of an object comes from a path template filled with its catalog values; its row from the
// file's id column matched to object_id by value. Spectra shorter than the stored length L are
// padded as Multimodal Universe pads them (lambda −1, ivar 0, mask true, flux and lsf repeating
// the last value); longer ones are refused.
import { stat } from "node:fs/promises";
import {
  type ColumnSpec,
  type ColumnValues,
  isFiniteFloat32,
  type NumericArray,
} from "../core/columns.ts";
import { FormatError, SpecError } from "../core/errors.ts";
import { type FitsFile, type FitsHdu, openFits } from "../formats/index.ts";
import { displayPath } from "./glob.ts";
import { findHdu } from "./image.ts";
import type { SpectrumSource } from "./spec.ts";

export interface SpectrumPlan {
  kind: "spectrum";
  length: number;
  fluxUnit: string;
}

export function spectrumColumns(L: number, fluxUnit: string): ColumnSpec[] {
  return [
    {
      name: "spectrum_flux",
      dtype: "float32",
      shape: [L],
      unit: fluxUnit,
      description: "Flux density",
    },
    {
      name: "spectrum_ivar",
      dtype: "float32",
      shape: [L],
      unit: `(${fluxUnit})^-2`,
      description: "Inverse variance of spectrum_flux (0 = no information)",
    },
    {
      name: "spectrum_lambda",
      dtype: "float32",
      shape: [L],
      unit: "Angstrom",
      description: "Wavelength of each pixel (vacuum as delivered by the survey); -1 in padding",
    },
    {
      name: "spectrum_lsf_sigma",
      dtype: "float32",
      shape: [L],
      unit: "Angstrom",
      description: "Gaussian sigma of the line-spread function at each pixel",
    },
    {
      name: "spectrum_mask",
      dtype: "bool",
      shape: [L],
      description: "true = bad pixel (survey mask set, ivar 0, or padding)",
    },
  ];
}

/** The stored length: the spec's, or the wavelength HDU length of the first file. */
export async function planSpectrum(
  spec: SpectrumSource,
  firstFile: string | null,
): Promise<SpectrumPlan> {
  const fluxUnit = spec.fluxUnit ?? "1e-17 erg/(s cm2 Angstrom)";
  if (spec.length) return { kind: "spectrum", length: spec.length, fluxUnit };
  if (!firstFile)
    throw new SpecError(
      "no spectrum file found to learn the spectrum length from; set spectrum.length",
    );
  const file = await openFits(firstFile);
  try {
    const hdu = findHdu(file, spec.wavelength, firstFile, "wavelength");
    const axes = hdu.axes;
    if (axes.length < 1 || axes[0] < 1)
      throw new FormatError("wavelength HDU is empty", { file: firstFile });
    return { kind: "spectrum", length: axes[0], fluxUnit };
  } finally {
    await file.close();
  }
}

interface OpenSpectra {
  file: FitsFile;
  /** id (as text) → row. */
  rows: Map<string, number>;
  /** Shared 1-D wavelength, or null when it has one row per object. */
  lambda: NumericArray | null;
  hdus: Record<string, FitsHdu | undefined>;
}

/** Reads spectra rows from their files, keeping a few files open. */
export class SpectrumReader {
  private readonly open = new Map<string, OpenSpectra>();

  constructor(
    private readonly spec: SpectrumSource,
    private readonly plan: SpectrumPlan,
    private readonly root: string,
  ) {}

  get columns(): ColumnSpec[] {
    return spectrumColumns(this.plan.length, this.plan.fluxUnit);
  }

  private async get(path: string): Promise<OpenSpectra | string> {
    const cached = this.open.get(path);
    if (cached) return cached;
    try {
      await stat(path);
    } catch {
      return `spectrum file ${displayPath(path, this.root)} does not exist`;
    }
    const file = await openFits(path);
    try {
      const s = this.spec;
      const hdus: OpenSpectra["hdus"] = {
        flux: findHdu(file, s.flux, path, "flux"),
        ivar: s.ivar !== undefined ? findHdu(file, s.ivar, path, "ivar") : undefined,
        variance:
          s.variance !== undefined ? findHdu(file, s.variance, path, "variance") : undefined,
        sigma: s.sigma !== undefined ? findHdu(file, s.sigma, path, "sigma") : undefined,
        mask: s.mask !== undefined ? findHdu(file, s.mask, path, "mask") : undefined,
        lsf: s.lsfSigma !== undefined ? findHdu(file, s.lsfSigma, path, "lsf_sigma") : undefined,
        lambda: findHdu(file, s.wavelength, path, "wavelength"),
      };
      const idHdu = findHdu(file, s.idHdu ?? 1, path, "id table");
      const table = idHdu.table();
      const rows = new Map<string, number>();
      for await (const b of table.rows(undefined, { columns: [s.idColumn] })) {
        const ids = b.columns[s.idColumn];
        for (let r = 0; r < b.rows; r++) {
          const v = ids[r];
          rows.set(typeof v === "string" ? v.trim() : String(v), b.startRow + r);
        }
      }
      const width = hdus.flux!.axes[0];
      for (const [role, h] of Object.entries(hdus)) {
        if (!h || role === "lambda") continue;
        if (h.axes[0] !== width)
          throw new FormatError(`${role} HDU rows have ${h.axes[0]} pixels, flux rows ${width}`, {
            file: path,
            detail: `HDU ${h.index}`,
          });
      }
      const lambdaHdu = hdus.lambda!;
      const lambda = lambdaHdu.axes.length === 1 ? (await lambdaHdu.readImage()).data : null;
      if (lambda && lambda.length !== width)
        throw new FormatError(`wavelength has ${lambda.length} pixels, flux rows ${width}`, {
          file: path,
        });
      const entry = { file, rows, lambda, hdus };
      this.open.set(path, entry);
      while (this.open.size > 8) {
        const [oldest, o] = this.open.entries().next().value as [string, OpenSpectra];
        this.open.delete(oldest);
        await o.file.close();
      }
      return entry;
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Fills row `row` of the spectrum columns with object `id`'s spectrum from `path`. */
  async read(
    path: string,
    id: string,
    out: Record<string, ColumnValues>,
    row: number,
  ): Promise<string | null> {
    const entry = await this.get(path);
    if (typeof entry === "string") return entry;
    const r = entry.rows.get(id);
    if (r === undefined)
      return `${this.spec.idColumn} ${id} not found in ${displayPath(path, this.root)}`;
    const L = this.plan.length;
    const readRow = async (h: FitsHdu | undefined) =>
      h
        ? h.axes.length === 1
          ? (await h.readImage()).data
          : (await h.readImage({ planes: [r, r + 1] })).data
        : null;
    const flux = (await readRow(entry.hdus.flux))!;
    const n = flux.length;
    if (n > L) return `spectrum has ${n} pixels, more than the stored length ${L}`;
    const lambda = entry.lambda ?? (await readRow(entry.hdus.lambda))!;
    const ivar = await readRow(entry.hdus.ivar);
    const variance = await readRow(entry.hdus.variance);
    const sigma = await readRow(entry.hdus.sigma);
    const mask = await readRow(entry.hdus.mask);
    const lsf = await readRow(entry.hdus.lsf);
    const F = out.spectrum_flux as Float32Array;
    const I = out.spectrum_ivar as Float32Array;
    const W = out.spectrum_lambda as Float32Array;
    const S = out.spectrum_lsf_sigma as Float32Array;
    const M = out.spectrum_mask as Uint8Array;
    const base = row * L;
    for (let k = 0; k < n; k++) {
      const f = Number(flux[k]);
      let w: number;
      if (ivar) w = Number(ivar[k]);
      else if (variance) w = Number(variance[k]) > 0 ? 1 / Number(variance[k]) : 0;
      else if (sigma) w = Number(sigma[k]) > 0 ? 1 / Number(sigma[k]) ** 2 : 0;
      else w = 1;
      if (!(w > 0 && isFiniteFloat32(w))) w = 0;
      const finite = isFiniteFloat32(f);
      F[base + k] = finite ? f : 0;
      I[base + k] = finite ? w : 0;
      W[base + k] = Number(lambda[k]);
      S[base + k] = lsf ? Number(lsf[k]) : Number.NaN;
      M[base + k] = !finite || w === 0 || (mask !== null && Number(mask[k]) !== 0) ? 1 : 0;
    }
    for (let k = n; k < L; k++) {
      F[base + k] = n > 0 ? F[base + n - 1] : 0;
      I[base + k] = 0;
      W[base + k] = -1;
      S[base + k] = n > 0 ? S[base + n - 1] : Number.NaN;
      M[base + k] = 1;
    }
    return null;
  }

  async close(): Promise<void> {
    for (const o of this.open.values()) await o.file.close();
    this.open.clear();
  }
}
