// Deterministic test points: clumps (galaxy groups), a few near the poles and RA 0/360, and
// exact duplicates, so partitioning meets dense pixels, borders and equal keys.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `uniform` is the fraction spread over the whole sky (each lands in its own pixel, mostly). */
export function skyPoints(
  n: number,
  seed: number,
  uniform = 0.3,
): { ra: Float64Array; dec: Float64Array } {
  const rand = mulberry32(seed);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const centres = Array.from({ length: 8 }, () => [
    rand() * 360,
    Math.asin(2 * rand() - 1) * (180 / Math.PI),
  ]);
  centres.push([0.001, 10], [359.999, -10], [45, 89.99], [200, -89.99]);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < uniform) {
      // uniform on the sphere
      ra[i] = rand() * 360;
      dec[i] = Math.asin(2 * rand() - 1) * (180 / Math.PI);
    } else if (r < 0.95) {
      const [cra, cdec] = centres[Math.floor(rand() * centres.length)];
      const d = Math.max(-90, Math.min(90, cdec + (rand() - 0.5) * 0.5));
      ra[i] =
        (cra + ((rand() - 0.5) * 0.5) / Math.max(0.01, Math.cos((d * Math.PI) / 180)) + 360) % 360;
      dec[i] = d;
    } else {
      // exact duplicates of an earlier position (same _healpix_29 key)
      const j = i > 0 ? Math.floor(rand() * i) : 0;
      ra[i] = i > 0 ? ra[j] : 10;
      dec[i] = i > 0 ? dec[j] : 10;
    }
  }
  return { ra, dec };
}

/** The point at `distDeg` from (ra, dec) towards `bearingDeg` (east of north). */
export function destination(ra: number, dec: number, bearingDeg: number, distDeg: number) {
  const r = Math.PI / 180;
  const p1 = dec * r;
  const d = distDeg * r;
  const t = bearingDeg * r;
  const sinP2 = Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(t);
  const p2 = Math.asin(Math.max(-1, Math.min(1, sinP2)));
  const l = Math.atan2(
    Math.sin(t) * Math.sin(d) * Math.cos(p1),
    Math.cos(d) - Math.sin(p1) * Math.sin(p2),
  );
  return { ra: (((ra + l / r) % 360) + 360) % 360, dec: p2 / r };
}

/**
 * Great-circle distance in arcsec by the haversine formula: a reference written apart from the
 * library's own distance code, for tests that select rows independently.
 */
export function haversineArcsec(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const rad = Math.PI / 180;
  const h =
    Math.sin(((dec2 - dec1) * rad) / 2) ** 2 +
    Math.cos(dec1 * rad) * Math.cos(dec2 * rad) * Math.sin(((ra2 - ra1) * rad) / 2) ** 2;
  return ((2 * Math.asin(Math.sqrt(h))) / rad) * 3600;
}
