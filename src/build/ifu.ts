// IFU sources (MaNGA-like): one cube file per object (FLUX, IVAR, MASK cubes stored by FITS as
// [wavelength, y, x], a 1-D wavelength HDU, an LSF sigma), plus derived 2-D maps in other files.
// Stored as flat per-object columns, spaxel spectra contiguous (the schema's IFU layout):
//   ifu_flux, ifu_ivar float32 [n, n, L]; ifu_mask bool [n, n, L] (true = bad);
//   ifu_lambda, ifu_lsf_sigma float32 [L]; spaxel_size float32 (arcsec); ifu_map_<label> [n, n].
// Cubes smaller than n×n are centred and padded (ivar 0, mask true); larger ones are refused.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { type ColumnSpec, type ColumnValues, isFiniteFloat32 } from "../core/columns.ts";
import { FormatError, SpecError } from "../core/errors.ts";
import { type FitsFile, openFits } from "../formats/index.ts";
import { displayPath } from "./glob.ts";
import { findHdu } from "./image.ts";
import { fillTemplate, type IfuSource } from "./spec.ts";

export interface IfuPlan {
  kind: "ifu";
  spaxels: number;
  length: number;
  maps: string[];
  fluxUnit: string;
}

export function ifuColumns(plan: IfuPlan): ColumnSpec[] {
  const { spaxels: n, length: L, fluxUnit } = plan;
  return [
    {
      name: "ifu_flux",
      dtype: "float32",
      shape: [n, n, L],
      unit: fluxUnit,
      description: "Flux per spaxel (y, x, wavelength)",
    },
    {
      name: "ifu_ivar",
      dtype: "float32",
      shape: [n, n, L],
      unit: `(${fluxUnit})^-2`,
      description: "Inverse variance of ifu_flux (0 = no information)",
    },
    {
      name: "ifu_mask",
      dtype: "bool",
      shape: [n, n, L],
      description: "true = bad (survey mask set, ivar 0, or padding outside the cube)",
    },
    {
      name: "ifu_lambda",
      dtype: "float32",
      shape: [L],
      unit: "Angstrom",
      description: "Wavelength of each cube plane",
    },
    {
      name: "ifu_lsf_sigma",
      dtype: "float32",
      shape: [L],
      unit: "Angstrom",
      description: "Gaussian sigma of the line-spread function (central spaxel when it varies)",
    },
    {
      name: "spaxel_size",
      dtype: "float32",
      shape: [],
      unit: "arcsec",
      description: "Spaxel side",
    },
    ...plan.maps.map(
      (label): ColumnSpec => ({
        name: `ifu_map_${label}`,
        dtype: "float32",
        shape: [n, n],
        description: `Derived map "${label}" (y, x), as the survey's maps file gives it`,
      }),
    ),
  ];
}

/** Cube size and length: the spec's, or the first cube's. */
export async function planIfu(spec: IfuSource, firstCube: string | null): Promise<IfuPlan> {
  const fluxUnit = spec.fluxUnit ?? "1e-17 erg/(s cm2 Angstrom spaxel)";
  const maps = (spec.maps ?? []).map((m) => m.label);
  for (const label of maps)
    if (!/^[A-Za-z0-9_]+$/.test(label))
      throw new SpecError(`map label "${label}" must be letters, digits and _`);
  if (spec.spaxels && spec.length)
    return { kind: "ifu", spaxels: spec.spaxels, length: spec.length, maps, fluxUnit };
  if (!firstCube)
    throw new SpecError(
      "no cube file found to learn the cube size from; set ifu.spaxels and ifu.length",
    );
  const f = await openFits(firstCube);
  try {
    const h = findHdu(f, spec.flux, firstCube, "flux");
    if (h.axes.length !== 3)
      throw new FormatError(`flux HDU has ${h.axes.length} axes, a cube has 3`, {
        file: firstCube,
      });
    return {
      kind: "ifu",
      spaxels: spec.spaxels ?? Math.max(h.axes[0], h.axes[1]),
      length: spec.length ?? h.axes[2],
      maps,
      fluxUnit,
    };
  } finally {
    await f.close();
  }
}

/** Planes read at a time from a cube: bounds the extra memory next to the output row. */
const PLANES_PER_READ = 256;

export class IfuReader {
  constructor(
    private readonly spec: IfuSource,
    private readonly plan: IfuPlan,
    private readonly root: string,
  ) {}

  get columns(): ColumnSpec[] {
    return ifuColumns(this.plan);
  }

  /** Fills row `row` of the IFU columns from the cube at `path` (and its maps). */
  async read(
    path: string,
    values: Record<string, string>,
    out: Record<string, ColumnValues>,
    row: number,
  ): Promise<string | null> {
    try {
      await stat(path);
    } catch {
      return `cube file ${displayPath(path, this.root)} does not exist`;
    }
    const { spaxels: n, length: L } = this.plan;
    const f: FitsFile = await openFits(path);
    try {
      const fluxHdu = findHdu(f, this.spec.flux, path, "flux");
      if (fluxHdu.axes.length !== 3)
        throw new FormatError(`flux HDU has ${fluxHdu.axes.length} axes, a cube has 3`, {
          file: path,
        });
      const [nx, ny, nl] = fluxHdu.axes;
      if (nx > n || ny > n || nl > L)
        return `cube is ${nx}x${ny}x${nl}, larger than the stored ${n}x${n}x${L}`;
      const ox = Math.floor((n - nx) / 2);
      const oy = Math.floor((n - ny) / 2);
      const F = out.ifu_flux as Float32Array;
      const I = out.ifu_ivar as Float32Array;
      const M = out.ifu_mask as Uint8Array;
      const base = row * n * n * L;
      F.fill(0, base, base + n * n * L);
      I.fill(0, base, base + n * n * L);
      M.fill(1, base, base + n * n * L);
      const ivarHdu =
        this.spec.ivar !== undefined ? findHdu(f, this.spec.ivar, path, "ivar") : null;
      const maskHdu =
        this.spec.mask !== undefined ? findHdu(f, this.spec.mask, path, "mask") : null;
      for (const h of [ivarHdu, maskHdu]) {
        if (h && h.axes.join("x") !== fluxHdu.axes.join("x"))
          throw new FormatError(
            `HDU ${h.index} is ${h.axes.join("x")}, the flux cube ${fluxHdu.axes.join("x")}`,
            { file: path },
          );
      }
      // FITS order [λ][y][x] → stored [y][x][λ], a slab of planes at a time.
      for (let k0 = 0; k0 < nl; k0 += PLANES_PER_READ) {
        const k1 = Math.min(nl, k0 + PLANES_PER_READ);
        const flux = (await fluxHdu.readImage({ planes: [k0, k1] })).data;
        const ivar = ivarHdu ? (await ivarHdu.readImage({ planes: [k0, k1] })).data : null;
        const mask = maskHdu ? (await maskHdu.readImage({ planes: [k0, k1] })).data : null;
        for (let k = k0; k < k1; k++) {
          for (let y = 0; y < ny; y++) {
            for (let x = 0; x < nx; x++) {
              const src = (k - k0) * nx * ny + y * nx + x;
              const dst = base + ((y + oy) * n + (x + ox)) * L + k;
              const v = Number(flux[src]);
              let w = ivar ? Number(ivar[src]) : 1;
              if (!(w > 0 && isFiniteFloat32(w))) w = 0;
              const finite = isFiniteFloat32(v);
              F[dst] = finite ? v : 0;
              I[dst] = finite ? w : 0;
              M[dst] = !finite || w === 0 || (mask !== null && Number(mask[src]) !== 0) ? 1 : 0;
            }
          }
        }
      }
      const lambda = (await findHdu(f, this.spec.wavelength, path, "wavelength").readImage()).data;
      if (lambda.length !== nl)
        throw new FormatError(`wavelength has ${lambda.length} values, the cube ${nl} planes`, {
          file: path,
        });
      const W = out.ifu_lambda as Float32Array;
      const S = out.ifu_lsf_sigma as Float32Array;
      for (let k = 0; k < L; k++) W[row * L + k] = k < nl ? Number(lambda[k]) : -1;
      if (this.spec.lsfSigma !== undefined) {
        const h = findHdu(f, this.spec.lsfSigma, path, "lsf_sigma");
        let lsf: ArrayLike<number | bigint>;
        if (h.axes.length === 1) lsf = (await h.readImage()).data;
        else {
          // A per-spaxel LSF cube: keep the central spaxel's.
          const all = (await h.readImage()).data;
          const cx = Math.floor(nx / 2);
          const cy = Math.floor(ny / 2);
          lsf = Array.from({ length: nl }, (_, k) => Number(all[k * nx * ny + cy * nx + cx]));
        }
        for (let k = 0; k < L; k++) S[row * L + k] = k < nl ? Number(lsf[k]) : Number.NaN;
      } else S.fill(Number.NaN, row * L, (row + 1) * L);
      const size = this.spec.spaxelSize;
      (out.spaxel_size as Float32Array)[row] =
        typeof size === "number"
          ? size
          : size === undefined
            ? Number.NaN
            : Number(
                f.hdus.map((h) => h.header.optionalNumber(size)).find((v) => v !== undefined) ??
                  Number.NaN,
              );
    } finally {
      await f.close();
    }
    for (const m of this.spec.maps ?? []) {
      const mapPath = join(this.root, fillTemplate(m.file, values));
      try {
        await stat(mapPath);
      } catch {
        return `maps file ${displayPath(mapPath, this.root)} does not exist`;
      }
      const mf = await openFits(mapPath);
      try {
        const h = findHdu(mf, m.hdu, mapPath, `map ${m.label}`);
        const [mx, my] = h.axes;
        if (h.axes.length !== 2 || mx > n || my > n)
          return `map ${m.label} is ${h.axes.join("x")}, not a 2-D map within ${n}x${n}`;
        const data = (await h.readImage()).data;
        const outMap = out[`ifu_map_${m.label}`] as Float32Array;
        const base = row * n * n;
        outMap.fill(Number.NaN, base, base + n * n);
        const ox = Math.floor((n - mx) / 2);
        const oy = Math.floor((n - my) / 2);
        for (let y = 0; y < my; y++)
          for (let x = 0; x < mx; x++)
            outMap[base + (y + oy) * n + x + ox] = Number(data[y * mx + x]);
      } finally {
        await mf.close();
      }
    }
    return null;
  }

  async close(): Promise<void> {}
}
