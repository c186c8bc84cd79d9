// In-memory matching kernel: every pair (or the k nearest) within a radius, on the sphere.
//
// Zones algorithm (Gray, Nieto-Santisteban & Szalay 2006): the sky is cut into declination
// zones at least one radius high, so a pair within the radius lies in the same or adjacent
// zones. Both sides are sorted by (zone, ra) with radix sorts (ra quantised to 32 bits), then
// each left zone is swept against the three right zones it can reach with a moving pointer:
// a left point only looks at right points whose ra lies within the widest ra offset a point
// of its zone can have, asin(sin r / cos|dec|), plus one quantum of rounding. The decision
// is made on the accurate haversine (sep <= radius, boundary included, like `inCone`; and
// sep >= the minimum radius when one is given).
// No trigonometry per point, sequential memory access, and O(n) sorting is what makes this
// fast; RA 0/360 wraps the window, and near the poles the window widens to the whole zone.

import { UsageError } from "../core/errors.ts";
import { closeSeparationRad, separationRad } from "../sky/distance.ts";
import { requestSort, SORT_THREAD_MIN_POINTS } from "./sort-thread.ts";

const RAD2DEG = 180 / Math.PI;
const DEG2RAD = Math.PI / 180;
/** Relative and absolute allowances so rounding never drops a pair at a zone or window edge. */
const REL_SLACK = 1e-9;
const ABS_SLACK_DEG = 1e-12;
/** closeSeparationRad is within ~4 ulps of separationRad: closer to a limit, use the latter. */
const BOUNDARY_ULPS = 1e-14;
/** Allowance on zone edges for the rounding of (dec + 90) / height (~1e-14 degrees). */
const EDGE_SLACK = 1e-9;

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

export interface MatchOptions {
  /**
   * The left points come in sky order (sorted by HEALPix key, as stored): each is looked up
   * in turn instead of sorting them first, which is faster for such input only.
   */
  leftInSkyOrder?: boolean;
  /**
   * Pairs closer than this (degrees) are not matches: only right points with
   * minRadiusDeg <= separation <= radius count, and "nearest" keeps the k nearest of those
   * (like LSDB's min_radius_arcsec). E.g. matching a set against itself with a tiny minimum
   * gives each point's nearest other point (exact duplicates, at 0, are excluded too).
   * Default 0: every pair within the radius. Must be finite, >= 0 and < the radius. A pair
   * whose reported `sepDeg` equals the minimum is kept.
   */
  minRadiusDeg?: number;
  /**
   * 2: the right points are sorted on the kernel's helper thread while this thread sorts the
   * left ones (see {@link startSortThread}); 1: this thread only. Default: 2 when the helper
   * is running and both sides have at least 100,000 points (such a match also starts it, in
   * the background, for later calls). Either way the answer is the same.
   */
  threads?: 1 | 2;
}

export interface NearestOptions extends MatchOptions {
  /** How many nearest right points per left point (default 1). */
  k?: number;
}

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

function checkMinRadius(minRadiusDeg: number, radiusDeg: number): void {
  if (
    !(Number.isFinite(minRadiusDeg) && minRadiusDeg >= 0) ||
    (minRadiusDeg >= radiusDeg && minRadiusDeg > 0)
  ) {
    throw new UsageError(
      `minimum radius must be finite, >= 0 and less than the radius: got minimum ${minRadiusDeg} and radius ${radiusDeg} degrees`,
    );
  }
}

const ulpF64 = new Float64Array(1);
const ulpI64 = new BigInt64Array(ulpF64.buffer);

/** The next double after a positive finite x, up (+1) or down (-1). */
function nextDouble(x: number, dir: 1 | -1): number {
  ulpF64[0] = x;
  ulpI64[0]! += BigInt(dir);
  return ulpF64[0]!;
}

/**
 * The least separation in radians whose value in degrees (`s * RAD2DEG`, as pairs report it)
 * is >= minDeg: `s >= minRad` then keeps exactly the pairs reported at >= minDeg, a pair at
 * exactly the minimum included (minDeg * DEG2RAD alone can round above such a pair).
 */
function minRadians(minDeg: number): number {
  if (minDeg <= 0) return 0;
  let m = minDeg * DEG2RAD;
  while (m * RAD2DEG < minDeg) m = nextDouble(m, 1);
  while (m > 0 && nextDouble(m, -1) * RAD2DEG >= minDeg) m = nextDouble(m, -1);
  return m;
}

/** Zone geometry shared by both sides of a match. @internal */
export interface Zoning {
  /** Zone height in degrees (>= the radius, with slack). */
  height: number;
  count: number;
  /** Zones per band; a band shares one ra window (its widest), to spare trigonometry. */
  band: number;
}

/** Square degrees on the sphere. */
const SKY_DEG2 = 41252.96;

function zoning(radiusDeg: number, n: number): Zoning {
  const reach = radiusDeg * (1 + REL_SLACK) + ABS_SLACK_DEG;
  // Zones taller than the radius cost candidates (rejected by one subtraction on dec) but
  // save per-zone work: aim at ~0.5 candidate per point at the mean density of n points on
  // the sphere, at most 64 radii (denser data then still sees few candidates per point).
  const density = Math.max(1, n) / SKY_DEG2;
  const byDensity = 0.5 / (6 * Math.max(reach, 1e-12) * density);
  // No more zones than ~4 per point (a 1 mas radius would need 6.5e8 zones).
  const minHeight = 180 / (4 * n + 16);
  const height = Math.max(reach, minHeight, Math.min(64 * reach, byDensity));
  const count = Math.max(1, Math.ceil(180 / height));
  return { height, count, band: Math.max(1, Math.ceil(count / 4096)) };
}

/**
 * Points sorted by (zone, ra in [0, 360)); `index` maps sorted position to input position.
 * @internal
 */
export interface Zoned {
  n: number;
  /** zoneStart[z] .. zoneStart[z + 1] are the sorted positions in zone z. */
  zoneStart: Int32Array;
  /** ra normalised to [0, 360), ascending within a zone. */
  ra: Float64Array;
  dec: Float64Array;
  index: Uint32Array;
  /**
   * Zone z's cells: equal ra widths from raMin[z], scale[z] cells per degree, numbered from
   * zoneStart[z]; cellStart[c] is the first sorted position of cell c (n cells in all).
   */
  cellStart: Int32Array;
  raMin: Float64Array;
  scale: Float64Array;
}

function zoneOf(dec: number, z: Zoning): number {
  const k = Math.floor((dec + 90) / z.height);
  return k < 0 ? 0 : k >= z.count ? z.count - 1 : k;
}

function normRa(ra: number): number {
  if (ra >= 0 && ra < 360) return ra;
  let a = ra % 360;
  if (a < 0) a += 360;
  return a >= 360 ? 0 : a;
}

/** Cells holding more points than this are sorted with a packed-key sort, not insertion. */
const SMALL_CELL = 24;
const IDX_BITS = 2 ** 21;

/** Buckets of the first pass: few enough that writing to all of them stays sequential. */
const BUCKETS = 256;

/**
 * Work memory kept between calls, one set per thread, by name. Fresh large typed arrays cost
 * page faults and zeroing (~0.3 ms per MB on the benchmark machine) and, with several threads
 * in one process, contend on the address space: reusing them made two threads scale (see
 * BENCHMARKS.md). Views are valid until the next call that asks for the same name; the
 * arrays of a sort of more than ARENA_MAX points are not kept.
 */
const ARENA_MAX = 4_000_000;
/** The largest work array per point: a 24-byte record of pass 2. */
const ARENA_BYTES_MAX = ARENA_MAX * 24;
const arena = new Map<string, ArrayBuffer>();

/** On the sort helper thread, work memory is shared so the caller reads the sort in place. */
let sharedWork = false;

function arenaBuffer(name: string, bytes: number): ArrayBuffer {
  let buf = arena.get(name);
  if (!buf || buf.byteLength < bytes) {
    const size = Math.max(bytes, 8192);
    buf = sharedWork
      ? (new SharedArrayBuffer(size) as unknown as ArrayBuffer)
      : new ArrayBuffer(size);
    if (bytes <= ARENA_BYTES_MAX) arena.set(name, buf);
  }
  return buf;
}

function f64(name: string, n: number): Float64Array {
  return new Float64Array(arenaBuffer(name, 8 * n), 0, n);
}

function i32(name: string, n: number): Int32Array {
  return new Int32Array(arenaBuffer(name, 4 * n), 0, n);
}

function u32(name: string, n: number): Uint32Array {
  return new Uint32Array(arenaBuffer(name, 4 * n), 0, n);
}

/**
 * Sorts points by (zone, ra) in O(n), in three passes over memory. Each zone gets as many
 * equal-width ra cells as it has points, spanning the ra range its points occupy (~1 point per
 * cell even when the points fill a small part of the sky), so cell numbers run over the
 * output positions. Pass 1 finds each point's zone and counts points per zone; pass 2 moves
 * points into 256 buckets of whole zones as 24-byte records (ra, dec, cell, input position),
 * one sequential write stream per bucket; pass 3 sorts each bucket, small enough to stay in
 * cache, by a counting sort on its cells, then insertion sort inside cells (crowded cells, from
 * clumps or duplicates, take a packed-key sort). Random access costs most on the benchmark
 * machine (a page-table walk per miss under virtualisation), hence streams, not scatter.
 */
function zoneSort(p: Points, n: number, zones: Zoning, work: string | null): Zoned {
  const Z = zones.count;
  // The sorted copy: in this thread's work memory under the name `work` (a transient sort),
  // or arrays of its own (an index a caller keeps).
  const ra = work ? f64(`${work}.ra`, n) : new Float64Array(n);
  const dec = work ? f64(`${work}.dec`, n) : new Float64Array(n);
  const index = work ? u32(`${work}.index`, n) : new Uint32Array(n);
  const cellStart = work ? i32(`${work}.cellStart`, n + 1) : new Int32Array(n + 1);
  const zone = i32("zone", n);
  // Records of pass 2: ra and dec as doubles, then cell and input position as two uint32.
  const rec = f64("records", 3 * n);
  const zoneStart = new Int32Array(Z + 1);
  const raMin = new Float64Array(Z).fill(360);
  const raMax = new Float64Array(Z);
  const scale = new Float64Array(Z);
  // Buckets are runs of whole zones holding ~n/256 points (a crowded zone is one bucket).
  const bucketOf = new Int32Array(Z);
  const bucketStart = new Int32Array(BUCKETS + 1).fill(n);
  // Each pass is a function of its own: V8 optimises a long loop while it runs (on-stack
  // replacement), and code after the loop, not yet run, would be compiled without type
  // feedback and throw the optimised code away when reached (measured on a first call).
  zonePass(p.ra, p.dec, n, zones, zone, zoneStart, raMin, raMax);
  zoneLayout(n, Z, zoneStart, raMin, raMax, scale, bucketOf, bucketStart);
  bucketPass(p.ra, p.dec, n, zone, zoneStart, raMin, scale, bucketOf, bucketStart, rec);
  cellPass(n, rec, bucketStart, i32("count", n + 1), ra, dec, index, cellStart);
  return { n, zoneStart, ra, dec, index, cellStart, raMin, scale };
}

/** Pass 1: each point's zone, points per zone (in zoneStart[z + 1]) and each zone's ra range. */
function zonePass(
  pRa: ArrayLike<number>,
  pDec: ArrayLike<number>,
  n: number,
  zones: Zoning,
  zone: Int32Array,
  zoneStart: Int32Array,
  raMin: Float64Array,
  raMax: Float64Array,
): void {
  for (let i = 0; i < n; i++) {
    const a = normRa(pRa[i]!);
    const z = zoneOf(pDec[i]!, zones);
    zone[i] = z;
    zoneStart[z + 1]!++;
    if (a < raMin[z]!) raMin[z] = a;
    if (a > raMax[z]!) raMax[z] = a;
  }
}

/** Zone starts from the counts, each zone's cells per degree, and the buckets of whole zones. */
function zoneLayout(
  n: number,
  Z: number,
  zoneStart: Int32Array,
  raMin: Float64Array,
  raMax: Float64Array,
  scale: Float64Array,
  bucketOf: Int32Array,
  bucketStart: Int32Array,
): void {
  for (let z = 0; z < Z; z++) zoneStart[z + 1]! += zoneStart[z]!;
  for (let z = 0; z < Z; z++) {
    const m = zoneStart[z + 1]! - zoneStart[z]!;
    const width = raMax[z]! - raMin[z]!;
    scale[z] = m > 1 && width > 0 ? m / width : 0;
    const b = n > 0 ? Math.floor((zoneStart[z]! * BUCKETS) / n) : 0;
    bucketOf[z] = b;
    if (zoneStart[z]! < bucketStart[b]!) bucketStart[b] = zoneStart[z]!;
  }
  for (let b = BUCKETS - 1; b >= 0; b--) {
    if (bucketStart[b]! > bucketStart[b + 1]!) bucketStart[b] = bucketStart[b + 1]!;
  }
}

/** Pass 2: points into buckets as records, with each point's cell (zone z's start at zoneStart[z]). */
function bucketPass(
  pRa: ArrayLike<number>,
  pDec: ArrayLike<number>,
  n: number,
  zone: Int32Array,
  zoneStart: Int32Array,
  raMin: Float64Array,
  scale: Float64Array,
  bucketOf: Int32Array,
  bucketStart: Int32Array,
  rec: Float64Array,
): void {
  const recU = new Uint32Array(rec.buffer, rec.byteOffset, 6 * n);
  const fill = bucketStart.slice(0, BUCKETS);
  for (let i = 0; i < n; i++) {
    const z = zone[i]!;
    const base = zoneStart[z]!;
    const m = zoneStart[z + 1]! - base;
    const a = normRa(pRa[i]!);
    let c = Math.floor((a - raMin[z]!) * scale[z]!);
    if (c >= m) c = m - 1;
    const t = fill[bucketOf[z]!]!++;
    rec[3 * t] = a;
    rec[3 * t + 1] = pDec[i]!;
    recU[6 * t + 4] = base + c;
    recU[6 * t + 5] = i;
  }
}

/**
 * Pass 3: bucket by bucket, a counting sort on cells (which number the bucket's positions), then
 * each cell by ra.
 */
function cellPass(
  n: number,
  rec: Float64Array,
  bucketStart: Int32Array,
  count: Int32Array,
  ra: Float64Array,
  dec: Float64Array,
  index: Uint32Array,
  cellStart: Int32Array,
): void {
  const recU = new Uint32Array(rec.buffer, rec.byteOffset, 6 * n);
  for (let b = 0; b < BUCKETS; b++) {
    const s = bucketStart[b]!;
    const e = bucketStart[b + 1]!;
    if (e === s) continue;
    count.fill(0, 0, e - s + 1);
    for (let t = s; t < e; t++) count[recU[6 * t + 4]! - s + 1]!++;
    for (let c = 0; c < e - s; c++) count[c + 1]! += count[c]!;
    for (let c = s; c <= e; c++) cellStart[c] = s + count[c - s]!;
    for (let t = s; t < e; t++) {
      const u = s + count[recU[6 * t + 4]! - s]!++;
      ra[u] = rec[3 * t]!;
      dec[u] = rec[3 * t + 1]!;
      index[u] = recU[6 * t + 5]!;
    }
    for (let c = s; c < e; c++) {
      const cs = cellStart[c]!;
      const ce = cellStart[c + 1]!;
      if (ce - cs > SMALL_CELL) sortCrowded(ra, dec, index, cs, ce);
      else if (ce - cs > 1) insertionSort(ra, dec, index, cs, ce);
    }
  }
}

function insertionSort(
  ra: Float64Array,
  dec: Float64Array,
  index: Uint32Array,
  s: number,
  e: number,
): void {
  for (let t = s + 1; t < e; t++) {
    const a = ra[t]!;
    if (a >= ra[t - 1]!) continue;
    const d = dec[t]!;
    const x = index[t]!;
    let u = t - 1;
    while (u >= s && ra[u]! > a) {
      ra[u + 1] = ra[u]!;
      dec[u + 1] = dec[u]!;
      index[u + 1] = index[u]!;
      u--;
    }
    ra[u + 1] = a;
    dec[u + 1] = d;
    index[u + 1] = x;
  }
}

/** Sorts [s, e) by ra: 31-bit quantised ra and the local position packed in one double. */
function sortCrowded(
  ra: Float64Array,
  dec: Float64Array,
  index: Uint32Array,
  s: number,
  e: number,
): void {
  const m = e - s;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let t = s; t < e; t++) {
    lo = Math.min(lo, ra[t]!);
    hi = Math.max(hi, ra[t]!);
  }
  if (hi > lo && m <= IDX_BITS) {
    const scale = (2 ** 31 - 1) / (hi - lo);
    const packed = new Float64Array(m);
    for (let t = 0; t < m; t++) packed[t] = Math.floor((ra[s + t]! - lo) * scale) * IDX_BITS + t;
    packed.sort();
    const r2 = ra.slice(s, e);
    const d2 = dec.slice(s, e);
    const x2 = index.slice(s, e);
    for (let t = 0; t < m; t++) {
      const from = packed[t]! % IDX_BITS;
      ra[s + t] = r2[from]!;
      dec[s + t] = d2[from]!;
      index[s + t] = x2[from]!;
    }
  } else if (hi > lo) {
    // Over 2M points in one cell: a comparator sort (rare, slow, correct).
    const order = Array.from({ length: m }, (_, t) => s + t).sort((a, b) => ra[a]! - ra[b]!);
    const r2 = Float64Array.from(order, (t) => ra[t]!);
    const d2 = Float64Array.from(order, (t) => dec[t]!);
    const x2 = Uint32Array.from(order, (t) => index[t]!);
    ra.set(r2, s);
    dec.set(d2, s);
    index.set(x2, s);
  }
  // Points within one quantum may be out of order: finish exactly.
  insertionSort(ra, dec, index, s, e);
}

/**
 * Half-width of the ra window in degrees for points of zones whose |dec| is at most
 * `absDecMax`; -1 when the window is the whole circle (the cap around a pole).
 */
function windowDeg(radiusDeg: number, absDecMax: number): number {
  if (absDecMax + radiusDeg >= 90 - 1e-9) return -1;
  const s = Math.sin(radiusDeg * DEG2RAD) / Math.cos(absDecMax * DEG2RAD);
  if (s >= 1) return -1;
  const dra = Math.asin(s) * RAD2DEG * (1 + REL_SLACK) + ABS_SLACK_DEG;
  return dra >= 180 ? -1 : dra;
}

function bandWindows(zones: Zoning, radiusDeg: number): Float64Array {
  const bands = Math.ceil(zones.count / zones.band);
  const out = new Float64Array(bands);
  for (let b = 0; b < bands; b++) {
    const lo = -90 + b * zones.band * zones.height;
    const hi = Math.min(90, lo + zones.band * zones.height);
    const absMax = Math.max(Math.abs(lo), Math.abs(hi)) + ABS_SLACK_DEG;
    out[b] = windowDeg(radiusDeg, Math.min(90, absMax));
  }
  return out;
}

/** Receives every pair within the radius (sorted positions are translated by the sweep). */
interface PairSink {
  add(left: number, right: number, sepRad: number): void;
}

/** What the scans need to test candidates against one left point. */
interface Probe {
  decReach: number;
  radRad: number;
  /** Separations below this (radians) are not pairs; see {@link minRadians}. */
  minRad: number;
  sink: PairSink;
}

/** The limits a scan tests candidates against (with the slack that keeps edge pairs). */
function probeOf(radiusDeg: number, minRad: number, sink: PairSink): Probe {
  const decReach = radiusDeg * (1 + REL_SLACK) + ABS_SLACK_DEG;
  return { decReach, radRad: radiusDeg * DEG2RAD, minRad, sink };
}

/**
 * Tests right points from `from` on (in ra order, while ra <= hi and before `to`) against the
 * left point (a, d): every one within the radius (and not below the minimum) goes to the sink
 * as a pair with `leftId`.
 */
function scanRun(
  R: Zoned,
  from: number,
  to: number,
  hi: number,
  a: number,
  d: number,
  leftId: number,
  q: Probe,
): void {
  const rRa = R.ra;
  const rDec = R.dec;
  for (let j = from; j < to && rRa[j]! <= hi; j++) {
    const dd = rDec[j]! - d;
    if (dd > q.decReach || dd < -q.decReach) continue;
    let s = closeSeparationRad(a, d, rRa[j]!, rDec[j]!);
    // Within a few ulps of a limit, decide on the reference form (as `inCone` does).
    if (
      Math.abs(s - q.radRad) <= BOUNDARY_ULPS * q.radRad ||
      (q.minRad > 0 && Math.abs(s - q.minRad) <= BOUNDARY_ULPS * q.minRad)
    ) {
      s = separationRad(a, d, rRa[j]!, rDec[j]!);
    }
    if (s <= q.radRad && s >= q.minRad) q.sink.add(leftId, R.index[j]!, s);
  }
}

/**
 * The parts of a zone [rs, re) an ra window [lo, hi] reaches through ra 0/360: ra >= lo + 360
 * at its end, ra <= hi - 360 at its start. Disjoint from [lo, hi] since the window is
 * narrower than the circle.
 */
function scanWraps(
  R: Zoned,
  rs: number,
  re: number,
  lo: number,
  hi: number,
  a: number,
  d: number,
  leftId: number,
  q: Probe,
): void {
  if (lo < 0) {
    let j = re;
    while (j > rs && R.ra[j - 1]! >= lo + 360) j--;
    scanRun(R, j, re, Number.POSITIVE_INFINITY, a, d, leftId, q);
  }
  if (hi >= 360) scanRun(R, rs, re, hi - 360, a, d, leftId, q);
}

/**
 * Like {@link sweep} for a left side left unsorted: each left point finds the start of its ra
 * window through the cell table of its zone of the sorted right side, and of an adjacent zone
 * only when it lies within the radius of the shared edge. Faster than sorting when the left
 * points come in sky order (e.g. by HEALPix key, as stored), slower for random order.
 */
function probe(
  left: Points,
  n: number,
  R: Zoned,
  zones: Zoning,
  radiusDeg: number,
  minRad: number,
  sink: PairSink,
): void {
  const windows = bandWindows(zones, radiusDeg);
  const q = probeOf(radiusDeg, minRad, sink);
  const decReach = q.decReach;
  const rRa = R.ra;
  const rStart = R.zoneStart;
  const cellStart = R.cellStart;
  const raMin = R.raMin;
  const scale = R.scale;
  const h = zones.height;
  const lRa = left.ra;
  const lDec = left.dec;
  for (let i = 0; i < n; i++) {
    const a = normRa(lRa[i]!);
    const d = lDec[i]!;
    const z = zoneOf(d, zones);
    const w = windows[Math.floor(z / zones.band)]!;
    const zFirst = z > 0 && d - decReach <= -90 + z * h + EDGE_SLACK ? z - 1 : z;
    const zLast = z + 1 < zones.count && d + decReach >= -90 + (z + 1) * h - EDGE_SLACK ? z + 1 : z;
    for (let zr = zFirst; zr <= zLast; zr++) {
      const rs = rStart[zr]!;
      const re = rStart[zr + 1]!;
      if (rs === re) continue;
      if (w < 0) {
        scanRun(R, rs, re, Number.POSITIVE_INFINITY, a, d, i, q);
        continue;
      }
      const lo = a - w;
      const hi = a + w;
      // The cell holding lo (cells before it hold only smaller ra), then past the few
      // points of that cell below lo.
      let b = Math.floor((lo - raMin[zr]!) * scale[zr]!);
      if (b < 0) b = 0;
      else if (b >= re - rs) b = re - rs - 1;
      let x = cellStart[rs + b]!;
      while (x < re && rRa[x]! < lo) x++;
      scanRun(R, x, re, hi, a, d, i, q);
      if (lo < 0 || hi >= 360) scanWraps(R, rs, re, lo, hi, a, d, i, q);
    }
  }
}

/**
 * Calls sink.add(leftInput, rightInput, sepRad) for every pair with sep <= radiusDeg (and
 * sep >= minRad, in radians). Both sides must be zoned with the same zoning.
 */
function sweep(
  L: Zoned,
  R: Zoned,
  zones: Zoning,
  radiusDeg: number,
  minRad: number,
  sink: PairSink,
): void {
  const windows = bandWindows(zones, radiusDeg);
  const q = probeOf(radiusDeg, minRad, sink);
  const decReach = q.decReach;
  const lRa = L.ra;
  const lDec = L.dec;
  const lIdx = L.index;
  const rRa = R.ra;
  const lStart = L.zoneStart;
  const rStart = R.zoneStart;
  const band = zones.band;
  for (let z = 0; z < zones.count; z++) {
    const ls = lStart[z]!;
    const le = lStart[z + 1]!;
    if (ls === le) continue;
    const w = windows[Math.floor(z / band)]!;
    for (let zr = z > 0 ? z - 1 : 0; zr <= z + 1 && zr < zones.count; zr++) {
      const rs = rStart[zr]!;
      const re = rStart[zr + 1]!;
      if (rs === re) continue;
      if (w < 0) {
        for (let i = ls; i < le; i++) {
          scanRun(R, rs, re, Number.POSITIVE_INFINITY, lRa[i]!, lDec[i]!, lIdx[i]!, q);
        }
        continue;
      }
      // Adjacent zones matter only to left points within the radius of the shared edge
      // (zones are taller than the radius): skip the others, binary-search for the rest.
      const edge =
        zr < z ? -90 + z * zones.height - EDGE_SLACK : -90 + zr * zones.height + EDGE_SLACK;
      const same = zr === z;
      let p = rs;
      for (let i = ls; i < le; i++) {
        const a = lRa[i]!;
        const d = lDec[i]!;
        if (!same && (zr < z ? d - decReach > edge : d + decReach < edge)) continue;
        const lo = a - w;
        const hi = a + w;
        if (same) {
          while (p < re && rRa[p]! < lo) p++;
        } else {
          let y = re;
          while (p < y) {
            const m = (p + y) >>> 1;
            if (rRa[m]! < lo) p = m + 1;
            else y = m;
          }
        }
        scanRun(R, p, re, hi, a, d, lIdx[i]!, q);
        if (lo < 0 || hi >= 360) scanWraps(R, rs, re, lo, hi, a, d, lIdx[i]!, q);
      }
    }
  }
}

/** Growable pair buffer (typed arrays doubled as needed). */
class PairBuffer implements PairSink {
  n = 0;
  left = new Uint32Array(1024);
  right = new Uint32Array(1024);
  sep = new Float64Array(1024);
  add(l: number, r: number, sepRad: number): void {
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
    this.sep[this.n] = sepRad;
    this.n++;
  }
}

/** Best right point per left point (k = 1): ties in separation go to the lower right index. */
class NearestSink implements PairSink {
  readonly best: Int32Array;
  readonly sep: Float64Array;
  constructor(n: number) {
    this.best = i32("nearest.best", n).fill(-1);
    this.sep = f64("nearest.sep", n);
  }
  add(l: number, r: number, sepRad: number): void {
    const b = this.best[l]!;
    if (b < 0 || sepRad < this.sep[l]! || (sepRad === this.sep[l]! && r < b)) {
      this.best[l] = r;
      this.sep[l] = sepRad;
    }
  }
}

/** Sorts order[s, e) by right index: right index and position packed in one double. */
function sortByRight(order: Uint32Array, right: Uint32Array, s: number, e: number): void {
  const keys = new Float64Array(e - s);
  for (let t = 0; t < e - s; t++) keys[t] = right[order[s + t]!]! * IDX_BITS + t;
  keys.sort();
  const was = order.slice(s, e);
  for (let t = 0; t < e - s; t++) order[s + t] = was[keys[t]! % IDX_BITS]!;
}

/** Groups of pairs larger than this are sorted with a comparator sort, not insertion. */
const SMALL_GROUP = 32;
/** Radix digit width of {@link groupPairs}: 2048 counters stay in L1. */
const DIGIT_BITS = 11;

/**
 * Pairs found for left points taken in order (a lookup in sky order) come grouped by left
 * index, and a left point has few pairs: when the buffer's left indices never decrease, puts
 * each group in right-index order in place (insertion sort; a clump's large group by packed
 * keys) and returns true; otherwise returns false, the buffer unchanged.
 */
function orderGroupsByRight(buf: PairBuffer): boolean {
  const m = buf.n;
  const l = buf.left;
  const r = buf.right;
  const sep = buf.sep;
  for (let t = 1; t < m; t++) if (l[t]! < l[t - 1]!) return false;
  for (let s = 0; s < m; ) {
    let e = s + 1;
    while (e < m && l[e] === l[s]) e++;
    if (e - s > SMALL_GROUP) sortRangeByRight(r, sep, s, e);
    else {
      for (let a = s + 1; a < e; a++) {
        const x = r[a]!;
        const d = sep[a]!;
        let b = a - 1;
        while (b >= s && r[b]! > x) {
          r[b + 1] = r[b]!;
          sep[b + 1] = sep[b]!;
          b--;
        }
        r[b + 1] = x;
        sep[b + 1] = d;
      }
    }
    s = e;
  }
  return true;
}

/** Sorts right[s, e) with sep alongside: right index and position packed in one double. */
function sortRangeByRight(right: Uint32Array, sep: Float64Array, s: number, e: number): void {
  const m = e - s;
  if (m > IDX_BITS) {
    const order = Array.from({ length: m }, (_, t) => s + t).sort((x, y) => right[x]! - right[y]!);
    const r2 = Uint32Array.from(order, (t) => right[t]!);
    const s2 = Float64Array.from(order, (t) => sep[t]!);
    right.set(r2, s);
    sep.set(s2, s);
    return;
  }
  const keys = new Float64Array(m);
  for (let t = 0; t < m; t++) keys[t] = right[s + t]! * IDX_BITS + t;
  keys.sort();
  const r2 = right.slice(s, e);
  const s2 = sep.slice(s, e);
  for (let t = 0; t < m; t++) {
    const from = keys[t]! % IDX_BITS;
    right[s + t] = r2[from]!;
    sep[s + t] = s2[from]!;
  }
}

/**
 * Orders buffered pairs by left index (an LSD radix sort of the pairs, so the cost follows the
 * number of pairs, not of left points), then within each left index by `before` (insertion
 * sort for small groups, a comparator sort for a clump's), keeping at most `keep` per left
 * index.
 */
function groupPairs(
  buf: PairBuffer,
  nLeft: number,
  before: (a: number, b: number) => boolean,
  keep: number,
  byRight = false,
): Pairs {
  const m = buf.n;
  const lefts = buf.left;
  if (byRight && orderGroupsByRight(buf)) {
    // Grouped in place: taken as they are, without an order array or a comparison callback.
    const out: Pairs = {
      left: buf.left.slice(0, m),
      right: buf.right.slice(0, m),
      sepDeg: new Float64Array(m),
    };
    const sep = buf.sep;
    for (let t = 0; t < m; t++) out.sepDeg[t] = sep[t]! * RAD2DEG;
    return out;
  }
  let order = u32("group.order", m);
  let spare = u32("group.spare", m);
  let sorted = true;
  for (let t = 0; t < m; t++) {
    order[t] = t;
    if (t > 0 && lefts[t]! < lefts[t - 1]!) sorted = false;
  }
  const counts = new Int32Array(1 << DIGIT_BITS);
  const mask = (1 << DIGIT_BITS) - 1;
  // Pairs found for left points taken in order (a lookup in sky order) are grouped already.
  for (let shift = 0; !sorted && nLeft - 1 >= 2 ** shift; shift += DIGIT_BITS) {
    counts.fill(0);
    for (let t = 0; t < m; t++) counts[(lefts[order[t]!]! >>> shift) & mask]!++;
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let t = 0; t < m; t++) {
      const x = order[t]!;
      spare[counts[(lefts[x]! >>> shift) & mask]!++] = x;
    }
    const swap = order;
    order = spare;
    spare = swap;
  }
  // Groups of equal left index: sort each by `before`, count what is kept.
  let total = 0;
  for (let s = 0; s < m; ) {
    let e = s + 1;
    while (e < m && lefts[order[e]!] === lefts[order[s]!]) e++;
    if (e - s > SMALL_GROUP) {
      // A left point in a clump can have thousands of pairs: no quadratic sort for those.
      if (byRight && e - s <= IDX_BITS) sortByRight(order, buf.right, s, e);
      else order.subarray(s, e).sort((x, y) => (before(x, y) ? -1 : before(y, x) ? 1 : 0));
      total += Math.min(keep, e - s);
      s = e;
      continue;
    }
    for (let a = s + 1; a < e; a++) {
      const t = order[a]!;
      let b = a - 1;
      while (b >= s && before(t, order[b]!)) {
        order[b + 1] = order[b]!;
        b--;
      }
      order[b + 1] = t;
    }
    total += Math.min(keep, e - s);
    s = e;
  }
  const out: Pairs = {
    left: new Uint32Array(total),
    right: new Uint32Array(total),
    sepDeg: new Float64Array(total),
  };
  let o = 0;
  for (let s = 0; s < m; ) {
    const l = lefts[order[s]!]!;
    let e = s + 1;
    while (e < m && lefts[order[e]!] === l) e++;
    const stop = Math.min(e, s + keep);
    for (let a = s; a < stop; a++) {
      const t = order[a]!;
      out.left[o] = l;
      out.right[o] = buf.right[t]!;
      out.sepDeg[o] = buf.sep[t]! * RAD2DEG;
      o++;
    }
    s = e;
  }
  return out;
}

/**
 * A searchable index of points (the right side of a match), built once and queried by many
 * left sets. `radiusDeg` is the largest radius it will be asked for.
 */
export class SkyIndex {
  readonly size: number;
  readonly radiusDeg: number;
  /** @internal zoning and sorted points, shared with the matchers. */
  readonly zones: Zoning;
  /** @internal */
  readonly zoned: Zoned;

  /**
   * `transient` (internal): keep the sorted copy in this thread's work memory; the index is
   * then valid only until the next transient index is built on this thread.
   */
  constructor(points: Points, radiusDeg: number, options: { transient?: boolean } = {}) {
    checkRadius(radiusDeg);
    const n = checkPoints(points, "right");
    this.size = n;
    this.radiusDeg = radiusDeg;
    this.zones = zoning(radiusDeg, n);
    this.zoned = zoneSort(points, n, this.zones, options.transient ? "right" : null);
  }

  /**
   * Calls `visit(j, sepDeg)` for every indexed point j within `radiusDeg` (<= the index's
   * radius) of (raDeg, decDeg) and at least `minRadiusDeg` from it (default 0, see
   * {@link MatchOptions.minRadiusDeg}), in no particular order.
   */
  search(
    raDeg: number,
    decDeg: number,
    radiusDeg: number,
    visit: (j: number, sepDeg: number) => void,
    minRadiusDeg = 0,
  ): void {
    checkRadius(radiusDeg);
    checkMinRadius(minRadiusDeg, radiusDeg);
    if (this.size === 0) return;
    const r = Math.min(radiusDeg, this.radiusDeg);
    const R = this.zoned;
    const zones = this.zones;
    const z = zoneOf(decDeg, zones);
    const w = bandWindows(zones, r)[Math.floor(z / zones.band)]!;
    const a = normRa(raDeg);
    const radRad = r * DEG2RAD;
    const minRad = minRadians(minRadiusDeg);
    const test = (j: number) => {
      const s = separationRad(raDeg, decDeg, R.ra[j]!, R.dec[j]!);
      if (s <= radRad && s >= minRad) visit(R.index[j]!, s * RAD2DEG);
    };
    for (let zr = Math.max(0, z - 1); zr <= z + 1 && zr < zones.count; zr++) {
      const rs = R.zoneStart[zr]!;
      const re = R.zoneStart[zr + 1]!;
      if (w < 0) {
        for (let j = rs; j < re; j++) test(j);
        continue;
      }
      // ra ranges [lo, hi] within [0, 360), split in two where the window wraps.
      const ranges: Array<[number, number]> = [[a - w, a + w]];
      if (a - w < 0) ranges.push([a - w + 360, 360]);
      if (a + w >= 360) ranges.push([-1, a + w - 360]);
      for (const [lo, hi] of ranges) {
        let x = rs;
        let y = re;
        while (x < y) {
          const m = (x + y) >>> 1;
          if (R.ra[m]! < lo) x = m + 1;
          else y = m;
        }
        for (let j = x; j < re && R.ra[j]! <= hi; j++) test(j);
      }
    }
  }
}

/**
 * The helper thread's job (sort-worker.ts): the right side of a match sorted into shared work
 * memory, valid until its next job. @internal
 */
export function sortShared(points: Points, n: number, zones: Zoning): Zoned {
  sharedWork = true;
  return zoneSort(points, n, zones, "right");
}

/** Sends every pair of left x right within the radius (and not below the minimum) to sink. */
function search(
  left: Points,
  n: number,
  right: Points | SkyIndex,
  radiusDeg: number,
  sink: PairSink,
  options: MatchOptions,
): void {
  const minRad = minRadians(options.minRadiusDeg ?? 0);
  if (right instanceof SkyIndex) {
    if (right.size === 0) return;
    const { zoned, zones } = right;
    if (options.leftInSkyOrder) probe(left, n, zoned, zones, radiusDeg, minRad, sink);
    else sweep(zoneSort(left, n, zones, "left"), zoned, zones, radiusDeg, minRad, sink);
    return;
  }
  const nRight = right.ra.length;
  if (nRight === 0) return;
  const zones = zoning(radiusDeg, nRight);
  const helper =
    !options.leftInSkyOrder &&
    options.threads !== 1 &&
    Math.min(n, nRight) >= SORT_THREAD_MIN_POINTS
      ? requestSort(right, nRight, zones)
      : null;
  if (helper) {
    // Both sorts at once; the right one is redone here only if the helper failed.
    const L = zoneSort(left, n, zones, "left");
    const R = helper.wait() ?? zoneSort(right, nRight, zones, "right");
    sweep(L, R, zones, radiusDeg, minRad, sink);
    return;
  }
  const R = zoneSort(right, nRight, zones, "right");
  if (options.leftInSkyOrder) probe(left, n, R, zones, radiusDeg, minRad, sink);
  else sweep(zoneSort(left, n, zones, "left"), R, zones, radiusDeg, minRad, sink);
}

/** Checks the arguments of a match; returns the number of left points. */
function prepare(
  left: Points,
  right: Points | SkyIndex,
  radiusDeg: number,
  options: MatchOptions,
): number {
  checkRadius(radiusDeg);
  checkMinRadius(options.minRadiusDeg ?? 0, radiusDeg);
  if (options.threads !== undefined && options.threads !== 1 && options.threads !== 2) {
    throw new UsageError(`threads must be 1 or 2, got ${options.threads}`);
  }
  const n = checkPoints(left, "left");
  if (right instanceof SkyIndex) {
    if (radiusDeg > right.radiusDeg) {
      throw new UsageError(`radius ${radiusDeg} exceeds the index radius ${right.radiusDeg}`);
    }
  } else {
    checkPoints(right, "right");
  }
  return n;
}

/**
 * Every pair (i, j) with separation(left[i], right[j]) <= radiusDeg (and >= the options'
 * minRadiusDeg), like astropy's `search_around_sky`; sorted by left index, then right index.
 * Degrees in and out.
 */
export function matchAll(
  left: Points,
  right: Points | SkyIndex,
  radiusDeg: number,
  options: MatchOptions = {},
): Pairs {
  const n = prepare(left, right, radiusDeg, options);
  const buf = new PairBuffer();
  search(left, n, right, radiusDeg, buf, options);
  const r = buf.right;
  return groupPairs(buf, n, (a, b) => r[a]! < r[b]!, Number.POSITIVE_INFINITY, true);
}

/**
 * For each left point, its k nearest right points within radiusDeg (fewer when fewer are
 * within the radius), nearest first; ties in separation go to the lower right index. Like
 * astropy's `match_coordinates_sky` (nthneighbor 1..k) followed by a cut at the radius. With
 * minRadiusDeg, the k nearest of the right points at least that far.
 */
export function matchNearest(
  left: Points,
  right: Points | SkyIndex,
  radiusDeg: number,
  options: NearestOptions = {},
): Pairs {
  const k = options.k ?? 1;
  if (!(Number.isInteger(k) && k >= 1)) throw new UsageError(`k must be an integer >= 1, got ${k}`);
  const n = prepare(left, right, radiusDeg, options);
  if (k === 1) {
    const sink = new NearestSink(n);
    search(left, n, right, radiusDeg, sink, options);
    let total = 0;
    for (let i = 0; i < n; i++) if (sink.best[i]! >= 0) total++;
    const out: Pairs = {
      left: new Uint32Array(total),
      right: new Uint32Array(total),
      sepDeg: new Float64Array(total),
    };
    let o = 0;
    for (let i = 0; i < n; i++) {
      if (sink.best[i]! < 0) continue;
      out.left[o] = i;
      out.right[o] = sink.best[i]!;
      out.sepDeg[o] = sink.sep[i]! * RAD2DEG;
      o++;
    }
    return out;
  }
  const buf = new PairBuffer();
  search(left, n, right, radiusDeg, buf, options);
  const s = buf.sep;
  const r = buf.right;
  return groupPairs(buf, n, (a, b) => s[a]! < s[b]! || (s[a] === s[b] && r[a]! < r[b]!), k);
}
