// Astrophysics the synthetic surveys need: a flat ΛCDM cosmology for distances, galactic
// latitude for the stellar density, and AB-magnitude / flux unit conversions.

/** Speed of light in km/s and in Å/s. */
export const C_KMS = 299792.458;
export const C_AS = 2.99792458e18;

const H0 = 70;
const OMEGA_M = 0.3;
const HUBBLE_DISTANCE = C_KMS / H0; // Mpc

/** Comoving distance (Mpc) tabulated on a z grid (Simpson's rule), interpolated linearly. */
const Z_MAX = 8;
const Z_STEPS = 4000;
let comovingTable: Float64Array | null = null;

function table(): Float64Array {
  if (comovingTable) return comovingTable;
  const t = new Float64Array(Z_STEPS + 1);
  const dz = Z_MAX / Z_STEPS;
  const inv = (z: number) => 1 / Math.sqrt(OMEGA_M * (1 + z) ** 3 + (1 - OMEGA_M));
  for (let k = 1; k <= Z_STEPS; k++) {
    const z0 = (k - 1) * dz;
    t[k] = t[k - 1] + (dz / 6) * (inv(z0) + 4 * inv(z0 + dz / 2) + inv(z0 + dz));
  }
  for (let k = 0; k <= Z_STEPS; k++) t[k] *= HUBBLE_DISTANCE;
  comovingTable = t;
  return t;
}

export function comovingDistanceMpc(z: number): number {
  const t = table();
  const x = (Math.min(Math.max(z, 0), Z_MAX) / Z_MAX) * Z_STEPS;
  const k = Math.min(Z_STEPS - 1, Math.floor(x));
  return t[k] + (t[k + 1] - t[k]) * (x - k);
}

export function luminosityDistanceMpc(z: number): number {
  return (1 + z) * comovingDistanceMpc(z);
}

export function angularDiameterDistanceMpc(z: number): number {
  return comovingDistanceMpc(z) / (1 + z);
}

/** m − M; z must be > 0. */
export function distanceModulus(z: number): number {
  return 5 * Math.log10(luminosityDistanceMpc(Math.max(z, 1e-4)) * 1e5);
}

/** Angular size (arcsec) of a physical size (kpc) at redshift z. */
export function kpcToArcsec(kpc: number, z: number): number {
  return ((kpc / 1000 / angularDiameterDistanceMpc(Math.max(z, 1e-3))) * 180 * 3600) / Math.PI;
}

// IAU 1958 / ICRS north galactic pole.
const RA_NGP = 192.85948;
const DEC_NGP = 27.12825;
const D2R = Math.PI / 180;

/** Galactic latitude b (degrees) of an ICRS position. */
export function galacticLatitude(ra: number, dec: number): number {
  const s =
    Math.sin(dec * D2R) * Math.sin(DEC_NGP * D2R) +
    Math.cos(dec * D2R) * Math.cos(DEC_NGP * D2R) * Math.cos((ra - RA_NGP) * D2R);
  return Math.asin(Math.max(-1, Math.min(1, s))) / D2R;
}

/** AB magnitude → nanomaggies (1 nmgy = mag 22.5 AB). */
export function magToNanomaggies(mag: number): number {
  return 10 ** (-0.4 * (mag - 22.5));
}

/** nanomaggies → AB magnitude; NaN for non-positive flux (as survey catalogs do). */
export function nanomaggiesToMag(flux: number): number {
  return flux > 0 ? 22.5 - 2.5 * Math.log10(flux) : Number.NaN;
}

/** Offset a position by (east, north) arcsec on the sky (small offsets, any declination). */
export function offsetArcsec(
  ra: number,
  dec: number,
  eastArcsec: number,
  northArcsec: number,
): [number, number] {
  const d = dec + northArcsec / 3600;
  const cos = Math.max(1e-6, Math.cos(dec * D2R));
  let r = ra + eastArcsec / 3600 / cos;
  r = ((r % 360) + 360) % 360;
  return [r, Math.max(-90, Math.min(90, d))];
}
