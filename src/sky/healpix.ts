// HEALPix in the NESTED scheme, orders 0..29, in pure TypeScript.
//
// Conventions: angles in degrees, ICRS (ra, dec); pixel indices NESTED; order k means
// nside = 2^k. Order-29 indices ("keys", the `_healpix_29` column) need 62 bits, more than a
// JS number holds exactly, so indices are assembled from two 32-bit halves and handed out as
// bigint (or written straight into a BigInt64Array).
//
// ang2pix and pix2ang follow healpix_cxx's floating-point recipe operation for operation
// (Gorski et al. 2005; healpy calls healpix_cxx), so they give healpy's answers bit for bit
// except where libm's last bit decides (see ang2pix).

import { UsageError } from "../core/errors.ts";
import { int64Words } from "../core/words.ts";
import { separationRad } from "./distance.ts";
import {
  cosCorrectlyRounded,
  cosDegOut,
  sinCorrectlyRounded,
  sinCosDeg,
  sinDegOut,
} from "./trig.ts";
import {
  checkDec,
  checkOrder,
  checkRa,
  checkRadius,
  checkSameLength,
  MAX_ORDER,
} from "./validate.ts";

export { MAX_ORDER };

// Local copies: imported bindings cost a getter call per use under tsx, in the hot loops.
const DEG2RAD = Math.PI / 180;
const RAD2DEG = 180 / Math.PI;
const HALF_PI = Math.PI / 2;
const INV_HALF_PI = 0.6366197723675814; // healpix_cxx's 2/pi literal, as a double
const TWO_THIRDS = 2 / 3;
/** healpix_cxx switches to the sin(theta) formula within 0.01 rad of a pole. */
// biome-ignore lint/suspicious/noApproximativeNumericConstant: healpix_cxx's literal, not pi
const POLAR_THETA_MAX = 3.14159 - 0.01;
const TWO_POW_32 = 4294967296;

// Base-pixel (face) geometry: ring index of the face's centre in units of nside, and its
// longitude in units of pi/4.
const JRLL = [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4] as const;
const JPLL = [1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7] as const;

// 2^k and 4^k for k = 0..29 (exact); Math.pow with a variable exponent is slow in hot paths.
const POW2 = Float64Array.from({ length: MAX_ORDER + 1 }, (_, k) => 2 ** k);
const POW4 = Float64Array.from({ length: MAX_ORDER + 1 }, (_, k) => 4 ** k);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO_WORD = LITTLE_ENDIAN ? 0 : 1;
const HI_WORD = LITTLE_ENDIAN ? 1 : 0;

// ---------------------------------------------------------------------------------------
// Sizes

/** nside = 2^order (always an exact number, at most 2^29). */
export function nside(order: number): number {
  checkOrder(order);
  return 2 ** order;
}

/** Number of pixels at `order`, 12 * 4^order, as a bigint (exact for every order). */
export function npix(order: number): bigint {
  checkOrder(order);
  return 12n << BigInt(2 * order);
}

/** Number of pixels at `order` as a number; orders above 24 exceed 2^53 and throw. */
export function npixNumber(order: number): number {
  checkOrder(order);
  if (order > 24) throw new UsageError(`npixNumber: order must be <= 24, got ${order}`);
  return 12 * 4 ** order;
}

// ---------------------------------------------------------------------------------------
// Bit interleaving on 32-bit halves: x takes the even bits, y the odd bits of the index.

function spread16(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  return (v | (v << 1)) & 0x55555555;
}

function compact16(v: number): number {
  v &= 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  return (v | (v >>> 8)) & 0x0000ffff;
}

// Scratch outputs of the hot helpers, so the inner loops allocate nothing.
let outFace = 0;
let outX = 0;
let outY = 0;
let outHi = 0;
let outLo = 0;

/** (face, ix, iy) at `order` -> 32-bit halves of the NESTED index in outHi / outLo. */
function encodeHalves(face: number, ix: number, iy: number, order: number): void {
  const faceTerm = face * POW4[order]!; // exact: at most 11 * 2^58
  const faceHi = Math.floor(faceTerm / TWO_POW_32);
  outLo =
    ((spread16(ix & 0xffff) | (spread16(iy & 0xffff) << 1)) >>> 0) +
    (faceTerm - faceHi * TWO_POW_32);
  outHi = (spread16(ix >>> 16) | (spread16(iy >>> 16) << 1)) + faceHi;
}

function encodeBig(face: number, ix: number, iy: number, order: number): bigint {
  encodeHalves(face, ix, iy, order);
  return (BigInt(outHi) << 32n) | BigInt(outLo);
}

/** Checks `pix` and splits it into outFace / outX / outY. */
function decodePixel(order: number, pix: bigint | number, name = "pix"): void {
  let hi: number;
  let lo: number;
  if (typeof pix === "bigint") {
    if (pix < 0n || pix >= 12n << BigInt(2 * order)) {
      throw new UsageError(`${name} must be in 0..12*4^${order}-1 at order ${order}, got ${pix}`);
    }
    hi = Number(pix >> 32n);
    lo = Number(pix & 0xffffffffn);
  } else {
    if (!Number.isSafeInteger(pix) || pix < 0 || pix >= 12 * 4 ** order) {
      throw new UsageError(
        `${name} must be an integer in 0..12*4^${order}-1 at order ${order}, got ${pix}`,
      );
    }
    hi = Math.floor(pix / TWO_POW_32);
    lo = pix - hi * TWO_POW_32;
  }
  const faceShift = 2 * order;
  let innerHi: number;
  let innerLo: number;
  if (faceShift >= 32) {
    outFace = hi >>> (faceShift - 32);
    innerHi = hi & ((1 << (faceShift - 32)) - 1);
    innerLo = lo;
  } else {
    const v = hi * TWO_POW_32 + lo; // < 2^36 here, exact
    const scale = 2 ** faceShift;
    outFace = Math.floor(v / scale);
    innerHi = 0;
    innerLo = v - outFace * scale;
  }
  outX = compact16(innerLo) | (compact16(innerHi) << 16);
  outY = compact16(innerLo >>> 1) | (compact16(innerHi >>> 1) << 16);
}

// ---------------------------------------------------------------------------------------
// ang2pix

function fmodulo4(v: number): number {
  if (v >= 0) return v < 4 ? v : v % 4;
  const t = (v % 4) + 4;
  return t === 4 ? 0 : t;
}

/** Distance of x >= 0 to the nearest integer. */
function distToInteger(x: number): number {
  const f = x - Math.floor(x);
  return f < 0.5 ? f : 1 - f;
}

/**
 * healpix_cxx's loc2pix (NEST) for z = cos(theta), tt = phi / (pi/2) mod 4; result in
 * outFace / outX / outY. Returns false when a 1-ulp change of z or sth might change the
 * answer (the point is on a pixel border to within a few ulps), so the caller can check.
 */
function zPhiToXyf(
  z: number,
  sth: number,
  haveSth: boolean,
  tt: number,
  order: number,
  ns: number,
): boolean {
  const za = Math.abs(z);
  // 1 ulp of z moves the edge-line coordinates by at most ~1.4e-14 * nside (worst case near
  // theta = 0.01 where sqrt(1 - z) amplifies); this margin covers it with room to spare.
  const margin = ns * 1e-13;
  if (za <= TWO_THIRDS) {
    const temp1 = ns * (0.5 + tt);
    const temp2 = ns * (z * 0.75);
    const a = temp1 - temp2;
    const b = temp1 + temp2;
    const jp = Math.trunc(a); // ascending edge line index
    const jm = Math.trunc(b); // descending edge line index
    const ifp = jp >>> order; // jp, jm < 5 * 2^29 < 2^32, so >>> is exact
    const ifm = jm >>> order;
    outFace = ifp === ifm ? ifp | 4 : ifp < ifm ? ifp : ifm + 8;
    outX = jm & (ns - 1);
    outY = ns - (jp & (ns - 1)) - 1;
    return TWO_THIRDS - za > 1e-15 && distToInteger(a) > margin && distToInteger(b) > margin;
  }
  const ntt = Math.min(3, Math.trunc(tt));
  const tp = tt - ntt;
  const tmp =
    za < 0.99 || !haveSth ? ns * Math.sqrt(3 * (1 - za)) : (ns * sth) / Math.sqrt((1 + za) / 3);
  const a = tp * tmp;
  const b = (1.0 - tp) * tmp;
  const jp = Math.min(Math.trunc(a), ns - 1);
  const jm = Math.min(Math.trunc(b), ns - 1);
  if (z >= 0) {
    outFace = ntt;
    outX = ns - jm - 1;
    outY = ns - jp - 1;
  } else {
    outFace = ntt + 8;
    outX = jp;
    outY = jm;
  }
  return (
    za - TWO_THIRDS > 1e-15 &&
    Math.abs(za - 0.99) > 1e-15 &&
    distToInteger(a) > margin &&
    distToInteger(b) > margin
  );
}

const ulpView = new Float64Array(1);
const ulpBits = new BigInt64Array(ulpView.buffer);

/** The adjacent double above (step 1) or below (step -1) x. */
function adjacentDouble(x: number, step: 1 | -1): number {
  if (x === 0) return step * Number.MIN_VALUE;
  ulpView[0] = x;
  ulpBits[0]! += x > 0 === step > 0 ? 1n : -1n;
  return ulpView[0]!;
}

/**
 * Called when z or sth sit within a few ulps of a decision: healpy's libm value of each is
 * one of the three doubles around ours (both libms are faithful, error < 1 ulp), so if every
 * combination gives the same pixel, that pixel is healpy's. Leaves it in out*.
 */
function libmNeighboursAgree(
  z: number,
  sth: number,
  haveSth: boolean,
  tt: number,
  order: number,
  ns: number,
): boolean {
  zPhiToXyf(z, sth, haveSth, tt, order, ns);
  const face = outFace;
  const x = outX;
  const y = outY;
  const zs = [adjacentDouble(z, -1), z, adjacentDouble(z, 1)];
  const sths = haveSth ? [adjacentDouble(sth, -1), sth, adjacentDouble(sth, 1)] : [0];
  for (const zz of zs) {
    for (const ss of sths) {
      zPhiToXyf(zz, ss, haveSth, tt, order, ns);
      if (outFace !== face || outX !== x || outY !== y) return false;
    }
  }
  return true;
}

/** Pixel (outFace, outX, outY) of theta = pi/2 - dec, phi = ra, both in radians. */
function locate(theta: number, phi: number, order: number, ns: number): void {
  const haveSth = theta < 0.01 || theta > POLAR_THETA_MAX;
  const tt = fmodulo4(phi * INV_HALF_PI);
  const z = Math.cos(theta);
  const sth = haveSth ? Math.sin(theta) : 0;
  if (zPhiToXyf(z, sth, haveSth, tt, order, ns)) return;
  if (libmNeighboursAgree(z, sth, haveSth, tt, order, ns)) return;
  // On a pixel border to the last bit: healpy's answer depends on how glibc rounds cos/sin.
  // glibc rounds correctly except for ~0.1% of arguments (V8's Math.cos differs from glibc
  // for ~3%), so correctly rounded values are the closest match available.
  zPhiToXyf(
    cosCorrectlyRounded(theta),
    haveSth ? sinCorrectlyRounded(theta) : 0,
    haveSth,
    tt,
    order,
    ns,
  );
}

function locateDeg(raDeg: number, decDeg: number, order: number, ns: number): void {
  // Same operations as healpy's lonlat2thetaphi: theta = pi/2 - radians(lat), phi = radians(lon).
  locate(HALF_PI - decDeg * DEG2RAD, raDeg * DEG2RAD, order, ns);
}

/**
 * NESTED pixel indices at `order` (0..29) of positions (raDeg, decDeg) in degrees, ICRS.
 * Identical to healpy `ang2pix(2**order, ra, dec, nest=True, lonlat=True)`; ra is taken
 * modulo 360. Points within ~1e-13 of a pixel border (in units of the pixel size) are
 * recomputed with correctly rounded trigonometry, matching healpy there too except when
 * glibc's cos misrounds. Writes into `out` when given (it must be at least as long).
 * @throws UsageError for a bad order, non-finite ra, or dec outside [-90, 90].
 */
export function ang2pix(
  order: number,
  raDeg: ArrayLike<number>,
  decDeg: ArrayLike<number>,
  out?: BigInt64Array,
): BigInt64Array {
  checkOrder(order);
  checkSameLength(raDeg, decDeg, "raDeg and decDeg");
  const n = raDeg.length;
  const result = out ?? new BigInt64Array(n);
  if (result.length < n) {
    throw new UsageError(`out must hold at least ${n} elements, got ${result.length}`);
  }
  const words = int64Words(result);
  const ns = 2 ** order;
  const faceLo = new Float64Array(12);
  const faceHi = new Float64Array(12);
  for (let f = 0; f < 12; f++) {
    const term = f * 4 ** order;
    faceHi[f] = Math.floor(term / TWO_POW_32);
    faceLo[f] = term - faceHi[f]! * TWO_POW_32;
  }
  for (let i = 0; i < n; i++) {
    const ra = raDeg[i]!;
    const dec = decDeg[i]!;
    if (!(dec >= -90 && dec <= 90)) checkDec(dec, `decDeg[${i}]`);
    if (ra - ra !== 0) checkRa(ra, `raDeg[${i}]`); // NaN or infinite
    locate(HALF_PI - dec * DEG2RAD, ra * DEG2RAD, order, ns);
    const ix = outX;
    const iy = outY;
    words[2 * i + LO_WORD] =
      ((spread16(ix & 0xffff) | (spread16(iy & 0xffff) << 1)) >>> 0) + faceLo[outFace]!;
    words[2 * i + HI_WORD] = (spread16(ix >>> 16) | (spread16(iy >>> 16) << 1)) + faceHi[outFace]!;
  }
  return result;
}

/** Order-29 keys (`_healpix_29`) of positions in degrees; same as `ang2pix(29, ...)`. */
export function ang2pixOrder29(
  raDeg: ArrayLike<number>,
  decDeg: ArrayLike<number>,
  out?: BigInt64Array,
): BigInt64Array {
  return ang2pix(MAX_ORDER, raDeg, decDeg, out);
}

/**
 * NESTED pixel index of one position (degrees) as a number, for order <= 24 (indices stay
 * below 2^53). Same result as {@link ang2pix}.
 * @throws UsageError above order 24 (use ang2pix) or for bad ra/dec.
 */
export function ang2pixNumber(order: number, raDeg: number, decDeg: number): number {
  if (!(order >= 0 && order <= 24 && Number.isInteger(order))) {
    checkOrder(order);
    throw new UsageError(`ang2pixNumber: order must be <= 24 (use ang2pix), got ${order}`);
  }
  if (raDeg - raDeg !== 0) checkRa(raDeg);
  if (!(decDeg >= -90 && decDeg <= 90)) checkDec(decDeg);
  locateDeg(raDeg, decDeg, order, POW2[order]!);
  // order <= 24: the index stays below 2^53, so plain arithmetic is exact.
  return (
    outFace * POW4[order]! +
    (spread16(outX >>> 16) | (spread16(outY >>> 16) << 1)) * TWO_POW_32 +
    ((spread16(outX & 0xffff) | (spread16(outY & 0xffff) << 1)) >>> 0)
  );
}

// ---------------------------------------------------------------------------------------
// pix2ang

let locZ = 0;
let locPhi = 0;
let locSth = 0;
let locHaveSth = false;

/** healpix_cxx's pix2loc (NEST): pixel centre as z, phi (rad) and, near the poles, sin(theta). */
function xyfToLoc(face: number, ix: number, iy: number, order: number): void {
  const ns = POW2[order]!;
  const fact2 = 4 / (12 * POW4[order]!);
  const fact1 = 2 * ns * fact2;
  const jr = JRLL[face]! * ns - ix - iy - 1;
  let nr: number;
  locHaveSth = false;
  if (jr < ns) {
    nr = jr;
    const tmp = nr * nr * fact2;
    locZ = 1 - tmp;
    if (locZ > 0.99) {
      locSth = Math.sqrt(tmp * (2 - tmp));
      locHaveSth = true;
    }
  } else if (jr > 3 * ns) {
    nr = 4 * ns - jr;
    const tmp = nr * nr * fact2;
    locZ = tmp - 1;
    if (locZ < -0.99) {
      locSth = Math.sqrt(tmp * (2 - tmp));
      locHaveSth = true;
    }
  } else {
    nr = ns;
    locZ = (2 * ns - jr) * fact1;
  }
  let tmp = JPLL[face]! * nr + ix - iy;
  if (tmp < 0) tmp += 8 * nr;
  locPhi = nr === ns ? 0.75 * HALF_PI * tmp * fact1 : (0.5 * HALF_PI * tmp) / nr;
  if (!locHaveSth) locSth = Math.sqrt((1 - locZ) * (1 + locZ));
}

/**
 * Centre of NESTED pixel `pix` at `order`, in degrees (ra in [0, 360)). Equal to healpy
 * `pix2ang(2**order, pix, nest=True, lonlat=True)` to within a few ulps.
 */
export function pix2ang(order: number, pix: bigint | number): { ra: number; dec: number } {
  checkOrder(order);
  decodePixel(order, pix);
  xyfToLoc(outFace, outX, outY, order);
  const theta = locHaveSth ? Math.atan2(locSth, locZ) : Math.acos(locZ);
  const ra = locPhi * RAD2DEG;
  return { ra: ra >= 360 ? ra - 360 : ra, dec: 90 - theta * RAD2DEG };
}

// ---------------------------------------------------------------------------------------
// Hierarchy

/**
 * The ancestor at `toOrder` of NESTED pixel `key` at `fromOrder` (toOrder <= fromOrder):
 * `key >> 2*(fromOrder - toOrder)`.
 */
export function degrade(key: bigint, fromOrder: number, toOrder: number): bigint {
  checkOrder(fromOrder, "fromOrder");
  checkOrder(toOrder, "toOrder");
  if (toOrder > fromOrder) {
    throw new UsageError(`toOrder (${toOrder}) must be <= fromOrder (${fromOrder})`);
  }
  if (key < 0n || key >= 12n << BigInt(2 * fromOrder)) {
    throw new UsageError(`key must be in 0..12*4^${fromOrder}-1 at order ${fromOrder}, got ${key}`);
  }
  return key >> BigInt(2 * (fromOrder - toOrder));
}

/**
 * Half-open range [lo, hi) of order-29 keys inside NESTED pixel `pix` at `order`:
 * `[pix << 2*(29-order), (pix+1) << 2*(29-order))`.
 */
export function keyRange(order: number, pix: bigint | number): [bigint, bigint] {
  checkOrder(order);
  decodePixel(order, pix);
  const shift = BigInt(2 * (MAX_ORDER - order));
  const p = BigInt(pix);
  return [p << shift, (p + 1n) << shift];
}

// ---------------------------------------------------------------------------------------
// Neighbours

// Offsets of the 8 neighbours in healpy's order SW, W, NW, N, NE, E, SE, S (x grows towards
// NE, y towards NW within a face).
const NB_X = [-1, -1, 0, 1, 1, 1, 0, -1] as const;
const NB_Y = [0, 1, 1, 1, 0, -1, -1, -1] as const;
// Face across each face edge/vertex, indexed by direction 3*(dy+1)+(dx+1) and face;
// -1 where no face exists (a vertex where only three faces meet).
const NB_FACE: readonly (readonly number[])[] = [
  [8, 9, 10, 11, -1, -1, -1, -1, 10, 11, 8, 9], // S
  [5, 6, 7, 4, 8, 9, 10, 11, 9, 10, 11, 8], // SE
  [-1, -1, -1, -1, 5, 6, 7, 4, -1, -1, -1, -1], // E
  [4, 5, 6, 7, 11, 8, 9, 10, 11, 8, 9, 10], // SW
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], // same face
  [1, 2, 3, 0, 0, 1, 2, 3, 5, 6, 7, 4], // NE
  [-1, -1, -1, -1, 7, 4, 5, 6, -1, -1, -1, -1], // W
  [3, 0, 1, 2, 3, 0, 1, 2, 4, 5, 6, 7], // NW
  [2, 3, 0, 1, -1, -1, -1, -1, 0, 1, 2, 3], // N
];
// How coordinates transform when crossing into that face, by face row (north, equator,
// south): bit 1 mirrors x, bit 2 mirrors y, bit 4 swaps x and y.
const NB_SWAP: readonly (readonly number[])[] = [
  [0, 0, 3],
  [0, 0, 6],
  [0, 0, 0],
  [0, 0, 5],
  [0, 0, 0],
  [5, 0, 0],
  [0, 0, 0],
  [6, 0, 0],
  [3, 0, 0],
];

/**
 * The 8 neighbours of NESTED pixel `pix` at `order`, in healpy `get_all_neighbours` order
 * (SW, W, NW, N, NE, E, SE, S); -1n where the neighbour does not exist (at the 8 base-pixel
 * vertices where only three pixels meet).
 */
export function neighbours(order: number, pix: bigint | number): bigint[] {
  checkOrder(order);
  decodePixel(order, pix);
  const face = outFace;
  const ix = outX;
  const iy = outY;
  const ns = 2 ** order;
  const result: bigint[] = new Array(8);
  for (let i = 0; i < 8; i++) {
    let x = ix + NB_X[i]!;
    let y = iy + NB_Y[i]!;
    let dir = 4;
    if (x < 0) {
      x += ns;
      dir -= 1;
    } else if (x >= ns) {
      x -= ns;
      dir += 1;
    }
    if (y < 0) {
      y += ns;
      dir -= 3;
    } else if (y >= ns) {
      y -= ns;
      dir += 3;
    }
    const f = NB_FACE[dir]![face]!;
    if (f < 0) {
      result[i] = -1n;
      continue;
    }
    const bits = NB_SWAP[dir]![face >> 2]!;
    if (bits & 1) x = ns - x - 1;
    if (bits & 2) y = ns - y - 1;
    if (bits & 4) {
      const t = x;
      x = y;
      y = t;
    }
    result[i] = encodeBig(f, x, y, order);
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Pixel boundaries

/** Position of fractional face coordinates (x, y in [0, 1]) as z, phi, sth in loc*. */
function faceXyToLoc(x: number, y: number, face: number): void {
  const jr = JRLL[face]! - x - y;
  let nr: number;
  locHaveSth = false;
  if (jr < 1) {
    nr = jr;
    const tmp = (nr * nr) / 3;
    locZ = 1 - tmp;
    locSth = Math.sqrt(tmp * (2 - tmp));
    locHaveSth = true;
  } else if (jr > 3) {
    nr = 4 - jr;
    const tmp = (nr * nr) / 3;
    locZ = tmp - 1;
    locSth = Math.sqrt(tmp * (2 - tmp));
    locHaveSth = true;
  } else {
    nr = 1;
    locZ = ((2 - jr) * 2) / 3;
    locSth = Math.sqrt((1 - locZ) * (1 + locZ));
  }
  let tmp = JPLL[face]! * nr + x - y;
  if (tmp < 0) tmp += 8;
  if (tmp >= 8) tmp -= 8;
  locPhi = nr < 1e-15 ? 0 : (0.5 * HALF_PI * tmp) / nr;
}

/**
 * Points along the border of NESTED pixel `pix` at `order`, `step` per edge, starting at the
 * north corner and going N -> W -> S -> E, in degrees; same points as healpy
 * `boundaries(2**order, pix, step, nest=True)`.
 */
export function boundaries(
  order: number,
  pix: bigint | number,
  step = 1,
): Array<{ ra: number; dec: number }> {
  checkOrder(order);
  if (!Number.isInteger(step) || step < 1) {
    throw new UsageError(`step must be a positive integer, got ${step}`);
  }
  decodePixel(order, pix);
  const face = outFace;
  const ns = 2 ** order;
  const dc = 0.5 / ns;
  const xc = (outX + 0.5) / ns;
  const yc = (outY + 0.5) / ns;
  const d = 1 / (step * ns);
  const points: Array<{ ra: number; dec: number }> = new Array(4 * step);
  const put = (k: number, x: number, y: number) => {
    faceXyToLoc(x, y, face);
    let ra = locPhi * RAD2DEG;
    if (ra >= 360) ra -= 360;
    points[k] = { ra, dec: Math.atan2(locZ, locSth) * RAD2DEG };
  };
  for (let i = 0; i < step; i++) {
    put(i, xc + dc - i * d, yc + dc);
    put(i + step, xc - dc, yc + dc - i * d);
    put(i + 2 * step, xc - dc + i * d, yc - dc);
    put(i + 3 * step, xc + dc, yc - dc + i * d);
  }
  return points;
}

// ---------------------------------------------------------------------------------------
// Region queries (discs, boxes) by hierarchical descent with conservative tests.

/**
 * PIXEL_RADIUS_RATIO[k] * 2^-k (radians) bounds the angular distance from a pixel's centre to
 * any point of the pixel at order k. Measured over every pixel of orders 0..8: the border
 * sampled 512 times per edge, plus half the largest gap between samples (the distance is
 * 1-Lipschitz along the border), times 1.02. The worst pixels sit at the corners where a polar
 * face meets the equatorial belt; their ratio grows with the order towards 1.0704 (checked up
 * to order 29), so orders 9..29 use 1.10. test/sky/healpix.test.ts re-checks the bound.
 */
const PIXEL_RADIUS_RATIO = [
  0.859, 0.984, 1.04, 1.066, 1.079, 1.086, 1.089, 1.091, 1.092, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1,
  1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1,
] as const;

function pixelRadiusBoundRad(order: number): number {
  return PIXEL_RADIUS_RATIO[order]! * 2 ** -order;
}

/**
 * A conservative bound (degrees) on the angular distance from any pixel centre at `order`
 * to any point of that pixel: every point of a pixel lies within this radius of its centre.
 */
export function pixelRadiusBoundDeg(order: number): number {
  checkOrder(order);
  return pixelRadiusBoundRad(order) * RAD2DEG;
}

/** Rounding allowance (radians) added to every conservative comparison. */
const GEOMETRY_SLACK = 1e-13;

const OUTSIDE = 0;
const PARTIAL = 1;
const INSIDE = 2;
type Zone = typeof OUTSIDE | typeof PARTIAL | typeof INSIDE;

/** A sky region tested against pixels: OUTSIDE / INSIDE only when certain, else PARTIAL. */
interface Region {
  classify(order: number, face: number, ix: number, iy: number): Zone;
}

/** Loads the centre of (face, ix, iy) at `order` as a unit vector into cx, cy, cz. */
let cx = 0;
let cy = 0;
let cz = 0;
function pixelCentreVector(face: number, ix: number, iy: number, order: number): void {
  xyfToLoc(face, ix, iy, order);
  cx = locSth * Math.cos(locPhi);
  cy = locSth * Math.sin(locPhi);
  cz = locZ;
}

class DiscRegion implements Region {
  private readonly px: number;
  private readonly py: number;
  private readonly pz: number;
  private readonly radius: number;

  constructor(raDeg: number, decDeg: number, radiusDeg: number) {
    sinCosDeg(decDeg);
    const cosDec = cosDegOut();
    this.pz = sinDegOut();
    sinCosDeg(raDeg);
    this.px = cosDec * cosDegOut();
    this.py = cosDec * sinDegOut();
    this.radius = Math.min(radiusDeg, 180) * DEG2RAD;
  }

  classify(order: number, face: number, ix: number, iy: number): Zone {
    if (this.radius >= Math.PI) return INSIDE; // the whole sky
    pixelCentreVector(face, ix, iy, order);
    // atan2(|p x c|, p . c) keeps full precision for tiny and near-180-degree angles.
    const x = this.py * cz - this.pz * cy;
    const y = this.pz * cx - this.px * cz;
    const z = this.px * cy - this.py * cx;
    const d = Math.atan2(
      Math.sqrt(x * x + y * y + z * z),
      this.px * cx + this.py * cy + this.pz * cz,
    );
    const bound = pixelRadiusBoundRad(order) + GEOMETRY_SLACK;
    if (d - bound > this.radius) return OUTSIDE;
    if (d + bound <= this.radius) return INSIDE;
    return PARTIAL;
  }
}

function normalizeRa(ra: number): number {
  const r = ra % 360;
  return r < 0 ? (r + 360 === 360 ? 0 : r + 360) : r;
}

class BoxRegion implements Region {
  private readonly raMin: number;
  private readonly raMax: number;
  private readonly fullRa: boolean;
  private readonly wraps: boolean;

  constructor(
    raMinDeg: number,
    raMaxDeg: number,
    private readonly decMin: number,
    private readonly decMax: number,
  ) {
    this.fullRa = raMaxDeg - raMinDeg >= 360;
    this.raMin = normalizeRa(raMinDeg);
    this.raMax = normalizeRa(raMaxDeg);
    this.wraps = this.raMin > this.raMax;
  }

  private raInside(ra: number): boolean {
    if (this.fullRa) return true;
    return this.wraps ? ra >= this.raMin || ra <= this.raMax : ra >= this.raMin && ra <= this.raMax;
  }

  /** Distance (rad) from (ra, dec) to the meridian segment at `alpha`, dec in [decMin, decMax]. */
  private meridianSegmentDistance(ra: number, dec: number, alpha: number): number {
    sinCosDeg(dec);
    const sd = sinDegOut();
    const cd = cosDegOut();
    sinCosDeg(ra - alpha);
    const sdl = sinDegOut();
    const a = cd * cosDegOut();
    // Along the great circle of that meridian, c . m(t) = a cos t + sd sin t peaks at t0.
    const t0 = Math.atan2(sd, a) * RAD2DEG;
    if (t0 >= this.decMin && t0 <= this.decMax) {
      return Math.atan2(Math.abs(cd * sdl), Math.sqrt(a * a + sd * sd));
    }
    return Math.min(
      separationRad(ra, dec, alpha, this.decMin),
      separationRad(ra, dec, alpha, this.decMax),
    );
  }

  /** Distance (rad) from (ra, dec) to the whole great circle through meridian `alpha`. */
  private meridianCircleDistance(ra: number, dec: number, alpha: number): number {
    sinCosDeg(ra - alpha);
    const sdl = sinDegOut();
    sinCosDeg(dec);
    return Math.asin(Math.min(1, Math.abs(cosDegOut() * sdl)));
  }

  classify(order: number, face: number, ix: number, iy: number): Zone {
    xyfToLoc(face, ix, iy, order);
    const ra = normalizeRa(locPhi * RAD2DEG);
    const dec = Math.atan2(locZ, locSth) * RAD2DEG;
    const bound = pixelRadiusBoundRad(order) + GEOMETRY_SLACK;
    const raIn = this.raInside(ra);
    let distOut: number;
    if (raIn) {
      // The nearest box point is on this meridian: the latitude gap is the distance.
      distOut = Math.max(0, this.decMin - dec, dec - this.decMax) * DEG2RAD;
    } else {
      // For each latitude the nearest box point has ra = raMin or raMax.
      distOut = Math.min(
        this.meridianSegmentDistance(ra, dec, this.raMin),
        this.meridianSegmentDistance(ra, dec, this.raMax),
      );
    }
    if (distOut > bound) return OUTSIDE;
    if (!raIn || dec < this.decMin || dec > this.decMax) return PARTIAL;
    // Lower bound on the distance to the box's outside: to its parallels and to the full
    // great circles of its meridians.
    let distIn = Math.min(
      this.decMin > -90 ? dec - this.decMin : Number.POSITIVE_INFINITY,
      this.decMax < 90 ? this.decMax - dec : Number.POSITIVE_INFINITY,
    );
    distIn *= DEG2RAD;
    if (!this.fullRa) {
      distIn = Math.min(
        distIn,
        this.meridianCircleDistance(ra, dec, this.raMin),
        this.meridianCircleDistance(ra, dec, this.raMax),
      );
    }
    return distIn > bound ? INSIDE : PARTIAL;
  }
}

/** Extra orders examined below the target order to drop pixels that only seem to touch. */
const REFINE_ORDERS = 3;

function anyDescendantTouches(
  region: Region,
  order: number,
  face: number,
  ix: number,
  iy: number,
  lastOrder: number,
): boolean {
  const o = order + 1;
  for (let k = 0; k < 4; k++) {
    const x = 2 * ix + (k & 1);
    const y = 2 * iy + (k >> 1);
    const zone = region.classify(o, face, x, y);
    if (zone === INSIDE) return true;
    if (zone === PARTIAL) {
      if (o >= lastOrder) return true;
      if (anyDescendantTouches(region, o, face, x, y, lastOrder)) return true;
    }
  }
  return false;
}

type PixelSink = (order: number, face: number, ix: number, iy: number) => void;

/**
 * Depth-first walk emitting, in increasing NESTED order, pixels (at `order` or coarser when
 * entirely inside) that `region` touches. Pixels only partly covered at `order` are emitted
 * unless `refine` shows, a few orders deeper, that they miss. Conservative throughout.
 */
function walkCover(region: Region, order: number, refine: boolean, sink: PixelSink): void {
  const lastOrder = refine ? Math.min(order + REFINE_ORDERS, MAX_ORDER) : order;
  const visit = (o: number, face: number, ix: number, iy: number) => {
    const zone = region.classify(o, face, ix, iy);
    if (zone === OUTSIDE) return;
    if (zone === INSIDE) {
      sink(o, face, ix, iy);
    } else if (o < order) {
      for (let k = 0; k < 4; k++) visit(o + 1, face, 2 * ix + (k & 1), 2 * iy + (k >> 1));
    } else if (o >= lastOrder || anyDescendantTouches(region, o, face, ix, iy, lastOrder)) {
      sink(o, face, ix, iy);
    }
  };
  for (let face = 0; face < 12; face++) visit(0, face, 0, 0);
}

/** Pixels at `order` touched by `region`, sorted and unique. */
function pixelsAtOrder(region: Region, order: number, maxPixels: number): bigint[] {
  const pixels: bigint[] = [];
  walkCover(region, order, true, (o, face, ix, iy) => {
    const n = POW4[order - o]!;
    if (pixels.length + n > maxPixels) {
      throw new UsageError(
        `the region covers more than maxPixels = ${maxPixels} pixels at order ${order}; ` +
          "use coneKeyRanges / boxKeyRanges, or raise maxPixels",
      );
    }
    const first = encodeBig(face, ix, iy, o) << BigInt(2 * (order - o));
    for (let i = 0; i < n; i++) pixels.push(first + BigInt(i));
  });
  return pixels;
}

/**
 * Sorted, merged half-open ranges of order-29 keys covering `region`, at most `maxRanges` of
 * them: find the deepest order whose partly-covered pixels number at most 4 * maxRanges, emit the
 * cover at that order, then fill the smallest gaps between ranges until few enough remain.
 */
function keyRangesOf(region: Region, maxRanges: number): Array<[bigint, bigint]> {
  // Neighbouring partial pixels often share a range, and gap filling works best from a fine
  // cover, so allow several partial pixels per wanted range.
  const limit = 3 * PARTIAL_PIXELS_PER_RANGE * maxRanges;
  let partial: number[] = []; // flattened (face, ix, iy) at `depth`
  for (let face = 0; face < 12; face++) {
    if (region.classify(0, face, 0, 0) === PARTIAL) partial.push(face, 0, 0);
  }
  let depth = 0;
  while (partial.length > 0 && depth < MAX_ORDER) {
    const next: number[] = [];
    for (let i = 0; i < partial.length && next.length <= limit; i += 3) {
      for (let k = 0; k < 4; k++) {
        const x = 2 * partial[i + 1]! + (k & 1);
        const y = 2 * partial[i + 2]! + (k >> 1);
        if (region.classify(depth + 1, partial[i]!, x, y) === PARTIAL) next.push(partial[i]!, x, y);
      }
    }
    if (next.length > limit) break;
    partial = next;
    depth++;
  }

  const ranges: Array<[bigint, bigint]> = [];
  walkCover(region, depth, false, (o, face, ix, iy) => {
    const shift = BigInt(2 * (MAX_ORDER - o));
    const lo = encodeBig(face, ix, iy, o) << shift;
    const hi = lo + (1n << shift);
    const last = ranges[ranges.length - 1];
    if (last && last[1] === lo) last[1] = hi;
    else ranges.push([lo, hi]);
  });
  return ranges.length > maxRanges ? fillSmallestGaps(ranges, maxRanges) : ranges;
}

const PARTIAL_PIXELS_PER_RANGE = 4;

/** Merges sorted disjoint ranges across their smallest gaps until `maxRanges` remain. */
function fillSmallestGaps(
  ranges: Array<[bigint, bigint]>,
  maxRanges: number,
): Array<[bigint, bigint]> {
  const gaps = new Float64Array(ranges.length - 1);
  for (let i = 0; i < gaps.length; i++) gaps[i] = Number(ranges[i + 1]![0] - ranges[i]![1]);
  const order = Array.from(gaps.keys()).sort((a, b) => gaps[a]! - gaps[b]! || a - b);
  const fill = new Uint8Array(gaps.length);
  for (let i = 0; i < ranges.length - maxRanges; i++) fill[order[i]!] = 1;
  const merged: Array<[bigint, bigint]> = [[ranges[0]![0], ranges[0]![1]]];
  for (let i = 1; i < ranges.length; i++) {
    if (fill[i - 1]) merged[merged.length - 1]![1] = ranges[i]![1];
    else merged.push([ranges[i]![0], ranges[i]![1]]);
  }
  return merged;
}

function checkMaxRanges(maxRanges: number): void {
  if (!Number.isInteger(maxRanges) || maxRanges < 1) {
    throw new UsageError(`maxRanges must be a positive integer, got ${maxRanges}`);
  }
}

function checkMaxPixels(maxPixels: number): void {
  if (!(maxPixels >= 1)) throw new UsageError(`maxPixels must be >= 1, got ${maxPixels}`);
}

/** Options for {@link queryDisc} and {@link queryBox}. */
export interface QueryOptions {
  /** Refuse (UsageError) results with more pixels than this; default 10 000 000. */
  maxPixels?: number;
}

/** Options for {@link coneKeyRanges} and {@link boxKeyRanges}. */
export interface KeyRangeOptions {
  /** Upper limit on the number of ranges returned (coarser cover when lower); default 1000. */
  maxRanges?: number;
}

const DEFAULT_MAX_PIXELS = 10_000_000;
const DEFAULT_MAX_RANGES = 1000;

function checkDisc(raDeg: number, decDeg: number, radiusDeg: number): void {
  checkRa(raDeg);
  checkDec(decDeg);
  checkRadius(radiusDeg);
}

/**
 * NESTED pixels at `order` that the cone (centre raDeg, decDeg; radius radiusDeg, all in
 * degrees) touches, sorted and unique. Inclusive: every pixel with any point within the radius
 * is returned (a superset of healpy's `query_disc(..., inclusive=False)`), plus possibly a few
 * pixels that only come close.
 */
export function queryDisc(
  order: number,
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
  options: QueryOptions = {},
): bigint[] {
  checkOrder(order);
  checkDisc(raDeg, decDeg, radiusDeg);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  checkMaxPixels(maxPixels);
  return pixelsAtOrder(new DiscRegion(raDeg, decDeg, radiusDeg), order, maxPixels);
}

/**
 * Sorted, merged half-open ranges [lo, hi) of order-29 keys (`_healpix_29`) covering the cone
 * (degrees). Every key of a point within the radius lies in a range. The cover is refined
 * order by order while it stays within `maxRanges` ranges, so large cones cost little.
 */
export function coneKeyRanges(
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
  options: KeyRangeOptions = {},
): Array<[bigint, bigint]> {
  checkDisc(raDeg, decDeg, radiusDeg);
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_RANGES;
  checkMaxRanges(maxRanges);
  return keyRangesOf(new DiscRegion(raDeg, decDeg, radiusDeg), maxRanges);
}

/**
 * Sorted, merged half-open ranges of order-29 keys covering every point within `radiusDeg`
 * (degrees) of the region that the half-open key ranges `ranges` describe: the ranges widened to
 * whole pixels at `order`, plus the pixels at `order` (or coarser ones, held whole) that a point
 * within the radius of them can lie in. A cross-match margin: the points of another catalog
 * within the radius of points whose keys lie in `ranges` all have keys in the result. Finer
 * orders give a tighter margin for more work (about 4 * 2^(order - o) discs per pixel of order o
 * in the region).
 *
 * Why only borders: a point outside the region but within the radius of it is within the radius
 * of a pixel on the region's border (the shortest arc to it leaves the region through one), and
 * every such pixel is on the edge of one of the aligned blocks the region is made of. Each edge
 * pixel becomes the disc of (pixel radius bound + radius) around its centre, and the sky is
 * walked once for all discs, a pixel tested only against the discs that partly cover its parent.
 */
export function dilateKeyRanges(
  ranges: ReadonlyArray<readonly [bigint, bigint]>,
  radiusDeg: number,
  order: number,
): Array<[bigint, bigint]> {
  checkOrder(order);
  checkRadius(radiusDeg);
  const end = 12n << BigInt(2 * MAX_ORDER);
  const shift = BigInt(2 * (MAX_ORDER - order));
  // The region at `order`: sorted, merged pixel-aligned key ranges.
  const widened: Array<[bigint, bigint]> = [];
  for (const [a, b] of [...ranges].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
    const lo = a < 0n ? 0n : a;
    const hi = b > end ? end : b;
    if (hi <= lo) continue;
    const wlo = (lo >> shift) << shift;
    const whi = (((hi - 1n) >> shift) + 1n) << shift;
    const last = widened[widened.length - 1];
    if (last && last[1] >= wlo) {
      if (whi > last[1]) last[1] = whi;
    } else widened.push([wlo, whi]);
  }
  if (widened.length === 0) return [];
  const radius = Math.min(radiusDeg, 180) * DEG2RAD;
  const reach = radius + pixelRadiusBoundRad(order) + GEOMETRY_SLACK;
  if (reach >= Math.PI) return [[0n, end]];
  // Centres of the edge pixels of every aligned block of the region, as unit vectors.
  const px: number[] = [];
  const py: number[] = [];
  const pz: number[] = [];
  const disc = (face: number, ix: number, iy: number) => {
    pixelCentreVector(face, ix, iy, order);
    px.push(cx);
    py.push(cy);
    pz.push(cz);
  };
  for (const [a, b] of widened) {
    let lo = a;
    while (lo < b) {
      // The largest aligned block starting at lo within [lo, b): level = 29 - its order.
      let level = MAX_ORDER - order;
      while (level < MAX_ORDER) {
        const size = 1n << BigInt(2 * (level + 1));
        if (lo % size !== 0n || lo + size > b) break;
        level++;
      }
      const blockOrder = MAX_ORDER - level;
      decodePixel(blockOrder, lo >> BigInt(2 * level));
      const face = outFace;
      const n = POW2[order - blockOrder]!;
      const x0 = outX * n;
      const y0 = outY * n;
      for (let t = 0; t < n; t++) {
        disc(face, x0 + t, y0);
        if (n > 1) disc(face, x0 + t, y0 + n - 1);
      }
      for (let t = 1; t < n - 1; t++) {
        disc(face, x0, y0 + t);
        disc(face, x0 + n - 1, y0 + t);
      }
      lo += 1n << BigInt(2 * level);
    }
  }
  const discs = px.length;
  const vx = Float64Array.from(px);
  const vy = Float64Array.from(py);
  const vz = Float64Array.from(pz);
  // Candidate discs per depth of the walk (a pixel's list is its parent's, filtered).
  const lists = Array.from({ length: order + 2 }, () => new Int32Array(discs));
  for (let i = 0; i < discs; i++) lists[0]![i] = i;
  const margin: Array<[bigint, bigint]> = [];
  const emit = (o: number, face: number, ix: number, iy: number) => {
    const s = BigInt(2 * (MAX_ORDER - o));
    const lo = encodeBig(face, ix, iy, o) << s;
    const hi = lo + (1n << s);
    const last = margin[margin.length - 1];
    if (last && last[1] === lo) last[1] = hi;
    else margin.push([lo, hi]);
  };
  const visit = (o: number, face: number, ix: number, iy: number, count: number) => {
    pixelCentreVector(face, ix, iy, o);
    const qx = cx;
    const qy = cy;
    const qz = cz;
    const bound = pixelRadiusBoundRad(o) + GEOMETRY_SLACK;
    const from = lists[o]!;
    const next = lists[o + 1]!;
    let m = 0;
    for (let i = 0; i < count; i++) {
      const d = from[i]!;
      const ax = vy[d]! * qz - vz[d]! * qy;
      const ay = vz[d]! * qx - vx[d]! * qz;
      const az = vx[d]! * qy - vy[d]! * qx;
      const dist = Math.atan2(
        Math.sqrt(ax * ax + ay * ay + az * az),
        vx[d]! * qx + vy[d]! * qy + vz[d]! * qz,
      );
      if (dist - bound > reach) continue;
      if (dist + bound <= reach) {
        emit(o, face, ix, iy);
        return;
      }
      next[m++] = d;
    }
    if (m === 0) return;
    if (o === order) {
      emit(o, face, ix, iy);
      return;
    }
    for (let k = 0; k < 4; k++) visit(o + 1, face, 2 * ix + (k & 1), 2 * iy + (k >> 1), m);
  };
  for (let face = 0; face < 12; face++) visit(0, face, 0, 0, discs);
  return unionRanges(widened, margin);
}

/** Union of two sorted lists of disjoint half-open ranges, merged where they touch. */
function unionRanges(
  a: ReadonlyArray<readonly [bigint, bigint]>,
  b: ReadonlyArray<readonly [bigint, bigint]>,
): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const r = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const last = out[out.length - 1];
    if (last && last[1] >= r[0]) {
      if (r[1] > last[1]) last[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

function makeBox(raMinDeg: number, raMaxDeg: number, decMinDeg: number, decMaxDeg: number) {
  checkRa(raMinDeg, "raMinDeg");
  checkRa(raMaxDeg, "raMaxDeg");
  checkDec(decMinDeg, "decMinDeg");
  checkDec(decMaxDeg, "decMaxDeg");
  if (decMinDeg > decMaxDeg) {
    throw new UsageError(`decMinDeg (${decMinDeg}) must be <= decMaxDeg (${decMaxDeg})`);
  }
  return new BoxRegion(raMinDeg, raMaxDeg, decMinDeg, decMaxDeg);
}

/**
 * NESTED pixels at `order` touching the box raMinDeg..raMaxDeg x decMinDeg..decMaxDeg
 * (degrees), sorted and unique. Inclusive like {@link queryDisc}. The box runs east from
 * raMinDeg to raMaxDeg, both taken modulo 360: raMin > raMax crosses ra = 0 (350..10 is 20
 * degrees wide), raMin == raMax is a meridian segment, raMax - raMin >= 360 means all ra.
 */
export function queryBox(
  order: number,
  raMinDeg: number,
  raMaxDeg: number,
  decMinDeg: number,
  decMaxDeg: number,
  options: QueryOptions = {},
): bigint[] {
  checkOrder(order);
  const region = makeBox(raMinDeg, raMaxDeg, decMinDeg, decMaxDeg);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  checkMaxPixels(maxPixels);
  return pixelsAtOrder(region, order, maxPixels);
}

/** Order-29 key ranges covering a box, like {@link coneKeyRanges} (same box rules as queryBox). */
export function boxKeyRanges(
  raMinDeg: number,
  raMaxDeg: number,
  decMinDeg: number,
  decMaxDeg: number,
  options: KeyRangeOptions = {},
): Array<[bigint, bigint]> {
  const region = makeBox(raMinDeg, raMaxDeg, decMinDeg, decMaxDeg);
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_RANGES;
  checkMaxRanges(maxRanges);
  return keyRangesOf(region, maxRanges);
}
