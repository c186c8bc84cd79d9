// Synthetic all-sky catalogs shaped like real star catalogs (Tycho, Gaia subsets, bright-star
// lists): density rising toward the galactic plane, clusters, a magnitude distribution that
// rises toward the faint end, and companion catalogs that share part of their objects with
// small position offsets, as two real surveys of the same sky do. Deterministic for a seed,
// generated batch by batch (memory bounded by the batch size), written as CSV or CSV.gz.
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { tempPathFor } from "../core/atomic-file.ts";
import type { ColumnBatch } from "../core/columns.ts";
import { UsageError } from "../core/errors.ts";
import { Rng } from "./random.ts";

// Galactic (l, b) unit vector -> ICRS: the transpose of the IAU 1958 / Hipparcos ICRS-to-galactic
// rotation (astropy's Galactic frame to 1e-10).
const G2I = [
  [-0.0548755604162154, 0.4941094278755837, -0.8676661490190047],
  [-0.873437090234885, -0.4448296299600112, -0.1980763734312015],
  [-0.4838350155487132, 0.746982244497219, 0.4559837761750669],
] as const;

const MAG_K = 0.35 * Math.LN10;
const MAG_LO = Math.exp(-10 * MAG_K);

export interface AllSkyOptions {
  /** Number of rows. */
  rows: number;
  /** Seed (same seed, same catalog). */
  seed?: number;
  /** Fraction of objects in the disc population, concentrated toward |b| = 0 (default 0.6). */
  discFraction?: number;
  /** Exponential scale of the disc in galactic latitude, degrees (default 8). */
  discScaleDeg?: number;
  /** Fraction of objects in clusters of 20-400 members (default 0.05). */
  clusterFraction?: number;
  /** Faintest magnitude (default 12): the counts rise as 10^(0.35 m) up to it. */
  magLimit?: number;
  /** First object id (default 1); ids are consecutive. */
  firstId?: number;
  /** Rows per batch (default 65,536). */
  batchRows?: number;
}

function galacticToIcrs(l: number, b: number): { ra: number; dec: number } {
  const cb = Math.cos(b);
  const x = cb * Math.cos(l);
  const y = cb * Math.sin(l);
  const z = Math.sin(b);
  const X = G2I[0][0] * x + G2I[0][1] * y + G2I[0][2] * z;
  const Y = G2I[1][0] * x + G2I[1][1] * y + G2I[1][2] * z;
  const Z = G2I[2][0] * x + G2I[2][1] * y + G2I[2][2] * z;
  let ra = (Math.atan2(Y, X) * 180) / Math.PI;
  if (ra < 0) ra += 360;
  if (ra >= 360) ra -= 360;
  const dec = (Math.asin(Math.max(-1, Math.min(1, Z))) * 180) / Math.PI;
  return { ra, dec };
}

/** A point at angular distance `r` (radians) from (ra, dec) toward position angle `pa`. */
function offset(ra: number, dec: number, r: number, pa: number): { ra: number; dec: number } {
  const d0 = (dec * Math.PI) / 180;
  const sd = Math.sin(d0) * Math.cos(r) + Math.cos(d0) * Math.sin(r) * Math.cos(pa);
  const d = Math.asin(Math.max(-1, Math.min(1, sd)));
  const dra = Math.atan2(
    Math.sin(pa) * Math.sin(r) * Math.cos(d0),
    Math.cos(r) - Math.sin(d0) * Math.sin(d),
  );
  let a = ra + (dra * 180) / Math.PI;
  a = ((a % 360) + 360) % 360;
  if (a >= 360) a = 0;
  return { ra: a, dec: (d * 180) / Math.PI };
}

/**
 * Batches of an all-sky catalog: `id` (int64), `ra`, `dec` (float64 degrees, ICRS), `mag`
 * (float32). Disc objects follow an exponential in galactic latitude, halo objects are
 * uniform on the sphere, cluster members are Gaussian clumps 0.05-0.5 degrees wide.
 */
export function* allSkyCatalog(options: AllSkyOptions): Generator<ColumnBatch> {
  const n = options.rows;
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`rows must be >= 0, got ${n}`);
  const rng = new Rng(options.seed ?? 1, "allsky");
  const disc = options.discFraction ?? 0.6;
  const scale = ((options.discScaleDeg ?? 8) * Math.PI) / 180;
  const clustered = options.clusterFraction ?? 0.05;
  const magLimit = options.magLimit ?? 12;
  const batchRows = options.batchRows ?? 65_536;
  const firstId = options.firstId ?? 1;
  let cluster = { ra: 0, dec: 0, sigma: 0, left: 0 };
  for (let start = 0; start < n; start += batchRows) {
    const m = Math.min(batchRows, n - start);
    const id = new BigInt64Array(m);
    const ra = new Float64Array(m);
    const dec = new Float64Array(m);
    const mag = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      id[i] = BigInt(firstId + start + i);
      const u = rng.uniform();
      let p: { ra: number; dec: number };
      if (u < clustered) {
        if (cluster.left <= 0) {
          const c = galacticToIcrs(rng.uniform() * 2 * Math.PI, Math.asin(2 * rng.uniform() - 1));
          const sigma = ((0.05 + 0.45 * rng.uniform()) * Math.PI) / 180;
          cluster = { ...c, sigma, left: 20 + Math.floor(rng.uniform() * 380) };
        }
        cluster.left--;
        const r = cluster.sigma * Math.sqrt(-2 * Math.log(1 - rng.uniform()));
        p = offset(cluster.ra, cluster.dec, r, rng.uniform() * 2 * Math.PI);
      } else if (u < clustered + disc) {
        const sign = rng.uniform() < 0.5 ? -1 : 1;
        const b = Math.min(Math.PI / 2, -scale * Math.log(1 - rng.uniform()));
        p = galacticToIcrs(rng.uniform() * 2 * Math.PI, sign * b);
      } else {
        p = galacticToIcrs(rng.uniform() * 2 * Math.PI, Math.asin(2 * rng.uniform() - 1));
      }
      ra[i] = p.ra;
      dec[i] = p.dec;
      // Counts rising as 10^(0.35 m) over the 10 magnitudes up to the limit: the inverse of
      // that distribution's CDF.
      mag[i] = magLimit + Math.log(MAG_LO + (1 - MAG_LO) * rng.uniform()) / MAG_K;
    }
    yield { id, ra, dec, mag };
  }
}

export interface CompanionOptions {
  /** Keep objects of the parent brighter than this magnitude (the shared part). */
  brighterThan: number;
  /** Of those, the fraction kept (default 0.9). */
  keep?: number;
  /** Position scatter of the shared objects, arcsec (1-sigma per axis; default 0.3). */
  scatterArcsec?: number;
  /** New objects not in the parent, as a fraction of the kept ones (default 0.2). */
  extra?: number;
  seed?: number;
  /** First object id (default 10,000,000,001). */
  firstId?: number;
}

/**
 * A companion catalog of `parent`: its bright objects seen again with a position scatter (the
 * pairs a cross-match must find), plus objects of its own. Streams over the parent's batches.
 */
export function* companionCatalog(
  parent: Iterable<ColumnBatch>,
  options: CompanionOptions,
): Generator<ColumnBatch> {
  const rng = new Rng(options.seed ?? 2, "companion");
  const keep = options.keep ?? 0.9;
  const sigma = ((options.scatterArcsec ?? 0.3) / 3600) * (Math.PI / 180);
  const extra = options.extra ?? 0.2;
  let nextId = options.firstId ?? 10_000_000_001;
  for (const b of parent) {
    const pra = b.ra as Float64Array;
    const pdec = b.dec as Float64Array;
    const pmag = b.mag as Float32Array;
    const ra: number[] = [];
    const dec: number[] = [];
    const mag: number[] = [];
    for (let i = 0; i < pra.length; i++) {
      if (pmag[i]! >= options.brighterThan || rng.uniform() >= keep) continue;
      const r = sigma * Math.sqrt(-2 * Math.log(1 - rng.uniform()));
      const p = offset(pra[i]!, pdec[i]!, r, rng.uniform() * 2 * Math.PI);
      ra.push(p.ra);
      dec.push(p.dec);
      mag.push(pmag[i]! + 0.05 * (rng.uniform() - 0.5));
      if (rng.uniform() < extra) {
        // An object of its own, near the same part of the sky (same density law) but elsewhere.
        const q = offset(
          pra[i]!,
          pdec[i]!,
          (0.5 + rng.uniform()) * (Math.PI / 180),
          rng.uniform() * 7,
        );
        ra.push(q.ra);
        dec.push(q.dec);
        mag.push(options.brighterThan - rng.uniform() * 3);
      }
    }
    const id = new BigInt64Array(ra.length);
    for (let i = 0; i < id.length; i++) id[i] = BigInt(nextId++);
    yield {
      id,
      ra: Float64Array.from(ra),
      dec: Float64Array.from(dec),
      mag: Float32Array.from(mag),
    };
  }
}

/**
 * Writes batches of (id, ra, dec, mag) as CSV, gzip-compressed when `path` ends in `.gz`;
 * positions with 9 decimals (~4 µas), magnitudes with 3. Written to a temporary name and
 * renamed when complete. Returns the number of rows.
 */
export async function writeCatalogRowsCsv(
  path: string,
  batches: Iterable<ColumnBatch>,
): Promise<number> {
  const temp = tempPathFor(path);
  let rows = 0;
  function* text(): Generator<string> {
    yield "id,ra,dec,mag\n";
    for (const b of batches) {
      const id = b.id as BigInt64Array;
      const ra = b.ra as Float64Array;
      const dec = b.dec as Float64Array;
      const mag = b.mag as Float32Array;
      const lines: string[] = [];
      for (let i = 0; i < id.length; i++) {
        lines.push(`${id[i]},${ra[i]!.toFixed(9)},${dec[i]!.toFixed(9)},${mag[i]!.toFixed(3)}`);
      }
      rows += id.length;
      yield `${lines.join("\n")}\n`;
    }
  }
  try {
    const out = createWriteStream(temp);
    if (path.endsWith(".gz")) await pipeline(text, createGzip({ level: 6 }), out);
    else await pipeline(text, out);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return rows;
}
