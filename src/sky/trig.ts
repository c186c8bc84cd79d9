// Trigonometry helpers shared by the sky modules (internal, not re-exported by index.ts).
//
// Two needs:
// - distances want sin/cos of angles given in degrees with the argument reduced exactly in
//   degrees, so that sin(180°) is 0 and angles near 90° or 180° keep full precision;
// - ang2pix wants cos/sin of theta rounded exactly like healpy's libm (glibc) does. No JS
//   engine guarantees that, so for the rare points whose pixel depends on the last bit,
//   ang2pix uses correctly rounded values from double-double arithmetic (glibc's results
//   agree with correct rounding except within ~0.004 ulp of a rounding midpoint).

export const DEG2RAD = Math.PI / 180;
export const RAD2DEG = 180 / Math.PI;

let sinOut = 0;
let cosOut = 0;

/**
 * sin and cos of the angle deg + degLow (degrees; degLow a small correction such as the
 * rounding error of a subtraction); results in {@link sinDegOut} / {@link cosDegOut}.
 */
export function sinCosDeg(deg: number, degLow = 0): void {
  // x % 360 and x - 90q are exact in binary floating point, so the reduced argument carries
  // no rounding error and the quadrant symmetries hold exactly.
  let r = deg % 360;
  // Round half away from zero, so that sin(-x) is exactly -sin(x).
  const q = r < 0 ? -Math.round(-r / 90) : Math.round(r / 90);
  r -= q * 90;
  const rad = (r + degLow) * DEG2RAD;
  const s = Math.sin(rad);
  const c = Math.cos(rad);
  switch (q & 3) {
    case 0:
      sinOut = s;
      cosOut = c;
      break;
    case 1:
      sinOut = c;
      cosOut = -s;
      break;
    case 2:
      sinOut = -s;
      cosOut = -c;
      break;
    default:
      sinOut = -c;
      cosOut = s;
  }
}

/** Result of the last {@link sinCosDeg} call. */
export function sinDegOut(): number {
  return sinOut;
}
/** Result of the last {@link sinCosDeg} call. */
export function cosDegOut(): number {
  return cosOut;
}

// ---- double-double arithmetic (only on the rare slow path) ----

type DD = [number, number];

const SPLITTER = 134217729; // 2^27 + 1, Dekker's split

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

function ddAdd(a: DD, b: DD): DD {
  const s = twoSum(a[0], b[0]);
  const t = twoSum(a[1], b[1]);
  let hi = s[0];
  let lo = s[1] + t[0];
  [hi, lo] = quickTwoSum(hi, lo);
  lo += t[1];
  return quickTwoSum(hi, lo);
}

function ddMul(a: DD, b: DD): DD {
  const p = twoProd(a[0], b[0]);
  return quickTwoSum(p[0], p[1] + (a[0] * b[1] + a[1] * b[0]));
}

function ddDivNumber(a: DD, b: number): DD {
  const q1 = a[0] / b;
  const p = twoProd(q1, b);
  const rem = ddAdd(a, [-p[0], -p[1]]);
  const q2 = rem[0] / b;
  return quickTwoSum(q1, q2);
}

// pi/2 split into pieces whose products with small integers are exact (33-bit mantissas),
// the standard Cody-Waite constants; their sum matches pi/2 to about 1e-47.
const PIO2_1 = 1.5707963267341256;
const PIO2_2 = 6.077100506303966e-11;
const PIO2_3 = 2.0222662487111665e-21;
const PIO2_3T = 8.4784276603689e-32;

// Taylor coefficients 1/n! as double-double, n = 0..29.
const INV_FACT: DD[] = [];
{
  let f: DD = [1, 0];
  for (let n = 0; n < 30; n++) {
    if (n > 0) f = ddDivNumber(f, n);
    INV_FACT.push(f);
  }
}

function reduceQuadrant(x: number): { k: number; r: DD } {
  const k = Math.round(x / (Math.PI / 2));
  if (k === 0) return { k, r: [x, 0] };
  // x - k*PIO2_1 is exact (Sterbenz), k*PIO2_n are exact products.
  let r: DD = twoSum(x - k * PIO2_1, -k * PIO2_2);
  r = ddAdd(r, [-k * PIO2_3, 0]);
  r = ddAdd(r, [-k * PIO2_3T, 0]);
  return { k, r };
}

function ddNeg(a: DD): DD {
  return [-a[0], -a[1]];
}

function sinCosReduced(r: DD): { s: DD; c: DD } {
  // |r| <= pi/4: terms beyond 1/29! are below 1e-33 relative.
  const u = ddMul(r, r);
  let s: DD = INV_FACT[29]!;
  for (let n = 27; n >= 1; n -= 2) s = ddAdd(INV_FACT[n]!, ddNeg(ddMul(u, s)));
  let c: DD = INV_FACT[28]!;
  for (let n = 26; n >= 0; n -= 2) c = ddAdd(INV_FACT[n]!, ddNeg(ddMul(u, c)));
  return { s: ddMul(s, r), c };
}

/** cos(x) correctly rounded (up to ~1e-30 relative), for |x| up to a few radians. */
export function cosCorrectlyRounded(x: number): number {
  const { k, r } = reduceQuadrant(x);
  const { s, c } = sinCosReduced(r);
  let v: DD;
  switch (((k % 4) + 4) % 4) {
    case 0:
      v = c;
      break;
    case 1:
      v = ddNeg(s);
      break;
    case 2:
      v = ddNeg(c);
      break;
    default:
      v = s;
  }
  return v[0] + v[1];
}

/** sin(x) correctly rounded (up to ~1e-30 relative), for |x| up to a few radians. */
export function sinCorrectlyRounded(x: number): number {
  const { k, r } = reduceQuadrant(x);
  const { s, c } = sinCosReduced(r);
  let v: DD;
  switch (((k % 4) + 4) % 4) {
    case 0:
      v = s;
      break;
    case 1:
      v = c;
      break;
    case 2:
      v = ddNeg(s);
      break;
    default:
      v = ddNeg(c);
  }
  return v[0] + v[1];
}
