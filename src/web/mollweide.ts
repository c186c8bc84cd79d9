// The Mollweide (equal-area) projection of the whole sky, as astronomers draw it: RA increases to
// the left, the centre of the map is RA `centreRa`. Coordinates are in the unit ellipse
// x ∈ [-2√2, 2√2], y ∈ [-√2, √2] (x to the right, y up).

const SQRT2 = Math.SQRT2;
const DEG = Math.PI / 180;

export const MOLLWEIDE_HALF_WIDTH = 2 * SQRT2;
export const MOLLWEIDE_HALF_HEIGHT = SQRT2;

/** The auxiliary angle θ with 2θ + sin 2θ = π sin φ (Newton's method; exact at the poles). */
function auxiliaryAngle(latRad: number): number {
  if (Math.abs(Math.abs(latRad) - Math.PI / 2) < 1e-12) return latRad;
  const target = Math.PI * Math.sin(latRad);
  let t = latRad;
  for (let i = 0; i < 50; i++) {
    const f = 2 * t + Math.sin(2 * t) - target;
    const d = 2 + 2 * Math.cos(2 * t);
    if (d < 1e-15) break;
    const step = f / d;
    t -= step;
    if (Math.abs(step) < 1e-13) break;
  }
  return t;
}

/** RA offset from the centre, in degrees in (-180, 180]. */
function lonOffset(raDeg: number, centreRa: number): number {
  let d = (((raDeg - centreRa) % 360) + 360) % 360;
  if (d > 180) d -= 360;
  return d;
}

/** (ra, dec) in degrees → map coordinates (RA increasing to the left). */
export function mollweideForward(
  raDeg: number,
  decDeg: number,
  centreRa = 180,
): { x: number; y: number } {
  const theta = auxiliaryAngle(decDeg * DEG);
  const lon = lonOffset(raDeg, centreRa) * DEG;
  return {
    x: -((2 * SQRT2) / Math.PI) * lon * Math.cos(theta),
    y: SQRT2 * Math.sin(theta),
  };
}

/** Map coordinates → (ra in [0, 360), dec) in degrees, or null outside the ellipse. */
export function mollweideInverse(
  x: number,
  y: number,
  centreRa = 180,
): { ra: number; dec: number } | null {
  const s = y / SQRT2;
  if (s < -1 || s > 1) return null;
  const theta = Math.asin(s);
  const cosT = Math.cos(theta);
  const sinPhi = (2 * theta + Math.sin(2 * theta)) / Math.PI;
  const dec = Math.asin(Math.max(-1, Math.min(1, sinPhi))) / DEG;
  const lon = cosT < 1e-12 ? 0 : (-Math.PI * x) / (2 * SQRT2 * cosT);
  if (lon < -Math.PI - 1e-12 || lon > Math.PI + 1e-12) return null;
  let ra = (centreRa + lon / DEG) % 360;
  if (ra < 0) ra += 360;
  return { ra, dec };
}
