// In-memory matching kernel: every pair (or the k nearest) within a radius, on the sphere.
//
// The right side is bucketed in a grid of cubes in unit-vector space whose side is at least
// the chord of the radius, so two points within the radius lie in the same or adjacent cubes
// (27 to look at). Cubes are found through an open-addressing hash table, so memory follows
// the number of points, not the number of cubes (1 mas gives ~4e8 cubes per axis). Candidates
// are screened with a squared chord on a slightly widened radius (rounding of the vectors),
// then decided on the accurate haversine separation: a pair is kept when sep <= radius
// (boundary included, like `inCone`). Poles and RA 0/360 need no special case in 3-D.

import { UsageError } from "../errors.ts";
import { separationRad } from "../sky/distance.ts";

const RAD2DEG = 180 / Math.PI;
const DEG2RAD = Math.PI / 180;

/** Positions in degrees (ICRS), equal lengths. */
export interface Points {
  ra: ArrayLike<number>;
  dec: ArrayLike<number>;
}

/** Matched pairs: left[i] matches right[i] at sepDeg[i] degrees. */
export interface Pairs {
  left: Uint32Array;
  right: Uint32Array;
  sepDeg: Float64Array;
}

export interface NearestOptions {
  /** How many nearest right points per left point (default 1). */
  k?: number;
}

/** Smallest cube side: keeps cube coordinates within int32 (2 / 1e-9 < 2^31). */
const MIN_CELL = 1e-9;
/** Absolute allowance on chords for the rounding of unit vectors computed with Math.sin/cos. */
const CHORD_SLACK = 1e-14;

function checkPoints(p: Points, side: string): number {
  const n = p.ra.length;
  if (p.dec.length !== n) {
    throw new UsageError(`${side}: ra has ${n} values but dec has ${p.dec.length}`);
  }
  for (let i = 0; i < n; i++) {
    const a = p.ra[i]!;
    const d = p.dec[i]!;
    if (!Number.isFinite(a) || !(d >= -90 && d <= 90)) {
      throw new UsageError(`${side}: row ${i} has ra=${a} dec=${d} (need finite ra, |dec| <= 90)`);
    }
  }
  return n;
}

function checkRadius(radiusDeg: number): void {
  if (!(radiusDeg >= 0 && radiusDeg <= 180)) {
    throw new UsageError(`radius must be in [0, 180] degrees, got ${radiusDeg}`);
  }
}

function unitVectors(p: Points, n: number): Float64Array {
  const v = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const a = p.ra[i]! * DEG2RAD;
    const d = p.dec[i]! * DEG2RAD;
    const c = Math.cos(d);
    v[3 * i] = c * Math.cos(a);
    v[3 * i + 1] = c * Math.sin(a);
    v[3 * i + 2] = Math.sin(d);
  }
  return v;
}

/** Growable pair buffer (typed arrays doubled as needed). */
class PairBuffer {
  n = 0;
  left = new Uint32Array(1024);
  right = new Uint32Array(1024);
  sep = new Float64Array(1024);
  push(l: number, r: number, s: number): void {
    if (this.n === this.left.length) {
      const cap = this.n * 2;
      const l2 = new Uint32Array(cap);
      l2.set(this.left);
      this.left = l2;
      const r2 = new Uint32Array(cap);
      r2.set(this.right);
      this.right = r2;
      const s2 = new Float64Array(cap);
      s2.set(this.sep);
      this.sep = s2;
    }
    this.left[this.n] = l;
    this.right[this.n] = r;
    this.sep[this.n] = s;
    this.n++;
  }
  result(): Pairs {
    return {
      left: this.left.slice(0, this.n),
      right: this.right.slice(0, this.n),
      sepDeg: this.sep.slice(0, this.n),
    };
  }
}

/**
 * A searchable index of points (the right side of a match), built once and queried by many
 * left points. `radiusDeg` is the largest radius it will be asked for.
 */
export class SkyIndex {
  readonly size: number;
  readonly radiusDeg: number;
  private readonly ra: ArrayLike<number>;
  private readonly dec: ArrayLike<number>;
  private readonly vec: Float64Array;
  private readonly cell: number;
  /** Squared chord above which a candidate is surely beyond the radius. */
  private readonly chord2: number;
  /** Chord, widened for rounding, that decides which neighbour cubes to visit. */
  private readonly reach: number;
  private readonly mask: number;
  /**
   * Open-addressing table, 5 int32 per slot: cube x, y, z, first position in `order`, count
   * (0 = empty slot). Interleaved so one probe touches one cache line.
   */
  private readonly table: Int32Array;
  /** Point indices grouped by cube, ascending within a cube. */
  private readonly order: Uint32Array;

  constructor(points: Points, radiusDeg: number) {
    checkRadius(radiusDeg);
    const n = checkPoints(points, "right");
    this.size = n;
    this.radiusDeg = radiusDeg;
    this.ra = points.ra;
    this.dec = points.dec;
    this.vec = unitVectors(points, n);
    const chord = 2 * Math.sin((radiusDeg * DEG2RAD) / 2) + CHORD_SLACK;
    this.chord2 = chord * chord;
    // Cubes several chords wide (while they stay nearly empty on average) mean a query visits
    // ~2 cubes instead of 27: a neighbour is looked at only when the cone reaches its face.
    const spacing = Math.sqrt((4 * Math.PI) / Math.max(1, n));
    const widen = Math.min(8, Math.max(1, spacing / Math.max(chord, MIN_CELL)));
    this.cell = Math.max(MIN_CELL, chord * widen * (1 + 1e-9));
    this.reach = chord * (1 + 1e-9) + CHORD_SLACK;
    let cap = 16;
    while (cap < 2 * n) cap *= 2;
    this.mask = cap - 1;
    const table = new Int32Array(5 * cap);
    this.table = table;
    const slotOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = Math.floor((this.vec[3 * i]! + 1) / this.cell);
      const y = Math.floor((this.vec[3 * i + 1]! + 1) / this.cell);
      const z = Math.floor((this.vec[3 * i + 2]! + 1) / this.cell);
      let s = this.hash(x, y, z);
      for (;;) {
        const o = 5 * s;
        if (table[o + 4] === 0) {
          table[o] = x;
          table[o + 1] = y;
          table[o + 2] = z;
          break;
        }
        if (table[o] === x && table[o + 1] === y && table[o + 2] === z) break;
        s = (s + 1) & this.mask;
      }
      table[5 * s + 4]!++;
      slotOf[i] = s;
    }
    // Counting sort of points by slot; stable, so indices ascend within a cube.
    let acc = 0;
    for (let s = 0; s < cap; s++) {
      table[5 * s + 3] = acc;
      acc += table[5 * s + 4]!;
    }
    const fill = new Int32Array(cap);
    for (let s = 0; s < cap; s++) fill[s] = table[5 * s + 3]!;
    this.order = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.order[fill[slotOf[i]!]!++] = i;
  }

  private hash(x: number, y: number, z: number): number {
    let h = Math.imul(x, 0x9e3779b1) ^ Math.imul(y, 0x85ebca77) ^ Math.imul(z, 0xc2b2ae3d);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    return h & this.mask;
  }

  /** Slot of cube (x, y, z), or -1 when no point lies in it. */
  private lookup(x: number, y: number, z: number): number {
    const table = this.table;
    let s = this.hash(x, y, z);
    for (;;) {
      const o = 5 * s;
      if (table[o + 4] === 0) return -1;
      if (table[o] === x && table[o + 1] === y && table[o + 2] === z) return s;
      s = (s + 1) & this.mask;
    }
  }

  /**
   * Calls `visit(j, sepDeg)` for every indexed point j within `radiusDeg` (<= the index's
   * radius) of (raDeg, decDeg), in no particular order.
   */
  search(
    raDeg: number,
    decDeg: number,
    radiusDeg: number,
    visit: (j: number, sepDeg: number) => void,
  ): void {
    if (this.size === 0) return;
    const a = raDeg * DEG2RAD;
    const d = decDeg * DEG2RAD;
    const c = Math.cos(d);
    const px = c * Math.cos(a);
    const py = c * Math.sin(a);
    const pz = Math.sin(d);
    const cell = this.cell;
    const reach = this.reach;
    // Cubes the cube of side 2 * reach around the point overlaps (floor is monotone, and
    // `reach` carries the rounding allowance).
    const x0 = Math.floor((px + 1 - reach) / cell);
    const x1 = Math.floor((px + 1 + reach) / cell);
    const y0 = Math.floor((py + 1 - reach) / cell);
    const y1 = Math.floor((py + 1 + reach) / cell);
    const z0 = Math.floor((pz + 1 - reach) / cell);
    const z1 = Math.floor((pz + 1 + reach) / cell);
    const chord2 = this.chord2;
    const vec = this.vec;
    const table = this.table;
    const order = this.order;
    const radRad = radiusDeg * DEG2RAD;
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        for (let z = z0; z <= z1; z++) {
          const s = this.lookup(x, y, z);
          if (s < 0) continue;
          const first = table[5 * s + 3]!;
          const end = first + table[5 * s + 4]!;
          for (let t = first; t < end; t++) {
            const j = order[t]!;
            const ex = vec[3 * j]! - px;
            const ey = vec[3 * j + 1]! - py;
            const ez = vec[3 * j + 2]! - pz;
            if (ex * ex + ey * ey + ez * ez > chord2) continue;
            const sep = separationRad(raDeg, decDeg, this.ra[j]!, this.dec[j]!);
            if (sep <= radRad) visit(j, sep * RAD2DEG);
          }
        }
      }
    }
  }
}

/** Sorts pairs in place by (left, right): a stable, comparable order for tests and outputs. */
function sortPairs(p: Pairs): Pairs {
  const n = p.left.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => p.left[a]! - p.left[b]! || p.right[a]! - p.right[b]!);
  return {
    left: Uint32Array.from(idx, (i) => p.left[i]!),
    right: Uint32Array.from(idx, (i) => p.right[i]!),
    sepDeg: Float64Array.from(idx, (i) => p.sepDeg[i]!),
  };
}

/**
 * Every pair (i, j) with separation(left[i], right[j]) <= radiusDeg, like astropy's
 * `search_around_sky`; sorted by left index, then right index. Degrees in and out.
 */
export function matchAll(left: Points, right: Points | SkyIndex, radiusDeg: number): Pairs {
  checkRadius(radiusDeg);
  const n = checkPoints(left, "left");
  const index = right instanceof SkyIndex ? right : new SkyIndex(right, radiusDeg);
  if (radiusDeg > index.radiusDeg) {
    throw new UsageError(`radius ${radiusDeg} exceeds the index radius ${index.radiusDeg}`);
  }
  const out = new PairBuffer();
  const found: number[] = [];
  const seps: number[] = [];
  for (let i = 0; i < n; i++) {
    found.length = 0;
    seps.length = 0;
    index.search(left.ra[i]!, left.dec[i]!, radiusDeg, (j, s) => {
      found.push(j);
      seps.push(s);
    });
    for (let t = 0; t < found.length; t++) out.push(i, found[t]!, seps[t]!);
  }
  return sortPairs(out.result());
}

/**
 * For each left point, its k nearest right points within radiusDeg (fewer when fewer are
 * within the radius), nearest first; ties in separation go to the lower right index. Like
 * astropy's `match_coordinates_sky` (nthneighbor 1..k) followed by a cut at the radius.
 */
export function matchNearest(
  left: Points,
  right: Points | SkyIndex,
  radiusDeg: number,
  options: NearestOptions = {},
): Pairs {
  const k = options.k ?? 1;
  if (!(Number.isInteger(k) && k >= 1)) throw new UsageError(`k must be an integer >= 1, got ${k}`);
  checkRadius(radiusDeg);
  const n = checkPoints(left, "left");
  const index = right instanceof SkyIndex ? right : new SkyIndex(right, radiusDeg);
  if (radiusDeg > index.radiusDeg) {
    throw new UsageError(`radius ${radiusDeg} exceeds the index radius ${index.radiusDeg}`);
  }
  const out = new PairBuffer();
  const found: number[] = [];
  const seps: number[] = [];
  let bestJ = -1;
  let bestS = 0;
  for (let i = 0; i < n; i++) {
    if (k === 1) {
      // The common case without allocation: keep the best so far.
      bestJ = -1;
      index.search(left.ra[i]!, left.dec[i]!, radiusDeg, (j, s) => {
        if (bestJ < 0 || s < bestS || (s === bestS && j < bestJ)) {
          bestJ = j;
          bestS = s;
        }
      });
      if (bestJ >= 0) out.push(i, bestJ, bestS);
      continue;
    }
    found.length = 0;
    seps.length = 0;
    index.search(left.ra[i]!, left.dec[i]!, radiusDeg, (j, s) => {
      found.push(j);
      seps.push(s);
    });
    const order = found.map((_, t) => t);
    order.sort((a, b) => seps[a]! - seps[b]! || found[a]! - found[b]!);
    for (let t = 0; t < Math.min(k, order.length); t++) {
      out.push(i, found[order[t]!]!, seps[order[t]!]!);
    }
  }
  // Already ordered by left, then by rank.
  return out.result();
}
