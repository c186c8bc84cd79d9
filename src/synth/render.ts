// Rendering objects into survey images. The PSF is a double Gaussian (a core plus a 10% wing of
// twice its width, close to the Moffat-like PSFs of ground-based surveys) with a given FWHM.
// Stars are the PSF integrated over each pixel (erf differences, exact). Galaxies are Sérsic
// profiles sampled 3×3 per pixel, normalised to their total flux, then convolved with the PSF
// (separable per Gaussian component) and added to the image.

export interface Psf {
  /** FWHM of the whole profile (arcsec), what catalogs report as seeing. */
  fwhmArcsec: number;
  /** Core and wing sigmas (pixels) and the wing's share of the flux. */
  sigma1: number;
  sigma2: number;
  wing: number;
}

const WING = 0.1;
const WING_RATIO = 2;

/** FWHM of the double Gaussian with core sigma 1 (pixels), solved once by bisection. */
const UNIT_FWHM = (() => {
  const p = (r: number) =>
    (1 - WING) * Math.exp(-0.5 * r * r) +
    (WING / WING_RATIO ** 2) * Math.exp((-0.5 * r * r) / WING_RATIO ** 2);
  const half = p(0) / 2;
  let lo = 0;
  let hi = 5;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (p(mid) > half) lo = mid;
    else hi = mid;
  }
  return 2 * lo;
})();

export function makePsf(fwhmArcsec: number, pixelScale: number): Psf {
  const sigma1 = fwhmArcsec / pixelScale / UNIT_FWHM;
  return { fwhmArcsec, sigma1, sigma2: sigma1 * WING_RATIO, wing: WING };
}

/** erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return s * y;
}

/** Fraction of a unit 1-D Gaussian (centre c, sigma s) falling in pixel i ([i−½, i+½)). */
function pixelFractions(c: number, s: number, lo: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const k = 1 / (Math.SQRT2 * s);
  let prev = erf((lo - 0.5 - c) * k);
  for (let i = 0; i < n; i++) {
    const next = erf((lo + i + 0.5 - c) * k);
    out[i] = 0.5 * (next - prev);
    prev = next;
  }
  return out;
}

/** An image plane: row-major [height][width]. */
export interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

/** Adds a point source of `flux` at 0-based pixel position (x, y). */
export function addStar(plane: Plane, x: number, y: number, flux: number, psf: Psf): void {
  const r = Math.ceil(5 * psf.sigma2);
  const x0 = Math.max(0, Math.floor(x) - r);
  const x1 = Math.min(plane.width, Math.floor(x) + r + 1);
  const y0 = Math.max(0, Math.floor(y) - r);
  const y1 = Math.min(plane.height, Math.floor(y) + r + 1);
  if (x0 >= x1 || y0 >= y1) return;
  const comps: Array<[number, number]> = [
    [1 - psf.wing, psf.sigma1],
    [psf.wing, psf.sigma2],
  ];
  for (const [w, s] of comps) {
    const fx = pixelFractions(x, s, x0, x1 - x0);
    const fy = pixelFractions(y, s, y0, y1 - y0);
    for (let j = y0; j < y1; j++) {
      const row = j * plane.width;
      const a = flux * w * fy[j - y0];
      for (let i = x0; i < x1; i++) plane.data[row + i] += a * fx[i - x0];
    }
  }
}

/** b_n of the Sérsic profile (Ciotti & Bertin 1999 expansion). */
export function sersicB(n: number): number {
  return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n) + 131 / (1148175 * n ** 3);
}

export interface GalaxyShape {
  /** Half-light radius along the major axis (pixels). */
  rePx: number;
  n: number;
  q: number;
  /** Position angle east of north (deg), in an image with east to the left (−x) and north up. */
  paDeg: number;
}

/**
 * The unconvolved Sérsic profile sampled 3×3 per pixel on a (2R+1)² box centred on pixel
 * (cx, cy) with the object at sub-pixel offset (dx, dy) from that centre, normalised to sum 1.
 */
export function sersicStamp(shape: GalaxyShape, dx: number, dy: number, R: number): Float64Array {
  const size = 2 * R + 1;
  const out = new Float64Array(size * size);
  const bn = sersicB(shape.n);
  const invN = 1 / shape.n;
  const pa = (shape.paDeg * Math.PI) / 180;
  // Major axis direction in pixel coordinates: east is −x, north is +y.
  const ux = -Math.sin(pa);
  const uy = Math.cos(pa);
  const invRe = 1 / shape.rePx;
  const invQ = 1 / shape.q;
  const value = (px: number, py: number) => {
    const major = px * ux + py * uy;
    const minor = (-px * uy + py * ux) * invQ;
    const r = Math.sqrt(major * major + minor * minor) * invRe;
    return Math.exp(-bn * (r ** invN - 1));
  };
  let sum = 0;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      const px = i - R - dx;
      const py = j - R - dy;
      let v: number;
      // The profile is steep only near the centre: sample 3×3 per pixel there, once elsewhere.
      if (px * px + py * py < 9 + 4 * shape.rePx) {
        v = 0;
        for (let b = -1; b <= 1; b++)
          for (let a = -1; a <= 1; a++) v += value(px + a / 3, py + b / 3);
        v /= 9;
      } else v = value(px, py);
      out[j * size + i] = v;
      sum += v;
    }
  }
  for (let k = 0; k < out.length; k++) out[k] /= sum;
  return out;
}

/** Discrete unit-sum Gaussian kernel of half-width ceil(3σ). */
function kernel(sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    sum += k[i + r];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * Half-size of the unconvolved box: 4 r_e for discs (99% of the light), 6 r_e for steeper
 * profiles (~90%; the stamp is normalised to the light inside it), capped.
 */
export function galaxyRadius(shape: GalaxyShape, maxR = 40): number {
  const k = shape.n > 1.5 ? 6 : 4;
  return Math.min(maxR, Math.max(3, Math.ceil(k * shape.rePx) + 1));
}

/** Half-size of what addGalaxy touches: the box plus the PSF kernel. */
export function galaxyReach(R: number, psf: Psf): number {
  return R + Math.ceil(3 * psf.sigma2);
}

/**
 * Adds a galaxy to a plane: `profile` is the unit-sum unconvolved stamp of half-size R centred
 * on pixel (cx, cy), convolved here with the PSF's two Gaussians (separable: rows, then columns,
 * the column pass writing straight into the plane) and scaled by `flux`.
 */
export function addGalaxy(
  plane: Plane,
  cx: number,
  cy: number,
  profile: Float64Array,
  R: number,
  flux: number,
  psf: Psf,
): void {
  const k1 = kernel(psf.sigma1);
  const k2 = kernel(psf.sigma2);
  const r1 = (k1.length - 1) / 2;
  const r2 = (k2.length - 1) / 2;
  const inner = 2 * R + 1;
  const pad = r2;
  const size = inner + 2 * pad;
  // Row pass over the profile's rows only (the padding rows are zero): width grows by 2·pad.
  const t1 = new Float64Array(inner * size);
  const t2 = new Float64Array(inner * size);
  for (let j = 0; j < inner; j++) {
    const src = j * inner;
    const dst = j * size;
    for (let X = 0; X < size; X++) {
      const i0 = X - pad;
      let a = 0;
      for (let t = Math.max(-r1, i0 - inner + 1); t <= Math.min(r1, i0); t++)
        a += profile[src + i0 - t] * k1[t + r1];
      let b = 0;
      for (let t = Math.max(-r2, i0 - inner + 1); t <= Math.min(r2, i0); t++)
        b += profile[src + i0 - t] * k2[t + r2];
      t1[dst + X] = a;
      t2[dst + X] = b;
    }
  }
  const w1 = flux * (1 - psf.wing);
  const w2 = flux * psf.wing;
  const x0 = cx - R - pad;
  const y0 = cy - R - pad;
  for (let Y = 0; Y < size; Y++) {
    const y = y0 + Y;
    if (y < 0 || y >= plane.height) continue;
    const j0 = Y - pad;
    const a0 = Math.max(-r1, j0 - inner + 1);
    const a1 = Math.min(r1, j0);
    const b0 = Math.max(-r2, j0 - inner + 1);
    const b1 = Math.min(r2, j0);
    const row = y * plane.width;
    for (let X = 0; X < size; X++) {
      const x = x0 + X;
      if (x < 0 || x >= plane.width) continue;
      let a = 0;
      for (let t = a0; t <= a1; t++) a += t1[(j0 - t) * size + X] * k1[t + r1];
      let b = 0;
      for (let t = b0; t <= b1; t++) b += t2[(j0 - t) * size + X] * k2[t + r2];
      plane.data[row + x] += w1 * a + w2 * b;
    }
  }
}
