// The synthetic sky both surveys observe: deep fields (as the HSC Deep/UltraDeep fields), each
// a tract of overlapping patches, filled with galaxies clustered in groups (Neyman-Scott: group
// centres at random, members scattered around them at the group's redshift) plus a field
// population, and stars whose density rises toward the Galactic plane. Every object has one
// SED, so its magnitudes in every band and its spectrum agree.
import { TanWcs } from "../formats/index.ts";
import { distanceModulus, galacticLatitude, kpcToArcsec, offsetArcsec } from "./physics.ts";
import { Rng } from "./random.ts";
import {
  BAND_NAMES,
  type BandName,
  blueGalaxySed,
  redGalaxySed,
  type Sed,
  starSed,
  unitMagnitudes,
} from "./sed.ts";

/** HSC pixel scale (arcsec/pixel). */
export const PIXEL_SCALE = 0.168;

export interface FieldDef {
  name: string;
  /** Tract centre (deg, ICRS). */
  ra: number;
  dec: number;
  tract: number;
}

/** HSC-SSP Deep/UltraDeep field centres, and a low-latitude field where stars are dense. */
export const FIELDS: FieldDef[] = [
  { name: "COSMOS", ra: 150.12, dec: 2.21, tract: 9813 },
  { name: "SXDS", ra: 34.5, dec: -5.1, tract: 8523 },
  { name: "ELAIS-N1", ra: 242.75, dec: 54.98, tract: 17130 },
  { name: "DEEP2-3", ra: 352.35, dec: -0.35, tract: 9464 },
  { name: "LOWLAT", ra: 290.0, dec: 20.0, tract: 20001 },
];

export interface Layout {
  fields: FieldDef[];
  /** Patches per tract side. */
  patchesPerSide: number;
  /** Patch size in pixels (square). */
  patchPixels: number;
  /** Overlap of neighbouring patches (pixels), as HSC patches overlap. */
  overlap: number;
}

export interface PopulationOptions {
  /** Field galaxies rendered (i < renderLimit) per arcmin², outside groups. */
  galaxyDensity: number;
  /** Galaxy groups per arcmin². */
  groupDensity: number;
  /** Mean members of a group. */
  groupRichness: number;
  /** Stars per arcmin² at |b| = 60°; scales as (sin 60° / sin |b|)^1.5. */
  starDensity: number;
  /** Faintest i magnitude rendered into the images. */
  renderLimit: number;
}

export interface SynthObject {
  /** Unique index in the universe (its truth id). */
  index: number;
  kind: "galaxy" | "star";
  /** True position (deg). */
  ra: number;
  dec: number;
  z: number;
  sed: Sed;
  /** Multiplies the SED's observed f_λ (1e-17 erg/(s cm² Å)). */
  amplitude: number;
  /** True AB magnitudes. */
  mag: Record<BandName, number>;
  /** Sérsic half-light radius along the major axis (arcsec); 0 for stars. */
  reArcsec: number;
  sersicN: number;
  /** Axis ratio b/a and position angle (deg east of north). */
  q: number;
  paDeg: number;
  field: number;
  /** Group number within the universe, −1 for field objects. */
  group: number;
  /** Objects generated around a field for the spectroscopic survey only (no images). */
  outsideImaging: boolean;
}

export interface Tract {
  field: FieldDef;
  fieldIndex: number;
  wcs: TanWcs;
  /** Tract size in pixels (square). */
  size: number;
  /** Distance between patch origins (pixels). */
  step: number;
}

export function tractOf(layout: Layout, fieldIndex: number): Tract {
  const field = layout.fields[fieldIndex];
  const step = layout.patchPixels - layout.overlap;
  const size = step * (layout.patchesPerSide - 1) + layout.patchPixels;
  const scale = PIXEL_SCALE / 3600;
  const wcs = new TanWcs({
    crpix: [(size + 1) / 2, (size + 1) / 2],
    crval: [field.ra, field.dec],
    cd: [
      [-scale, 0],
      [0, scale],
    ],
    radesys: "ICRS",
  });
  return { field, fieldIndex, wcs, size, step };
}

/** Tract area in arcmin². */
export function tractArea(t: Tract): number {
  return ((t.size * PIXEL_SCALE) / 60) ** 2;
}

// Luminosity function (i band): Schechter with M* and α typical of i-selected samples.
const M_STAR = -21.5;
const ALPHA = -1.25;
const M_FAINT = -15;

/** Absolute magnitude from a Schechter function (rejection sampling in magnitude). */
function schechterMag(rng: Rng, bright = -24, faint = M_FAINT): number {
  const phi = (m: number) => {
    const x = 10 ** (0.4 * (M_STAR - m));
    return x ** (ALPHA + 1) * Math.exp(-x);
  };
  const peak = phi(faint);
  for (;;) {
    const m = rng.range(bright, faint);
    if (rng.uniform() * peak <= phi(m)) return m;
  }
}

/** Field redshift: dN/dz ∝ z² exp(−(z/0.45)^1.5), the usual deep-field shape. */
function fieldRedshift(rng: Rng): number {
  const f = (z: number) => z * z * Math.exp(-((z / 0.45) ** 1.5));
  const peak = f(0.45 * (4 / 3) ** (2 / 3)) * 1.01;
  for (;;) {
    const z = rng.range(0.02, 3);
    if (rng.uniform() * peak <= f(z)) return z;
  }
}

interface GalaxyDraft {
  z: number;
  red: boolean;
  absMag: number;
}

function makeGalaxy(
  rng: Rng,
  draft: GalaxyDraft,
  ra: number,
  dec: number,
  fieldIndex: number,
  group: number,
): Omit<SynthObject, "index" | "outsideImaging"> {
  const { z, red, absMag } = draft;
  const sed = red ? redGalaxySed(rng) : blueGalaxySed(rng);
  const iMag = absMag + distanceModulus(z) + 2.5 * Math.log10(1 + z) * (red ? 0.6 : 0.2);
  const unit = unitMagnitudes(sed, z);
  const amplitude = 10 ** (-0.4 * (iMag - unit.i));
  const mag = {} as Record<BandName, number>;
  for (const b of BAND_NAMES) mag[b] = unit[b] - 2.5 * Math.log10(amplitude);
  // Size–luminosity relation: r_e ≈ 4 kpc at M*, shallower for discs, with scatter.
  const reKpc =
    (red ? 4.5 : 4) *
    10 ** (-0.4 * (absMag - M_STAR) * (red ? 0.6 : 0.3)) *
    Math.exp(0.3 * rng.normal());
  const reArcsec = Math.min(6, Math.max(0.08, kpcToArcsec(reKpc, z)));
  return {
    kind: "galaxy",
    ra,
    dec,
    z,
    sed,
    amplitude,
    mag,
    reArcsec,
    sersicN: red
      ? Math.min(6, Math.max(2.5, 4 + 0.5 * rng.normal()))
      : Math.max(0.6, 1 + 0.2 * rng.normal()),
    q: red ? rng.range(0.55, 1) : rng.range(0.2, 1),
    paDeg: rng.range(0, 180),
    field: fieldIndex,
    group,
  };
}

function makeStar(
  rng: Rng,
  ra: number,
  dec: number,
  fieldIndex: number,
  iMag: number,
): Omit<SynthObject, "index" | "outsideImaging"> {
  // Mostly cool main-sequence stars; a tail of hot ones.
  const t = rng.chance(0.85) ? rng.range(3300, 6500) : rng.range(6500, 11000);
  const sed = starSed(t);
  // Radial velocity of a disc/halo star: tens of km/s.
  const z = (rng.normal() * 60) / 299792.458;
  const unit = unitMagnitudes(sed, z);
  const amplitude = 10 ** (-0.4 * (iMag - unit.i));
  const mag = {} as Record<BandName, number>;
  for (const b of BAND_NAMES) mag[b] = unit[b] - 2.5 * Math.log10(amplitude);
  return {
    kind: "star",
    ra,
    dec,
    z,
    sed,
    amplitude,
    mag,
    reArcsec: 0,
    sersicN: 0,
    q: 1,
    paDeg: 0,
    field: fieldIndex,
    group: -1,
  };
}

/**
 * Draws galaxies until one passes the magnitude limit; redshift and luminosity from the field
 * distributions, or the group's redshift when `groupZ` is given.
 */
function visibleGalaxy(rng: Rng, limit: number, groupZ?: number, red?: boolean): GalaxyDraft {
  for (;;) {
    const z =
      groupZ !== undefined
        ? Math.max(0.01, groupZ + 0.003 * (1 + groupZ) * rng.normal())
        : fieldRedshift(rng);
    // Group members are the luminous galaxies of their halo (dwarfs are counted as field).
    const absMag = groupZ !== undefined ? schechterMag(rng, -23.5, -19) : schechterMag(rng);
    const isRed = red ?? rng.chance(0.3);
    const m = absMag + distanceModulus(z) + 2.5 * Math.log10(1 + z) * (isRed ? 0.6 : 0.2);
    if (m < limit) return { z, red: isRed, absMag };
  }
}

/** A point uniformly in the tract (plus `margin` pixels around it). */
function tractPoint(rng: Rng, t: Tract, margin: number): [number, number] {
  const x = rng.range(-margin, t.size + margin);
  const y = rng.range(-margin, t.size + margin);
  return t.wcs.pixel0ToSky(x, y);
}

/** Objects in and around each tract. Deterministic in (seed, layout, options). */
export function generateUniverse(
  seed: number,
  layout: Layout,
  pop: PopulationOptions,
): SynthObject[] {
  const objects: SynthObject[] = [];
  const push = (o: Omit<SynthObject, "index" | "outsideImaging">, outside = false) =>
    objects.push({ ...o, index: objects.length, outsideImaging: outside });
  let groupCount = 0;
  for (let f = 0; f < layout.fields.length; f++) {
    const rng = new Rng(seed, `field-${layout.fields[f].name}`);
    const t = tractOf(layout, f);
    const area = tractArea(t);
    const margin = 24;
    // Groups: a bright red central galaxy, members around it at the group redshift.
    const groups = rng.poisson(pop.groupDensity * area);
    for (let g = 0; g < groups; g++) {
      const group = groupCount++;
      const [gra, gdec] = tractPoint(rng, t, 0);
      const gz = rng.range(0.15, 1.0);
      const sigmaArcsec = kpcToArcsec(rng.range(30, 90), gz);
      const central = visibleGalaxy(rng, pop.renderLimit - 2, gz, true);
      central.absMag = Math.min(central.absMag, M_STAR - 0.8);
      push(makeGalaxy(rng, central, gra, gdec, f, group));
      const members = rng.poisson(pop.groupRichness);
      for (let k = 0; k < members; k++) {
        const d = visibleGalaxy(rng, pop.renderLimit, gz, rng.chance(0.6));
        const [ra, dec] = offsetArcsec(
          gra,
          gdec,
          sigmaArcsec * rng.normal(),
          sigmaArcsec * rng.normal(),
        );
        push(makeGalaxy(rng, d, ra, dec, f, group));
      }
    }
    const field = rng.poisson(pop.galaxyDensity * area);
    for (let k = 0; k < field; k++) {
      const [ra, dec] = tractPoint(rng, t, margin);
      push(makeGalaxy(rng, visibleGalaxy(rng, pop.renderLimit), ra, dec, f, -1));
    }
    // Stars: denser toward the Galactic plane.
    const b = Math.max(5, Math.abs(galacticLatitude(t.field.ra, t.field.dec)));
    const starDensity =
      pop.starDensity * (Math.sin((60 * Math.PI) / 180) / Math.sin((b * Math.PI) / 180)) ** 1.5;
    const stars = rng.poisson(starDensity * area);
    for (let k = 0; k < stars; k++) {
      const [ra, dec] = tractPoint(rng, t, margin);
      // Star counts per magnitude rise slowly toward faint magnitudes.
      const u = rng.uniform();
      const lo = 10 ** (0.15 * 15.5);
      const hi = 10 ** (0.15 * pop.renderLimit);
      const iMag = Math.log10(lo + u * (hi - lo)) / 0.15;
      push(makeStar(rng, ra, dec, f, iMag));
    }
  }
  return objects;
}

/**
 * Extra galaxies in a ring around each tract (out to twice its half-size), seen only by the
 * spectroscopic survey: `fraction` of the in-footprint spectroscopic targets.
 */
export function generateOutskirts(
  seed: number,
  layout: Layout,
  counts: number[],
  firstIndex: number,
  limitR: number,
): SynthObject[] {
  const out: SynthObject[] = [];
  for (let f = 0; f < layout.fields.length; f++) {
    const rng = new Rng(seed, `outskirts-${layout.fields[f].name}`);
    const t = tractOf(layout, f);
    for (let k = 0; k < counts[f]; k++) {
      let x: number;
      let y: number;
      do {
        x = rng.range(-t.size / 2, 1.5 * t.size);
        y = rng.range(-t.size / 2, 1.5 * t.size);
      } while (x >= -16 && x < t.size + 16 && y >= -16 && y < t.size + 16);
      const [ra, dec] = t.wcs.pixel0ToSky(x, y);
      let g: Omit<SynthObject, "index" | "outsideImaging">;
      do g = makeGalaxy(rng, visibleGalaxy(rng, limitR + 1), ra, dec, f, -1);
      while (g.mag.r >= limitR);
      out.push({ ...g, index: firstIndex + out.length, outsideImaging: true });
    }
  }
  return out;
}
