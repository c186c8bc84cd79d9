// Angular distances on the sky (degrees, ICRS). Accurate from ~1e-12 arcsec up to 180 deg:
// sin/cos are taken of arguments reduced exactly in degrees, and the Vincenty form
// atan2(|a x b|, a . b) is written so its numerator does not cancel for nearby points.

import { cosDegOut, RAD2DEG, sinCosDeg, sinDegOut } from "./trig.ts";
import { checkDec, checkRa, checkRadius, checkSameLength } from "./validate.ts";

/** Separation in radians of positions in degrees, inputs not checked (internal). */
export function separationRad(ra1: number, dec1: number, ra2: number, dec2: number): number {
  sinCosDeg(dec1);
  const s1 = sinDegOut();
  const c1 = cosDegOut();
  sinCosDeg(dec2);
  const c2 = cosDegOut();
  const dra = ra2 - ra1;
  sinCosDeg(dra);
  const sinDra = sinDegOut();
  sinCosDeg(dra / 2);
  const sinHalfDra = sinDegOut();
  const haversineDra = 2 * sinHalfDra * sinHalfDra; // 1 - cos(dra), without cancellation
  sinCosDeg(dec2 - dec1);
  const sinDdec = sinDegOut();
  const cosDdec = cosDegOut();
  // |a x b| components: cos(dec2) sin(dra) and
  // cos(dec1) sin(dec2) - sin(dec1) cos(dec2) cos(dra) = sin(ddec) + sin(dec1) cos(dec2) (1 - cos(dra)).
  const num1 = c2 * sinDra;
  const num2 = sinDdec + s1 * c2 * haversineDra;
  // a . b = sin(dec1) sin(dec2) + cos(dec1) cos(dec2) cos(dra) = cos(ddec) - cos(dec1) cos(dec2) (1 - cos(dra)).
  const den = cosDdec - c1 * c2 * haversineDra;
  return Math.atan2(Math.sqrt(num1 * num1 + num2 * num2), den);
}

/**
 * Angular separation in degrees between (ra1, dec1) and (ra2, dec2), all in degrees.
 * Accurate to ~1e-16 relative for tiny separations and ~1e-14 deg absolute near 180 deg.
 * @throws RangeError for non-finite ra or dec outside [-90, 90].
 */
export function angularSeparationDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  checkRa(ra1, "ra1");
  checkDec(dec1, "dec1");
  checkRa(ra2, "ra2");
  checkDec(dec2, "dec2");
  return separationRad(ra1, dec1, ra2, dec2) * RAD2DEG;
}

/**
 * Angular separations in degrees between points (ra1[i], dec1[i]) and either one point
 * (ra2, dec2 numbers) or the matching points of equal-length arrays. Writes into `out` when
 * given. Degrees in, degrees out.
 */
export function angularSeparationDegArray(
  ra1: ArrayLike<number>,
  dec1: ArrayLike<number>,
  ra2: ArrayLike<number> | number,
  dec2: ArrayLike<number> | number,
  out?: Float64Array,
): Float64Array {
  checkSameLength(ra1, dec1, "ra1 and dec1");
  const n = ra1.length;
  const scalar = typeof ra2 === "number";
  if (scalar !== (typeof dec2 === "number")) {
    throw new RangeError("ra2 and dec2 must both be numbers or both be arrays");
  }
  if (typeof ra2 === "number") {
    checkRa(ra2, "ra2");
    checkDec(dec2 as number, "dec2");
  } else {
    checkSameLength(ra2, dec2 as ArrayLike<number>, "ra2 and dec2");
    checkSameLength(ra1, ra2, "ra1 and ra2");
  }
  const result = out ?? new Float64Array(n);
  if (result.length < n) {
    throw new RangeError(`out must hold at least ${n} elements, got ${result.length}`);
  }
  for (let i = 0; i < n; i++) {
    const a = ra1[i]!;
    const d = dec1[i]!;
    if (a - a !== 0) checkRa(a, `ra1[${i}]`);
    if (!(d >= -90 && d <= 90)) checkDec(d, `dec1[${i}]`);
    let b: number;
    let e: number;
    if (typeof ra2 === "number") {
      b = ra2;
      e = dec2 as number;
    } else {
      b = ra2[i]!;
      e = (dec2 as ArrayLike<number>)[i]!;
      if (b - b !== 0) checkRa(b, `ra2[${i}]`);
      if (!(e >= -90 && e <= 90)) checkDec(e, `dec2[${i}]`);
    }
    result[i] = separationRad(a, d, b, e) * RAD2DEG;
  }
  return result;
}

/**
 * Unit vector (x, y, z) of (raDeg, decDeg) in degrees, ICRS axes (x towards ra = 0, z towards
 * the north pole). Writes into `out` (offset `offset`) when given.
 */
export function radecToUnitVector(
  raDeg: number,
  decDeg: number,
  out: Float64Array = new Float64Array(3),
  offset = 0,
): Float64Array {
  checkRa(raDeg);
  checkDec(decDeg);
  sinCosDeg(decDeg);
  const cosDec = cosDegOut();
  out[offset + 2] = sinDegOut();
  sinCosDeg(raDeg);
  out[offset] = cosDec * cosDegOut();
  out[offset + 1] = cosDec * sinDegOut();
  return out;
}

/**
 * Angle in degrees subtended by a chord of length `chord` between two unit vectors
 * (0 <= chord <= 2): 2 asin(chord / 2).
 */
export function chordToAngleDeg(chord: number): number {
  if (!(chord >= 0 && chord <= 2 + 1e-15)) {
    throw new RangeError(`chord must be in [0, 2], got ${chord}`);
  }
  return 2 * Math.asin(Math.min(1, chord / 2)) * RAD2DEG;
}

/** Chord length between two unit vectors separated by `angleDeg` degrees: 2 sin(angle / 2). */
export function angleToChord(angleDeg: number): number {
  if (!(angleDeg >= 0 && angleDeg <= 180)) {
    throw new RangeError(`angleDeg must be in [0, 180], got ${angleDeg}`);
  }
  sinCosDeg(angleDeg / 2);
  return 2 * sinDegOut();
}

/**
 * True when (raDeg, decDeg) lies within `radiusDeg` of (ra0Deg, dec0Deg), boundary included;
 * the exact angular separation is compared, all in degrees.
 */
export function inCone(
  raDeg: number,
  decDeg: number,
  ra0Deg: number,
  dec0Deg: number,
  radiusDeg: number,
): boolean {
  checkRadius(radiusDeg);
  return angularSeparationDeg(raDeg, decDeg, ra0Deg, dec0Deg) <= radiusDeg;
}
