// Angular distances on the sky (degrees, ICRS). Accurate from ~1e-12 arcsec up to 180 deg:
// sin/cos are taken of arguments reduced exactly in degrees, and the Vincenty form
// atan2(|a x b|, a . b) is written so its numerator does not cancel for nearby points.

import { UsageError } from "../core/errors.ts";
import { cosDegOut, sinCosDeg, sinDegOut } from "./trig.ts";
import { checkDec, checkRa, checkRadius, checkSameLength } from "./validate.ts";

// Local copies: an imported binding costs a getter call per use under tsx.
const RAD2DEG = 180 / Math.PI;
const DEG2RAD = Math.PI / 180;

/** Separation in radians of positions in degrees, inputs not checked (internal). */
export function separationRad(ra1: number, dec1: number, ra2: number, dec2: number): number {
  // On one meridian the separation is the difference in declination, exactly as the inputs give
  // it: a point placed exactly one radius north of another (the usual test of a radius) is then
  // at the radius to the last bit, as astropy finds it, not one rounding step beyond.
  if (ra1 === ra2) return Math.abs(dec2 - dec1) * DEG2RAD;
  // Haversine: hav(d) = hav(ddec) + cos(dec1) cos(dec2) hav(dra), with every sine taken of an
  // argument reduced exactly in degrees, so tiny angles keep their relative precision. Past
  // 90 degrees, measure to the antipode of point 2 instead (180 - d is then the small angle),
  // so near-antipodal pairs stay precise too. Every step is symmetric in the two points.
  sinCosDeg(dec1);
  const cosDec1 = cosDegOut();
  sinCosDeg(dec2);
  const cosProduct = cosDec1 * cosDegOut();
  // ra2 - ra1 rounds when the points straddle ra = 0 (a difference near 360); keep its
  // rounding error and add it back after the exact reduction modulo 360.
  const dra = ra2 - ra1;
  const v = dra - ra2;
  const draLow = ra2 - (dra - v) + (-ra1 - v);
  sinCosDeg(dra / 2, draLow / 2);
  const sinHalfDra = sinDegOut();
  const cosHalfDra = cosDegOut();
  sinCosDeg((dec2 - dec1) / 2);
  const sinHalfDdec = sinDegOut();
  const hav = sinHalfDdec * sinHalfDdec + cosProduct * sinHalfDra * sinHalfDra;
  if (hav <= 0.5) return 2 * Math.atan2(Math.sqrt(hav), Math.sqrt(1 - hav));
  sinCosDeg((dec1 + dec2) / 2);
  const sinHalfSum = sinDegOut();
  const havAntipode = sinHalfSum * sinHalfSum + cosProduct * cosHalfDra * cosHalfDra;
  return Math.PI - 2 * Math.atan2(Math.sqrt(havAntipode), Math.sqrt(1 - havAntipode));
}

/** Half-angles (radians) below which the close-pair series below are exact to ~1e-20. */
const SMALL_HALF_ANGLE = 0.01;

/** cos of an angle in degrees, |deg| <= 90, with full relative precision near the poles. */
function cosDec(deg: number): number {
  const a = Math.abs(deg);
  // 90 - a is exact for a >= 45, so the small cosine near a pole keeps its precision.
  return a <= 45 ? Math.cos(a * DEG2RAD) : Math.sin((90 - a) * DEG2RAD);
}

/**
 * {@link separationRad} for the common case of close points (ra in [0, 360) or any equal
 * range, less than ~1 degree apart, neither at a pole), about five times faster: the
 * haversine with sine and arcsine of the small half-angles taken from their series (error
 * below 1e-20 relative; a library sine for a wide ra difference near a pole), and two library
 * cosines. Falls back to {@link separationRad}
 * for anything else, so it is accurate everywhere; the two agree to a few units in the last
 * place (callers deciding at a limit use separationRad there).
 */
export function closeSeparationRad(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const x = (ra2 - ra1) * (DEG2RAD / 2);
  const y = (dec2 - dec1) * (DEG2RAD / 2);
  if (
    !(
      y < SMALL_HALF_ANGLE &&
      y > -SMALL_HALF_ANGLE &&
      // |ra2 - ra1| < 180: no wrap through ra 0/360 (the exact form keeps its rounding).
      x < Math.PI / 2 &&
      x > -Math.PI / 2 &&
      // A pole is one point whatever its ra: keep all such pairs on one form, so points
      // equally far (exactly, there) stay tied.
      dec1 < 90 &&
      dec1 > -90 &&
      dec2 < 90 &&
      dec2 > -90
    )
  ) {
    return separationRad(ra1, dec1, ra2, dec2);
  }
  const x2 = x * x;
  const y2 = y * y;
  // sin t = t (1 - t^2/6 (1 - t^2/20 (1 - t^2/42))), next term t^9/9! (< 3e-22 t here);
  // a wide ra difference (close points near a pole) takes the library sine.
  const sx =
    x < SMALL_HALF_ANGLE && x > -SMALL_HALF_ANGLE
      ? x * (1 - (x2 / 6) * (1 - (x2 / 20) * (1 - x2 / 42)))
      : Math.sin(x);
  const sy = y * (1 - (y2 / 6) * (1 - (y2 / 20) * (1 - y2 / 42)));
  const hav = sy * sy + cosDec(dec1) * cosDec(dec2) * sx * sx;
  // Only small separations (sin of half of it under 0.01, ~1.1 degrees) take the series.
  if (hav >= SMALL_HALF_ANGLE * SMALL_HALF_ANGLE) return separationRad(ra1, dec1, ra2, dec2);
  const s = Math.sqrt(hav);
  const s2 = hav;
  // asin s = s (1 + s^2/6 + 3 s^4/40 + 5 s^6/112 + 35 s^8/1152), s < 0.01 (next < 1e-20 s).
  return 2 * s * (1 + s2 * (1 / 6 + s2 * (3 / 40 + s2 * (5 / 112 + s2 * (35 / 1152)))));
}

/**
 * Angular separation in degrees between (ra1, dec1) and (ra2, dec2), all in degrees.
 * Accurate to ~1e-15 relative for small separations (down to 1e-9 arcsec and below) and to
 * ~3e-14 deg (a few ulps of 180) for large ones; symmetric in the two points.
 * @throws UsageError for non-finite ra or dec outside [-90, 90].
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
    throw new UsageError("ra2 and dec2 must both be numbers or both be arrays");
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
    throw new UsageError(`out must hold at least ${n} elements, got ${result.length}`);
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
    throw new UsageError(`chord must be in [0, 2], got ${chord}`);
  }
  return 2 * Math.asin(Math.min(1, chord / 2)) * RAD2DEG;
}

/** Chord length between two unit vectors separated by `angleDeg` degrees: 2 sin(angle / 2). */
export function angleToChord(angleDeg: number): number {
  if (!(angleDeg >= 0 && angleDeg <= 180)) {
    throw new UsageError(`angleDeg must be in [0, 180], got ${angleDeg}`);
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
