// Image sources: survey tiles with a TAN WCS, from which a stamp of the spec's size is cut per
// band around each object, or per-object cutout files. Pixel values are converted to nanomaggies
// (from the tile's AB zeropoint), variance / sigma planes to inverse variance, and mask planes
// to `image_mask` (true = good pixel: no bad bit set, finite value, ivar > 0). Stamp pixels
// outside the tile are 0 with ivar 0 and mask false.
//
// Planning reads every tile's headers once (WCS, size, zeropoint, PSF FWHM, mask plane names);
// the unit workers then find a band's tile for a position through a HEALPix cell index and read
// only the rows a stamp needs (whole planes are cached when they are small).

import {
  type ColumnSpec,
  type ColumnValues,
  isFiniteFloat32,
  type NumericArray,
} from "../core/columns.ts";
import { FormatError, SchemaError, SpecError } from "../core/errors.ts";
import {
  type FitsFile,
  type FitsHdu,
  type FitsHeader,
  openFits,
  TanWcs,
  type TanWcsParams,
} from "../formats/index.ts";
import { ang2pixNumber, angularSeparationDeg, queryDisc } from "../sky/index.ts";
import { displayPath, globAll } from "./glob.ts";
import type { CutoutImageSource, TileImageSource } from "./spec.ts";

export interface TileInfo {
  band: number;
  path: string;
  wcs: TanWcsParams;
  width: number;
  height: number;
  image: number;
  variance?: number;
  ivar?: number;
  sigma?: number;
  mask?: number;
  /** Multiply pixel values by this to get nanomaggies. */
  toNanomaggies: number;
  psfFwhm: number;
  badBits: number;
  /** arcsec / pixel. */
  scale: number;
  /**
   * Why no stamp may come from this tile (a zeropoint or PSF FWHM that is not physical): the
   * rows it would serve are rejected with this reason. Absent for a usable tile.
   */
  invalid?: string;
}

export interface TileImagePlan {
  kind: "tiles";
  stampSize: number;
  labels: string[];
  tiles: TileInfo[];
}

export function imageColumns(labels: string[], stampSize: number): ColumnSpec[] {
  const shape = [labels.length, stampSize, stampSize];
  const bandLength = Math.max(8, ...labels.map((l) => Buffer.byteLength(l)));
  return [
    {
      name: "image_array",
      dtype: "float32",
      shape,
      unit: "nanomaggy",
      description: "Stamp per band, centred on the object (numpy order: band, y, x)",
    },
    {
      name: "image_ivar",
      dtype: "float32",
      shape,
      unit: "nanomaggy^-2",
      description: "Inverse variance of image_array (0 = no information)",
    },
    {
      name: "image_mask",
      dtype: "bool",
      shape,
      description:
        "true = good pixel (no bad mask bit set, finite value, ivar > 0); false = bad or outside the tile",
    },
    {
      name: "image_band",
      dtype: "string",
      shape: [labels.length],
      stringLength: bandLength,
      description: "Band of each image plane",
    },
    {
      name: "image_psf_fwhm",
      dtype: "float32",
      shape: [labels.length],
      unit: "arcsec",
      description: "PSF FWHM of the tile each stamp was cut from",
    },
    {
      name: "image_scale",
      dtype: "float32",
      shape: [labels.length],
      unit: "arcsec/pixel",
      description: "Pixel scale of each stamp",
    },
  ];
}

/** An HDU by index or EXTNAME, or a SpecError naming the file. */
export function findHdu(file: FitsFile, ref: string | number, path: string, role: string): FitsHdu {
  try {
    return file.hdu(ref);
  } catch {
    const names = file.hdus.map((h, i) => h.name ?? String(i)).join(", ");
    throw new SpecError(`no HDU "${ref}" for the ${role} (HDUs: ${names})`, { file: path });
  }
}

/** AB zeropoints are within (0, 100) mag; anything else is a broken header or spec. */
export const ZEROPOINT_RANGE: readonly [number, number] = [0, 100];

/** Why a zeropoint is not usable, or null. */
export function zeropointProblem(zp: number, source: string): string | null {
  if (Number.isFinite(zp) && zp > ZEROPOINT_RANGE[0] && zp < ZEROPOINT_RANGE[1]) return null;
  return `${source} = ${zp} is not an AB zeropoint in (${ZEROPOINT_RANGE[0]}, ${ZEROPOINT_RANGE[1]})`;
}

/** Why a PSF FWHM (arcsec) is not usable, or null (NaN means not given). */
function psfProblem(fwhm: number, source: string): string | null {
  if (Number.isNaN(fwhm) || (fwhm > 0 && isFiniteFloat32(fwhm))) return null;
  return `${source} = ${fwhm} is not a PSF FWHM in arcsec (finite, > 0)`;
}

function headerNumber(headers: FitsHeader[], key: string, path: string, what: string): number {
  for (const h of headers) {
    const v = h.optionalNumber(key);
    if (v !== undefined) return Number(v);
  }
  throw new SpecError(`header keyword ${key} (${what}) not found`, { file: path });
}

/** Reads the headers of every tile of every band. */
export async function planTiles(spec: TileImageSource, root: string): Promise<TileImagePlan> {
  const tiles: TileInfo[] = [];
  for (const [b, band] of spec.bands.entries()) {
    const files = await globAll(band.files, root);
    if (files.length === 0)
      throw new SpecError(`band ${band.label}: no file matches ${JSON.stringify(band.files)}`, {
        file: root,
      });
    for (const path of files) tiles.push(await tileInfo(spec, b, path));
  }
  return {
    kind: "tiles",
    stampSize: spec.stampSize,
    labels: spec.bands.map((b) => b.label),
    tiles,
  };
}

async function tileInfo(spec: TileImageSource, band: number, path: string): Promise<TileInfo> {
  const file = await openFits(path);
  try {
    const hdus = spec.hdus ?? {};
    const image =
      hdus.image !== undefined
        ? findHdu(file, hdus.image, path, "image")
        : file.hdus.find(
            (h) => (h.kind === "primary" || h.kind === "image") && h.axes.length === 2,
          );
    if (image?.axes.length !== 2)
      throw new FormatError("no 2-D image HDU (set image.hdus.image)", { file: path });
    const headers = [image.header, file.hdus[0].header];
    const wcs = TanWcs.fromHeader(image.header);
    const [[a, b], [c, d]] = wcs.cd;
    const info: TileInfo = {
      band,
      path,
      wcs: { crpix: wcs.crpix, crval: wcs.crval, cd: wcs.cd, lonpole: wcs.lonpole },
      width: image.axes[0],
      height: image.axes[1],
      image: image.index,
      toNanomaggies: 1,
      psfFwhm: Number.NaN,
      badBits: 0,
      scale: Math.sqrt(Math.abs(a * d - b * c)) * 3600,
    };
    for (const role of ["variance", "ivar", "sigma", "mask"] as const) {
      const ref = hdus[role];
      if (ref === undefined) continue;
      const h = findHdu(file, ref, path, role);
      if (h.axes[0] !== info.width || h.axes[1] !== info.height)
        throw new FormatError(
          `${role} HDU is ${h.axes.join("x")}, the image ${info.width}x${info.height}`,
          { file: path, detail: `HDU ${h.index}` },
        );
      info[role] = h.index;
    }
    const zp =
      typeof spec.zeropoint === "number"
        ? spec.zeropoint
        : spec.zeropoint === undefined
          ? 22.5
          : headerNumber(headers, spec.zeropoint, path, "zeropoint");
    const problems: string[] = [];
    const zpBad = zeropointProblem(
      zp,
      typeof spec.zeropoint === "string" ? spec.zeropoint : "zeropoint",
    );
    if (zpBad) problems.push(zpBad);
    info.toNanomaggies = zpBad ? 0 : 10 ** (-0.4 * (zp - 22.5));
    if (typeof spec.psfFwhm === "number") info.psfFwhm = spec.psfFwhm;
    else if (spec.psfFwhm !== undefined) {
      info.psfFwhm = headerNumber(headers, spec.psfFwhm, path, "PSF FWHM");
      const psfBad = psfProblem(info.psfFwhm, spec.psfFwhm);
      if (psfBad) problems.push(psfBad);
    }
    // The header is kept in the plan (the tile's place in the index stays); its rows are refused.
    if (problems.length > 0) info.invalid = problems.join("; ");
    if (info.mask !== undefined) {
      const maskHeader = file.hdus[info.mask].header;
      if (typeof spec.maskBad === "number") info.badBits = spec.maskBad;
      else if (spec.maskBad === undefined) info.badBits = 0xffffffff;
      else
        for (const name of spec.maskBad) {
          const bit = maskHeader.optionalNumber(`MP_${name}`);
          if (bit === undefined)
            throw new SpecError(
              `mask plane ${name} not found (no MP_${name} card in the mask HDU)`,
              {
                file: path,
              },
            );
          info.badBits |= 2 ** Number(bit);
        }
      info.badBits >>>= 0;
    }
    return info;
  } finally {
    await file.close();
  }
}

/** Cell order for the tile index: cells about half a tile across. */
function indexOrder(tiles: TileInfo[]): number {
  if (tiles.length === 0) return 8;
  const t = tiles[0];
  const sizeDeg = (Math.min(t.width, t.height) * t.scale) / 3600;
  // A pixel at order k is ~58.6°/2^k across.
  const k = Math.round(Math.log2(58.6 / Math.max(sizeDeg / 2, 1e-6)));
  return Math.min(16, Math.max(3, k));
}

interface Window {
  /** Rows [y0, y1) of the plane, full width. */
  y0: number;
  y1: number;
  data: NumericArray;
}

/** Reads stamps from tiles: index, open-file and plane caches, all bounded. */
export class TileStamper {
  private readonly plan: TileImagePlan;
  private readonly wcs: TanWcs[];
  private readonly order: number;
  private readonly index = new Map<number, number[]>();
  private readonly files = new Map<string, FitsFile>();
  private readonly planes = new Map<string, NumericArray>();
  private planeBytes = 0;
  private readonly cacheBytes: number;

  constructor(plan: TileImagePlan, cacheBytes = 128 * 2 ** 20) {
    this.plan = plan;
    this.cacheBytes = cacheBytes;
    this.wcs = plan.tiles.map((t) => new TanWcs(t.wcs));
    this.order = indexOrder(plan.tiles);
    for (const [i, t] of plan.tiles.entries()) {
      const w = this.wcs[i];
      const [cra, cdec] = w.pixel0ToSky((t.width - 1) / 2, (t.height - 1) / 2);
      let radius = 0;
      for (const [x, y] of [
        [-0.5, -0.5],
        [t.width - 0.5, -0.5],
        [-0.5, t.height - 0.5],
        [t.width - 0.5, t.height - 0.5],
      ]) {
        const [ra, dec] = w.pixel0ToSky(x, y);
        radius = Math.max(radius, angularSeparationDeg(cra, cdec, ra, dec));
      }
      for (const cell of queryDisc(this.order, cra, cdec, radius * 1.01 + 1e-6)) {
        const key = Number(cell);
        const list = this.index.get(key) ?? [];
        list.push(i);
        this.index.set(key, list);
      }
    }
  }

  get columns(): ColumnSpec[] {
    return imageColumns(this.plan.labels, this.plan.stampSize);
  }

  /**
   * The tile of `band` whose pixel grid holds (ra, dec) farthest from its edges (so the stamp is
   * as complete as it can be), or -1. Usable tiles come first; an unusable one (see
   * TileInfo.invalid) only when no usable tile covers the position, so the row gets its reason.
   */
  chooseTile(band: number, ra: number, dec: number): number {
    const cands = this.index.get(ang2pixNumber(this.order, ra, dec)) ?? [];
    let best = -1;
    let bestMargin = Number.NEGATIVE_INFINITY;
    let bestValid = false;
    for (const i of cands) {
      const t = this.plan.tiles[i];
      if (t.band !== band) continue;
      const [x, y] = this.wcs[i].skyToPixel0(ra, dec);
      if (!(x >= -0.5 && y >= -0.5 && x < t.width - 0.5 && y < t.height - 0.5)) continue;
      const margin = Math.min(x + 0.5, y + 0.5, t.width - 0.5 - x, t.height - 0.5 - y);
      const valid = t.invalid === undefined;
      if ((valid && !bestValid) || (valid === bestValid && margin > bestMargin)) {
        bestMargin = margin;
        best = i;
        bestValid = valid;
      }
    }
    return best;
  }

  private async file(path: string): Promise<FitsFile> {
    let f = this.files.get(path);
    if (f) {
      this.files.delete(path);
      this.files.set(path, f);
      return f;
    }
    // Reads are bounded by this stamper's share of the build's memory budget.
    f = await openFits(path, { maxBytes: Math.max(this.cacheBytes, 16 * 2 ** 20) });
    this.files.set(path, f);
    while (this.files.size > 32) {
      const [oldest, handle] = this.files.entries().next().value as [string, FitsFile];
      this.files.delete(oldest);
      await handle.close();
    }
    return f;
  }

  /** Rows [y0, y1) of an HDU plane: from the cache when the plane is small, else read. */
  private async window(tile: TileInfo, hdu: number, y0: number, y1: number): Promise<Window> {
    const bytes = tile.width * tile.height * 8;
    const key = `${tile.path}#${hdu}`;
    const cached = this.planes.get(key);
    if (cached) {
      this.planes.delete(key);
      this.planes.set(key, cached);
      return { y0: 0, y1: tile.height, data: cached };
    }
    const file = await this.file(tile.path);
    if (bytes <= this.cacheBytes / 8) {
      const img = await file.hdus[hdu].readImage();
      this.planes.set(key, img.data);
      this.planeBytes += img.data.byteLength;
      while (this.planeBytes > this.cacheBytes && this.planes.size > 1) {
        const [oldest, data] = this.planes.entries().next().value as [string, NumericArray];
        this.planes.delete(oldest);
        this.planeBytes -= data.byteLength;
      }
      return { y0: 0, y1: tile.height, data: img.data };
    }
    const img = await file.hdus[hdu].readImage({ planes: [y0, y1] });
    return { y0, y1, data: img.data };
  }

  /**
   * Fills row `row` of the image columns for an object at (ra, dec). Returns null when done, or
   * the reason the object cannot have a stamp.
   */
  async stamp(
    out: Record<string, ColumnValues>,
    row: number,
    ra: number,
    dec: number,
  ): Promise<string | null> {
    const { stampSize: S, labels } = this.plan;
    const nb = labels.length;
    const choice: number[] = [];
    for (let b = 0; b < nb; b++) {
      const t = this.chooseTile(b, ra, dec);
      if (t < 0) return `no ${labels[b]} tile covers (${ra.toFixed(6)}, ${dec.toFixed(6)})`;
      const bad = this.plan.tiles[t].invalid;
      if (bad) return `${labels[b]} tile ${this.plan.tiles[t].path}: ${bad}`;
      choice.push(t);
    }
    const flux = out.image_array as Float32Array;
    const ivar = out.image_ivar as Float32Array;
    const mask = out.image_mask as Uint8Array;
    for (let b = 0; b < nb; b++) {
      const ti = choice[b];
      const t = this.plan.tiles[ti];
      const [px, py] = this.wcs[ti].skyToPixel0(ra, dec);
      // Same convention as the WCS cutout (astropy Cutout2D): for even sizes the object falls in
      // the central 2×2 pixels.
      const x0 = Math.ceil(px - S / 2);
      const y0 = Math.ceil(py - S / 2);
      const ya = Math.max(0, y0);
      const yb = Math.min(t.height, y0 + S);
      const base = (row * nb + b) * S * S;
      flux.fill(0, base, base + S * S);
      ivar.fill(0, base, base + S * S);
      mask.fill(0, base, base + S * S);
      (out.image_band as string[])[row * nb + b] = labels[b];
      (out.image_psf_fwhm as Float32Array)[row * nb + b] = t.psfFwhm;
      (out.image_scale as Float32Array)[row * nb + b] = t.scale;
      if (ya >= yb) continue;
      const img = await this.window(t, t.image, ya, yb);
      const noise =
        t.variance !== undefined
          ? { kind: "variance", w: await this.window(t, t.variance, ya, yb) }
          : t.ivar !== undefined
            ? { kind: "ivar", w: await this.window(t, t.ivar, ya, yb) }
            : t.sigma !== undefined
              ? { kind: "sigma", w: await this.window(t, t.sigma, ya, yb) }
              : null;
      const m = t.mask !== undefined ? await this.window(t, t.mask, ya, yb) : null;
      const f = t.toNanomaggies;
      for (let y = ya; y < yb; y++) {
        for (let x = Math.max(0, x0); x < Math.min(t.width, x0 + S); x++) {
          const at = base + (y - y0) * S + (x - x0);
          const src = (y - img.y0) * t.width + x;
          const v = Number(img.data[src]) * f;
          let iv = 0;
          if (noise) {
            const n = Number(noise.w.data[(y - noise.w.y0) * t.width + x]);
            if (noise.kind === "variance") iv = n > 0 && Number.isFinite(n) ? 1 / (n * f * f) : 0;
            else if (noise.kind === "sigma")
              iv = n > 0 && Number.isFinite(n) ? 1 / (n * n * f * f) : 0;
            else iv = n > 0 && Number.isFinite(n) ? n / (f * f) : 0;
          } else iv = Number.isFinite(v) ? 1 : 0;
          const bits = m ? Number(m.data[(y - m.y0) * t.width + x]) : 0;
          // Stored as float32: a value or an ivar that does not fit there (or NaN) is no
          // information, never +inf: the pixel gets flux 0, ivar 0, mask false.
          const finite = isFiniteFloat32(v);
          if (!(iv > 0 && isFiniteFloat32(iv))) iv = 0;
          flux[at] = finite ? v : 0;
          ivar[at] = finite ? iv : 0;
          mask[at] = finite && iv > 0 && ((bits >>> 0) & t.badBits) === 0 ? 1 : 0;
        }
      }
    }
    return null;
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.close();
    this.files.clear();
    this.planes.clear();
  }
}

/** Stamps from per-object cutout files (one file per object, one HDU per band). */
export interface CutoutImagePlan {
  kind: "cutouts";
  spec: CutoutImageSource;
  labels: string[];
  stampSize: number;
}

export function planCutouts(spec: CutoutImageSource): CutoutImagePlan {
  return {
    kind: "cutouts",
    spec,
    labels: spec.bands.map((b) => b.label),
    stampSize: spec.stampSize,
  };
}

/** Reads one object's cutout file into row `row` of the image columns. */
export async function readCutout(
  plan: CutoutImagePlan,
  path: string,
  root: string,
  out: Record<string, ColumnValues>,
  row: number,
): Promise<string | null> {
  const { spec, stampSize: S, labels } = plan;
  const nb = labels.length;
  let file: FitsFile;
  try {
    file = await openFits(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || /ENOENT/.test((err as Error).message))
      return `cutout file ${displayPath(path, root)} does not exist`;
    throw err;
  }
  try {
    for (const [b, band] of spec.bands.entries()) {
      const hdu = findHdu(file, band.hdu, path, `band ${band.label}`);
      if (hdu.axes.length !== 2 || hdu.axes[0] !== S || hdu.axes[1] !== S)
        throw new SchemaError(
          `band ${band.label} image is ${hdu.axes.join("x")}, the spec says ${S}x${S}`,
          {
            file: path,
            detail: `HDU ${hdu.index}`,
          },
        );
      const headers = [hdu.header, file.hdus[0].header];
      const zp =
        typeof spec.zeropoint === "number"
          ? spec.zeropoint
          : spec.zeropoint === undefined
            ? 22.5
            : headerNumber(headers, spec.zeropoint, path, "zeropoint");
      const zpBad = zeropointProblem(
        zp,
        typeof spec.zeropoint === "string" ? spec.zeropoint : "zeropoint",
      );
      if (zpBad) return `cutout file ${displayPath(path, root)} band ${band.label}: ${zpBad}`;
      const f = 10 ** (-0.4 * (zp - 22.5));
      const img = (await hdu.readImage()).data;
      const iv =
        band.ivar !== undefined
          ? (await findHdu(file, band.ivar, path, "ivar").readImage()).data
          : null;
      const va =
        band.variance !== undefined
          ? (await findHdu(file, band.variance, path, "variance").readImage()).data
          : null;
      const mk =
        band.mask !== undefined
          ? (await findHdu(file, band.mask, path, "mask").readImage()).data
          : null;
      const base = (row * nb + b) * S * S;
      const flux = out.image_array as Float32Array;
      const ivar = out.image_ivar as Float32Array;
      const mask = out.image_mask as Uint8Array;
      for (let k = 0; k < S * S; k++) {
        const v = Number(img[k]) * f;
        let w = 1;
        if (iv) w = Number(iv[k]) / (f * f);
        else if (va) w = Number(va[k]) > 0 ? 1 / (Number(va[k]) * f * f) : 0;
        if (!(w > 0 && isFiniteFloat32(w))) w = 0;
        const bad = mk ? (Number(mk[k]) >>> 0) & (spec.maskBad ?? 0xffffffff) : 0;
        const finite = isFiniteFloat32(v);
        flux[base + k] = finite ? v : 0;
        ivar[base + k] = finite ? w : 0;
        mask[base + k] = finite && w > 0 && bad === 0 ? 1 : 0;
      }
      let scale = spec.pixelScale ?? Number.NaN;
      try {
        const wcs = TanWcs.fromHeader(hdu.header);
        const [[a, bb], [c, d]] = wcs.cd;
        scale = Math.sqrt(Math.abs(a * d - bb * c)) * 3600;
      } catch {
        // No WCS in the cutout: the spec's pixelScale (or NaN) stands.
      }
      (out.image_band as string[])[row * nb + b] = band.label;
      const fwhm =
        typeof spec.psfFwhm === "number"
          ? spec.psfFwhm
          : spec.psfFwhm === undefined
            ? Number.NaN
            : headerNumber(headers, spec.psfFwhm, path, "PSF FWHM");
      const psfBad = psfProblem(fwhm, typeof spec.psfFwhm === "string" ? spec.psfFwhm : "psfFwhm");
      if (psfBad) return `cutout file ${displayPath(path, root)} band ${band.label}: ${psfBad}`;
      (out.image_psf_fwhm as Float32Array)[row * nb + b] = fwhm;
      (out.image_scale as Float32Array)[row * nb + b] = scale;
    }
    return null;
  } finally {
    await file.close();
  }
}
