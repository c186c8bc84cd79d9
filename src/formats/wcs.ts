// World coordinates for the TAN (gnomonic) projection, as FITS WCS Papers I and II define it
// (Greisen & Calabretta 2002, Calabretta & Greisen 2002), checked against astropy.wcs (wcslib).
//
// Pixel conventions: FITS pixel coordinates are 1-based — the centre of the first pixel is
// (1, 1) and CRPIX is given that way. numpy/astropy `origin=0` and array indices are 0-based:
// the first pixel's centre is (0, 0). The helpers say which they take: `pixel1ToSky` /
// `skyToPixel1` (FITS, 1-based), `pixel0ToSky` / `skyToPixel0` (array indices, 0-based).
// x runs along NAXIS1 (the last numpy axis, the column), y along NAXIS2 (the row).
//
// The spherical rotation is done with direction cosines rather than asin/acos so positions
// near the poles keep full precision. Not supported: SIP and other distortions, projections
// other than TAN, CUNIT other than degrees.

import type { NumericArray } from "../core/columns.ts";
import { FormatError, UsageError } from "../core/errors.ts";
import type { FitsCardInput, FitsHeader } from "./fits-header.ts";

const R2D = 180 / Math.PI;
const D2R = Math.PI / 180;

/** sin and cos of degrees, exact at multiples of 90° (as wcslib's sind/cosd). */
function sinCosDeg(deg: number): [number, number] {
  const r = ((deg % 360) + 360) % 360;
  if (r === 0) return [0, 1];
  if (r === 90) return [1, 0];
  if (r === 180) return [0, -1];
  if (r === 270) return [-1, 0];
  return [Math.sin(deg * D2R), Math.cos(deg * D2R)];
}

export type Matrix2 = [[number, number], [number, number]];

export interface TanWcsParams {
  /** Reference pixel, 1-based FITS convention [CRPIX1, CRPIX2]. */
  crpix: [number, number];
  /** Reference sky position in degrees [longitude (RA), latitude (Dec)]. */
  crval: [number, number];
  /** Degrees per pixel: intermediate (x, y) = cd · (p − crpix), rows x then y. */
  cd: Matrix2;
  /** Native longitude of the celestial pole (LONPOLE); default 180° (0° when Dec₀ = 90°). */
  lonpole?: number;
  /** CTYPE1/2 names, default RA---TAN / DEC--TAN. */
  ctype?: [string, string];
  radesys?: string;
  equinox?: number;
}

export class TanWcs {
  readonly crpix: [number, number];
  readonly crval: [number, number];
  readonly cd: Matrix2;
  readonly lonpole: number;
  readonly ctype: [string, string];
  readonly radesys: string | undefined;
  readonly equinox: number | undefined;
  private readonly inverse: Matrix2;
  private readonly sinDp: number;
  private readonly cosDp: number;
  private readonly sinPhiP: number;
  private readonly cosPhiP: number;

  constructor(params: TanWcsParams) {
    this.crpix = [...params.crpix];
    this.crval = [...params.crval];
    this.cd = [[...params.cd[0]], [...params.cd[1]]];
    this.ctype = params.ctype ?? ["RA---TAN", "DEC--TAN"];
    this.radesys = params.radesys;
    this.equinox = params.equinox;
    const all = [...this.crpix, ...this.crval, ...this.cd[0], ...this.cd[1]];
    if (!all.every(Number.isFinite)) throw new UsageError("WCS parameters must be finite numbers");
    if (Math.abs(this.crval[1]) > 90)
      throw new UsageError(`CRVAL2 = ${this.crval[1]} is not a latitude`);
    const [[a, b], [c, d]] = this.cd;
    const det = a * d - b * c;
    if (det === 0) throw new UsageError("WCS matrix is singular");
    this.inverse = [
      [d / det, -b / det],
      [-c / det, a / det],
    ];
    this.lonpole = params.lonpole ?? (this.crval[1] < 90 ? 180 : 0);
    [this.sinDp, this.cosDp] = sinCosDeg(this.crval[1]);
    [this.sinPhiP, this.cosPhiP] = sinCosDeg(this.lonpole);
  }

  /**
   * Reads a TAN WCS from a FITS header: CDi_j, or PCi_j with CDELTi, or CROTA2 with CDELTi (in
   * that order of precedence, as wcslib), CRPIXi, CRVALi, LONPOLE, RADESYS, EQUINOX.
   */
  static fromHeader(header: FitsHeader): TanWcs {
    const where = {
      file: header.place.file,
      detail: header.place.hdu === undefined ? undefined : `HDU ${header.place.hdu}`,
    };
    const num = (k: string, fallback: number): number => {
      const v = header.optionalNumber(k);
      return v === undefined ? fallback : Number(v);
    };
    const ctype1 = (header.optionalString("CTYPE1") ?? "").trim().toUpperCase();
    const ctype2 = (header.optionalString("CTYPE2") ?? "").trim().toUpperCase();
    for (const t of [ctype1, ctype2]) {
      if (t.length < 8 || t.slice(4) !== "-TAN") {
        throw new FormatError(
          `CTYPE '${t}': only the TAN projection without distortions is supported`,
          where,
        );
      }
    }
    const latFirst = /^(DEC|.LAT)/.test(ctype1);
    if (latFirst === /^(DEC|.LAT)/.test(ctype2)) {
      throw new FormatError(
        `CTYPE1 '${ctype1}' and CTYPE2 '${ctype2}' are not a longitude/latitude pair`,
        where,
      );
    }
    for (const k of ["CUNIT1", "CUNIT2"]) {
      const u = header.optionalString(k)?.trim();
      if (u && u.toLowerCase() !== "deg")
        throw new FormatError(`${k} = '${u}': only degrees are supported`, where);
    }
    const crpix: [number, number] = [num("CRPIX1", 0), num("CRPIX2", 0)];
    const crval: [number, number] = [num("CRVAL1", 0), num("CRVAL2", 0)];
    const has = (re: RegExp) => header.cards.some((c) => re.test(c.keyword.trim().toUpperCase()));
    let m: Matrix2;
    if (has(/^PC0*[12]_0*[12]$/) || !has(/^CD0*[12]_0*[12]$/)) {
      const cdelt = [num("CDELT1", 1), num("CDELT2", 1)];
      let pc: Matrix2 = [
        [num("PC1_1", 1), num("PC1_2", 0)],
        [num("PC2_1", 0), num("PC2_2", 1)],
      ];
      if (!has(/^PC0*[12]_0*[12]$/) && (header.has("CROTA2") || header.has("CROTA1"))) {
        // Paper II eq. 189: the rotation applies to the latitude axis.
        const rho = num(latFirst ? "CROTA1" : "CROTA2", num(latFirst ? "CROTA2" : "CROTA1", 0));
        const [s, c] = sinCosDeg(rho);
        const lam = cdelt[1] / cdelt[0];
        pc = [
          [c, -s * lam],
          [s / lam, c],
        ];
      }
      m = [
        [cdelt[0] * pc[0][0], cdelt[0] * pc[0][1]],
        [cdelt[1] * pc[1][0], cdelt[1] * pc[1][1]],
      ];
    } else {
      m = [
        [num("CD1_1", 0), num("CD1_2", 0)],
        [num("CD2_1", 0), num("CD2_2", 0)],
      ];
    }
    const lonpole = header.optionalNumber("LONPOLE");
    const equinox = header.optionalNumber("EQUINOX");
    // Latitude-first axes: swapping the world axes (rows of the matrix, CRVAL, CTYPE) gives the
    // same mapping with the longitude first; pixel axes are untouched.
    const params: TanWcsParams = {
      crpix,
      crval: latFirst ? [crval[1], crval[0]] : crval,
      cd: latFirst ? [m[1], m[0]] : m,
      ctype: latFirst ? [ctype2, ctype1] : [ctype1, ctype2],
    };
    if (lonpole !== undefined) params.lonpole = Number(lonpole);
    const radesys = header.optionalString("RADESYS");
    if (radesys) params.radesys = radesys.trim();
    if (equinox !== undefined) params.equinox = Number(equinox);
    try {
      return new TanWcs(params);
    } catch (e) {
      throw new FormatError((e as Error).message, where);
    }
  }

  /** Sky position (degrees, longitude in [0, 360)) of a 1-based FITS pixel position. */
  pixel1ToSky(x: number, y: number): [number, number] {
    const dx = x - this.crpix[0];
    const dy = y - this.crpix[1];
    const [[a, b], [c, d]] = this.cd;
    return this.intermediateToSky(a * dx + b * dy, c * dx + d * dy);
  }

  /** Sky position of a 0-based pixel position (array indices: x = column, y = row). */
  pixel0ToSky(x: number, y: number): [number, number] {
    return this.pixel1ToSky(x + 1, y + 1);
  }

  /** 1-based FITS pixel position of a sky position; NaN for points 90° or more away. */
  skyToPixel1(lng: number, lat: number): [number, number] {
    const [xi, eta] = this.skyToIntermediate(lng, lat);
    const [[a, b], [c, d]] = this.inverse;
    return [this.crpix[0] + a * xi + b * eta, this.crpix[1] + c * xi + d * eta];
  }

  /** 0-based pixel position (x = column, y = row) of a sky position. */
  skyToPixel0(lng: number, lat: number): [number, number] {
    const [x, y] = this.skyToPixel1(lng, lat);
    return [x - 1, y - 1];
  }

  /** (x, y) in degrees on the projection plane → sky. */
  protected intermediateToSky(x: number, y: number): [number, number] {
    // Native direction cosines relative to the native longitude of the pole (Paper II, 2.3).
    const s = Math.hypot(x, y, R2D);
    const w = R2D / s; // sin θ
    const cp = this.cosPhiP;
    const sp = this.sinPhiP;
    const u = (-y * cp + x * sp) / s; // cos θ cos(φ − φp)
    const v = (x * cp + y * sp) / s; // cos θ sin(φ − φp)
    const east = -v;
    const north = w * this.cosDp - u * this.sinDp;
    const sinDec = w * this.sinDp + u * this.cosDp;
    let lng = this.crval[0] + Math.atan2(east, north) * R2D;
    lng = ((lng % 360) + 360) % 360;
    const lat = Math.atan2(sinDec, Math.hypot(east, north)) * R2D;
    return [lng === 360 ? 0 : lng, lat];
  }

  protected skyToIntermediate(lng: number, lat: number): [number, number] {
    const [sinA, cosA] = sinCosDeg(lng - this.crval[0]);
    const [sinD, cosD] = sinCosDeg(lat);
    const sinTheta = sinD * this.sinDp + cosD * this.cosDp * cosA;
    if (!(sinTheta > 0)) return [Number.NaN, Number.NaN];
    const cs = -cosD * sinA; // cos θ sin(φ − φp)
    const cc = sinD * this.cosDp - cosD * this.sinDp * cosA; // cos θ cos(φ − φp)
    const cosThetaSinPhi = cs * this.cosPhiP + cc * this.sinPhiP;
    const cosThetaCosPhi = cc * this.cosPhiP - cs * this.sinPhiP;
    return [(R2D * cosThetaSinPhi) / sinTheta, (-R2D * cosThetaCosPhi) / sinTheta];
  }

  /** The same projection with the reference pixel moved by (−dx, −dy): a stamp's WCS. */
  shifted(dx: number, dy: number): TanWcs {
    return new TanWcs({ ...this.params(), crpix: [this.crpix[0] - dx, this.crpix[1] - dy] });
  }

  protected params(): TanWcsParams {
    const p: TanWcsParams = {
      crpix: this.crpix,
      crval: this.crval,
      cd: this.cd,
      lonpole: this.lonpole,
      ctype: this.ctype,
    };
    if (this.radesys !== undefined) p.radesys = this.radesys;
    if (this.equinox !== undefined) p.equinox = this.equinox;
    return p;
  }

  /** Header cards (CD-matrix form) for the FITS writer. */
  toCards(): FitsCardInput[] {
    const cards: FitsCardInput[] = [
      { keyword: "WCSAXES", value: 2 },
      { keyword: "CTYPE1", value: this.ctype[0] },
      { keyword: "CTYPE2", value: this.ctype[1] },
      { keyword: "CRPIX1", value: this.crpix[0], kind: "float" },
      { keyword: "CRPIX2", value: this.crpix[1], kind: "float" },
      { keyword: "CRVAL1", value: this.crval[0], kind: "float" },
      { keyword: "CRVAL2", value: this.crval[1], kind: "float" },
      { keyword: "CD1_1", value: this.cd[0][0], kind: "float" },
      { keyword: "CD1_2", value: this.cd[0][1], kind: "float" },
      { keyword: "CD2_1", value: this.cd[1][0], kind: "float" },
      { keyword: "CD2_2", value: this.cd[1][1], kind: "float" },
      { keyword: "CUNIT1", value: "deg" },
      { keyword: "CUNIT2", value: "deg" },
      { keyword: "LONPOLE", value: this.lonpole, kind: "float" },
    ];
    if (this.radesys !== undefined) cards.push({ keyword: "RADESYS", value: this.radesys });
    if (this.equinox !== undefined)
      cards.push({ keyword: "EQUINOX", value: this.equinox, kind: "float" });
    return cards;
  }
}

export interface ImageArray {
  data: NumericArray;
  /** numpy order [..., height, width]; leading axes (bands) are cut the same way. */
  shape: number[];
}

export interface Cutout {
  /** NaN where the stamp falls outside the image. float64 for 32/64-bit integers and float64 input. */
  data: Float32Array | Float64Array;
  shape: number[];
  /** WCS of the stamp (CRPIX shifted). */
  wcs: TanWcs;
  /** 0-based [x, y] in the image of the stamp's first pixel (may be negative). */
  origin: [number, number];
  /** 0-based [x, y] of the requested position within the stamp. */
  position: [number, number];
  /** Stamp pixels (per plane) outside the image, filled with NaN. */
  filled: number;
}

/**
 * A size×size stamp around (lng, lat). For odd sizes the stamp's centre pixel is the pixel
 * containing the position; for even sizes the position falls in the central 2×2 pixels
 * (first pixel x0 = ceil(x − size/2), as astropy's Cutout2D). Outside the image: NaN.
 */
export function cutout(
  image: ImageArray,
  wcs: TanWcs,
  lng: number,
  lat: number,
  size: number,
): Cutout {
  if (!(Number.isInteger(size) && size > 0))
    throw new UsageError(`cutout size must be a positive integer, got ${size}`);
  const { shape, data } = image;
  if (shape.length < 2) throw new UsageError("cutout needs an image of at least 2 axes");
  const height = shape[shape.length - 2];
  const width = shape[shape.length - 1];
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (planes * height * width !== data.length)
    throw new UsageError("image shape does not match its data");
  const [px, py] = wcs.skyToPixel0(lng, lat);
  if (!Number.isFinite(px) || !Number.isFinite(py)) {
    throw new UsageError(`(${lng}, ${lat}) is not on the image's projection plane`);
  }
  const x0 = Math.ceil(px - size / 2);
  const y0 = Math.ceil(py - size / 2);
  const wide =
    data instanceof Float64Array ||
    data instanceof Int32Array ||
    data instanceof Uint32Array ||
    data instanceof BigInt64Array ||
    data instanceof BigUint64Array;
  const out = wide
    ? new Float64Array(planes * size * size)
    : new Float32Array(planes * size * size);
  let filled = 0;
  for (let p = 0; p < planes; p++) {
    for (let j = 0; j < size; j++) {
      const y = y0 + j;
      for (let i = 0; i < size; i++) {
        const x = x0 + i;
        const at = p * size * size + j * size + i;
        if (x < 0 || y < 0 || x >= width || y >= height) {
          out[at] = Number.NaN;
          if (p === 0) filled++;
        } else {
          out[at] = Number(data[p * height * width + y * width + x]);
        }
      }
    }
  }
  return {
    data: out,
    shape: [...shape.slice(0, -2), size, size],
    wcs: wcs.shifted(x0, y0),
    origin: [x0, y0],
    position: [px - x0, py - y0],
    filled,
  };
}
