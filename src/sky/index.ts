/**
 * Public API of the sky index: HEALPix NESTED (orders 0..29) and angular distances.
 * Units: degrees for positions, radii and separations (ICRS ra/dec); pixel indices are
 * NESTED; order-29 indices are the `_healpix_29` keys of the on-disk layout.
 *
 * @module astropile/sky
 */

export {
  angleToChord,
  angularSeparationDeg,
  angularSeparationDegArray,
  chordToAngleDeg,
  inCone,
  radecToUnitVector,
} from "./distance.ts";
export {
  ang2pix,
  ang2pixNumber,
  ang2pixOrder29,
  boundaries,
  boxKeyRanges,
  coneKeyRanges,
  degrade,
  type KeyRangeOptions,
  keyRange,
  MAX_ORDER,
  neighbours,
  npix,
  npixNumber,
  nside,
  pix2ang,
  pixelRadiusBoundDeg,
  type QueryOptions,
  queryBox,
  queryDisc,
} from "./healpix.ts";
