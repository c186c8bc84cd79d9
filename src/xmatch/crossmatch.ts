// Out-of-core cross-match of two parent datasets, pixel by pixel.
//
// For each order-4 pixel P of the left dataset: read ra, dec, object_id of P's files only;
// read the right files whose pixel lies in a disc enclosing P widened by the radius AND whose
// `_healpix_29` range meets that disc's key ranges; match in memory with the kernel. A right
// point within the radius of a left point of P lies in that disc, so no pair is lost at pixel
// or file borders, whatever the radius (larger radii just reach more pixels). Memory holds
// one left pixel and its right neighbourhood, never a whole catalog.

import { join } from "node:path";
import type { Dataset } from "../dataset/dataset.ts";
import type { Example } from "../dataset/example.ts";
import type { Source } from "../dataset/source.ts";
import { SchemaError, UsageError } from "../errors.ts";
import { coneKeyRanges, pix2ang, pixelRadiusBoundDeg, queryDisc } from "../sky/index.ts";
import {
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
  gatherRows,
} from "../storage/columns.ts";
import { writeDataset } from "../storage/dataset-writer.ts";
import { PARTITION_ORDER } from "../storage/layout.ts";
import type { Manifest } from "../storage/manifest.ts";
import { matchAll, matchNearest, type Pairs, SkyIndex } from "./kernel.ts";

export type ObjectId = string | number | bigint;

export interface CrossMatchOptions {
  /** Match radius in arcsec; a pair is kept when its separation is <= the radius. */
  radiusArcsec: number;
  /** "nearest": the nNeighbors nearest right rows per left row (default); "all": every pair. */
  mode?: "nearest" | "all";
  /** Right rows kept per left row in "nearest" mode (default 1). */
  nNeighbors?: number;
  /** "inner" (default): matched rows only; "left": also left rows without a match. */
  how?: "inner" | "left";
  onProgress?: (p: CrossMatchProgress) => void;
}

export interface CrossMatchProgress {
  pixelsDone: number;
  pixelsTotal: number;
  leftRows: number;
  pairs: number;
  rightFilesRead: number;
}

/**
 * One row per pair (and, with how "left", per unmatched left row: right fields null / -1 /
 * NaN). ra, dec and healpix are the left row's. Locations: file path and row in the file;
 * `left_index` / `right_index` are row positions in the datasets (for take()).
 */
export interface MatchCatalog {
  length: number;
  left_object_id: ObjectId[];
  right_object_id: Array<ObjectId | null>;
  sep_arcsec: Float64Array;
  ra: Float64Array;
  dec: Float64Array;
  healpix: Int32Array;
  left_file: string[];
  left_row: Float64Array;
  left_index: Float64Array;
  right_file: Array<string | null>;
  right_row: Float64Array;
  right_index: Float64Array;
}

export interface MatchedExample {
  left: Example;
  right: Example | null;
  sep_arcsec: number;
}

export interface CrossMatchResult {
  catalog: MatchCatalog;
  dataset: MatchedDataset;
  stats: { leftFilesRead: number; rightFilesRead: number; pixels: number };
}

/** The only view the cross-match accepts: a whole parent dataset (one source, no filter). */
function sourceOf(ds: Dataset, side: string): Source {
  // Dataset keeps its sources private; the cross-match plans from their manifests and file
  // lists, so it reaches them here rather than widening the Dataset API.
  const sources = (ds as unknown as { s: { sources: Source[]; order: unknown } }).s;
  if (sources.sources.length !== 1 || ds.filtered || sources.order) {
    throw new UsageError(
      `${side} dataset: cross-match needs a whole parent dataset (not filtered, shuffled or concatenated)`,
    );
  }
  const src = sources.sources[0]!;
  for (const c of ["object_id", "ra", "dec"]) {
    if (!src.has(c)) src.feature(c); // throws MissingColumnError naming the manifest
  }
  return src;
}

interface Positions {
  ra: Float64Array;
  dec: Float64Array;
  id: ObjectId[];
  /** File index in the source, and row in that file, per point. */
  file: Int32Array;
  row: Int32Array;
}

function toIds(values: ColumnValues): ObjectId[] {
  return Array.isArray(values) ? values : Array.from(values as ArrayLike<ObjectId>);
}

async function readPositions(src: Source, fileIndices: number[]): Promise<Positions> {
  const parts: Array<{ f: number; ra: Float64Array; dec: Float64Array; id: ObjectId[] }> = [];
  let n = 0;
  for (const f of fileIndices) {
    const rows = src.files[f]!.rows;
    const cols = await src.readRange(f, ["ra", "dec", "object_id"], 0, rows);
    const ra = Float64Array.from(cols.ra as ArrayLike<number>);
    const dec = Float64Array.from(cols.dec as ArrayLike<number>);
    for (let i = 0; i < ra.length; i++) {
      // Bad positions in a stored file are a data problem: name the file and row.
      if (!Number.isFinite(ra[i]!) || !(dec[i]! >= -90 && dec[i]! <= 90)) {
        throw new SchemaError(`row ${i} has ra=${ra[i]} dec=${dec[i]}`, {
          file: join(src.root, src.files[f]!.path),
          column: "ra/dec",
        });
      }
    }
    parts.push({ f, ra, dec, id: toIds(cols.object_id!) });
    n += rows;
  }
  const out: Positions = {
    ra: new Float64Array(n),
    dec: new Float64Array(n),
    id: new Array<ObjectId>(n),
    file: new Int32Array(n),
    row: new Int32Array(n),
  };
  let at = 0;
  for (const p of parts) {
    out.ra.set(p.ra, at);
    out.dec.set(p.dec, at);
    for (let i = 0; i < p.ra.length; i++) {
      out.id[at + i] = p.id[i]!;
      out.file[at + i] = p.f;
      out.row[at + i] = i;
    }
    at += p.ra.length;
  }
  return out;
}

/** Right file indices that can hold a point within `radiusDeg` of any point of left pixel `pix`. */
function rightFilesFor(
  right: Source,
  byPixel: Map<number, number[]>,
  pix: number,
  radiusDeg: number,
): number[] {
  const centre = pix2ang(PARTITION_ORDER, pix);
  const reach = Math.min(180, pixelRadiusBoundDeg(PARTITION_ORDER) + radiusDeg);
  const pixels = queryDisc(PARTITION_ORDER, centre.ra, centre.dec, reach);
  // Key ranges only pay when a pixel has several files; a coarse cover (64 ranges) costs
  // well under a millisecond and still skips the files of a dense pixel far from the disc.
  let ranges: Array<[bigint, bigint]> | null = null;
  const out: number[] = [];
  for (const p of pixels) {
    const files = byPixel.get(Number(p)) ?? [];
    if (files.length === 1) {
      out.push(files[0]!);
      continue;
    }
    for (const f of files) {
      ranges ??= coneKeyRanges(centre.ra, centre.dec, reach, { maxRanges: 64 });
      const lo = BigInt(right.files[f]!.keyMin);
      const hi = BigInt(right.files[f]!.keyMax);
      // Ranges are half-open [a, b); the file's range is inclusive [lo, hi].
      if (ranges.some(([a, b]) => lo < b && hi >= a)) out.push(f);
    }
  }
  return out.sort((a, b) => a - b);
}

function filesByPixel(src: Source): Map<number, number[]> {
  const m = new Map<number, number[]>();
  src.files.forEach((f, i) => {
    if (f.rows === 0) return;
    const list = m.get(f.pixel);
    if (list) list.push(i);
    else m.set(f.pixel, [i]);
  });
  return m;
}

class CatalogBuilder {
  leftId: ObjectId[] = [];
  rightId: Array<ObjectId | null> = [];
  sep: number[] = [];
  ra: number[] = [];
  dec: number[] = [];
  healpix: number[] = [];
  leftFile: string[] = [];
  leftRow: number[] = [];
  leftIndex: number[] = [];
  rightFile: Array<string | null> = [];
  rightRow: number[] = [];
  rightIndex: number[] = [];

  build(): MatchCatalog {
    return {
      length: this.leftId.length,
      left_object_id: this.leftId,
      right_object_id: this.rightId,
      sep_arcsec: Float64Array.from(this.sep),
      ra: Float64Array.from(this.ra),
      dec: Float64Array.from(this.dec),
      healpix: Int32Array.from(this.healpix),
      left_file: this.leftFile,
      left_row: Float64Array.from(this.leftRow),
      left_index: Float64Array.from(this.leftIndex),
      right_file: this.rightFile,
      right_row: Float64Array.from(this.rightRow),
      right_index: Float64Array.from(this.rightIndex),
    };
  }
}

/**
 * Cross-matches two parent datasets out of core (see the file comment). Pairs come out
 * grouped by left pixel, then left file and row, then nearest first ("nearest") or by right
 * position ("all").
 */
export async function crossMatch(
  left: Dataset,
  right: Dataset,
  options: CrossMatchOptions,
): Promise<CrossMatchResult> {
  const radiusArcsec = options.radiusArcsec;
  if (!(radiusArcsec > 0 && radiusArcsec <= 180 * 3600)) {
    throw new UsageError(`radiusArcsec must be in (0, 648000], got ${radiusArcsec}`);
  }
  const mode = options.mode ?? "nearest";
  if (mode !== "nearest" && mode !== "all") throw new UsageError(`unknown mode "${mode}"`);
  const how = options.how ?? "inner";
  if (how !== "inner" && how !== "left") throw new UsageError(`unknown how "${how}"`);
  const k = options.nNeighbors ?? 1;
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new UsageError(`nNeighbors must be an integer >= 1, got ${k}`);
  }
  const L = sourceOf(left, "left");
  const R = sourceOf(right, "right");
  const radiusDeg = radiusArcsec / 3600;
  const leftPixels = filesByPixel(L);
  const rightPixels = filesByPixel(R);
  const pixels = [...leftPixels.keys()].sort((a, b) => a - b);
  const out = new CatalogBuilder();
  // Right files read recently, least recently used first: in NESTED order the next pixel's
  // neighbourhood overlaps the last few, so each right file is read about once. Bounded by
  // rows (the current neighbourhood is always kept).
  const cache = new Map<number, Positions>();
  let cachedRows = 0;
  let rightFilesRead = 0;
  let leftFilesRead = 0;
  let leftRows = 0;
  for (const [done, pix] of pixels.entries()) {
    const rightFiles = rightFilesFor(R, rightPixels, pix, radiusDeg);
    const parts: Positions[] = [];
    for (const f of rightFiles) {
      let p = cache.get(f);
      if (p) cache.delete(f);
      else {
        p = await readPositions(R, [f]);
        rightFilesRead++;
        cachedRows += p.ra.length;
      }
      cache.set(f, p);
      parts.push(p);
    }
    const keep = new Set(rightFiles);
    for (const [f, p] of cache) {
      if (cachedRows <= CACHE_ROWS) break;
      if (keep.has(f)) continue;
      cache.delete(f);
      cachedRows -= p.ra.length;
    }
    const rp = parts.length > 0 ? concatPositions(parts) : emptyPositions();
    const index = rp.ra.length > 0 ? new SkyIndex(rp, radiusDeg) : null;
    // Left files of this pixel one at a time: bounded by the file size cap.
    for (const lf of leftPixels.get(pix)!) {
      const lp = await readPositions(L, [lf]);
      leftFilesRead++;
      leftRows += lp.ra.length;
      const pairs: Pairs = index
        ? mode === "all"
          ? matchAll(lp, index, radiusDeg)
          : matchNearest(lp, index, radiusDeg, { k })
        : { left: new Uint32Array(0), right: new Uint32Array(0), sepDeg: new Float64Array(0) };
      const leftPath = join(L.root, L.files[lf]!.path);
      const leftStart = L.starts[lf]!;
      let t = 0;
      for (let i = 0; i < lp.ra.length; i++) {
        const first = t;
        while (t < pairs.left.length && pairs.left[t] === i) {
          const j = pairs.right[t]!;
          const rf = rp.file[j]!;
          out.leftId.push(lp.id[i]!);
          out.rightId.push(rp.id[j]!);
          out.sep.push(pairs.sepDeg[t]! * 3600);
          out.ra.push(lp.ra[i]!);
          out.dec.push(lp.dec[i]!);
          out.healpix.push(pix);
          out.leftFile.push(leftPath);
          out.leftRow.push(i);
          out.leftIndex.push(leftStart + i);
          out.rightFile.push(join(R.root, R.files[rf]!.path));
          out.rightRow.push(rp.row[j]!);
          out.rightIndex.push(R.starts[rf]! + rp.row[j]!);
          t++;
        }
        if (t === first && how === "left") {
          out.leftId.push(lp.id[i]!);
          out.rightId.push(null);
          out.sep.push(Number.NaN);
          out.ra.push(lp.ra[i]!);
          out.dec.push(lp.dec[i]!);
          out.healpix.push(pix);
          out.leftFile.push(leftPath);
          out.leftRow.push(i);
          out.leftIndex.push(leftStart + i);
          out.rightFile.push(null);
          out.rightRow.push(-1);
          out.rightIndex.push(-1);
        }
      }
    }
    options.onProgress?.({
      pixelsDone: done + 1,
      pixelsTotal: pixels.length,
      leftRows,
      pairs: out.leftId.length,
      rightFilesRead,
    });
  }
  const catalog = out.build();
  return {
    catalog,
    dataset: new MatchedDataset(left, right, catalog, radiusArcsec),
    stats: { leftFilesRead, rightFilesRead, pixels: pixels.length },
  };
}

/** Right rows kept in the read cache (ra, dec, id, file, row: ~50 bytes a row). */
const CACHE_ROWS = 2_000_000;

function emptyPositions(): Positions {
  return {
    ra: new Float64Array(0),
    dec: new Float64Array(0),
    id: [],
    file: new Int32Array(0),
    row: new Int32Array(0),
  };
}

function concatPositions(parts: Positions[]): Positions {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.ra.length;
  const out: Positions = {
    ra: new Float64Array(n),
    dec: new Float64Array(n),
    id: [],
    file: new Int32Array(n),
    row: new Int32Array(n),
  };
  let at = 0;
  for (const p of parts) {
    out.ra.set(p.ra, at);
    out.dec.set(p.dec, at);
    out.file.set(p.file, at);
    out.row.set(p.row, at);
    for (const id of p.id) out.id.push(id);
    at += p.ra.length;
  }
  return out;
}

/** Prefix of the right dataset's columns in a saved match. */
export const RIGHT_PREFIX = "right.";

/**
 * The matched rows as a lazy dataset: examples are read through the two datasets' take()
 * when asked for, never all at once.
 */
export class MatchedDataset {
  readonly catalog: MatchCatalog;
  readonly radiusArcsec: number;
  private readonly leftDs: Dataset;
  private readonly rightDs: Dataset;

  constructor(left: Dataset, right: Dataset, catalog: MatchCatalog, radiusArcsec: number) {
    this.leftDs = left;
    this.rightDs = right;
    this.catalog = catalog;
    this.radiusArcsec = radiusArcsec;
  }

  get length(): number {
    return this.catalog.length;
  }

  async get(i: number): Promise<MatchedExample> {
    return (await this.take([i]))[0]!;
  }

  /** Matched examples at these catalog positions, in this order. */
  async take(indices: ArrayLike<number>): Promise<MatchedExample[]> {
    const c = this.catalog;
    const at = Array.from(indices, (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < c.length)) {
        throw new UsageError(`match index ${i} outside [0, ${c.length})`);
      }
      return i;
    });
    const lefts = await this.leftDs.take(at.map((i) => c.left_index[i]!));
    const withRight = at.filter((i) => c.right_index[i]! >= 0);
    const rights = await this.rightDs.take(withRight.map((i) => c.right_index[i]!));
    let r = 0;
    return at.map((i, n) => ({
      left: lefts[n]!,
      right: c.right_index[i]! >= 0 ? rights[r++]! : null,
      sep_arcsec: c.sep_arcsec[i]!,
    }));
  }

  /**
   * Writes the matched pairs as a new parent dataset: the left's columns (object_id, ra, dec
   * are the left's, so rows are partitioned by the left position), the right's prefixed with
   * "right.", and `sep_arcsec`. Left rows without a match (how "left") are not written: a
   * fill value would pass for data. Reads 4096 pairs at a time.
   */
  async saveToDisk(
    path: string,
    options: { config?: string; name?: string } = {},
  ): Promise<Manifest> {
    const L = sourceOf(this.leftDs, "left");
    const R = sourceOf(this.rightDs, "right");
    const skip = new Set(["healpix", "_healpix_29"]);
    const leftNames = L.features.map((f) => f.name).filter((n) => !skip.has(n));
    const rightNames = R.features.map((f) => f.name).filter((n) => !skip.has(n));
    const specs: ColumnSpec[] = leftNames.map((n) => L.spec(n));
    const taken = new Set(leftNames);
    for (const n of rightNames) {
      const spec = { ...R.spec(n), name: RIGHT_PREFIX + n };
      if (taken.has(spec.name)) {
        throw new UsageError(
          `cannot save the match: left column "${spec.name}" clashes with the right's prefixed "${n}"`,
        );
      }
      taken.add(spec.name);
      specs.push(spec);
    }
    if (taken.has("sep_arcsec")) {
      throw new UsageError('cannot save the match: the left dataset has a "sep_arcsec" column');
    }
    specs.push({ name: "sep_arcsec", dtype: "float64", shape: [], unit: "arcsec" });
    const c = this.catalog;
    const matched: number[] = [];
    for (let i = 0; i < c.length; i++) if (c.right_index[i]! >= 0) matched.push(i);
    async function* batches(): AsyncGenerator<ColumnBatch> {
      const BATCH = 4096;
      for (let s = 0; s < matched.length; s += BATCH) {
        const part = matched.slice(s, s + BATCH);
        const lcols = await readByIndex(
          L,
          leftNames,
          part.map((i) => c.left_index[i]!),
        );
        const rcols = await readByIndex(
          R,
          rightNames,
          part.map((i) => c.right_index[i]!),
        );
        const batch: ColumnBatch = { ...lcols };
        for (const n of rightNames) batch[RIGHT_PREFIX + n] = rcols[n]!;
        batch.sep_arcsec = Float64Array.from(part, (i) => c.sep_arcsec[i]!);
        yield batch;
      }
    }
    const lp = L.provenance;
    const rp = R.provenance;
    return writeDataset(path, specs, batches(), {
      config: options.config ?? `${L.config}_x_${R.config}`,
      name: options.name,
      provenance: {
        ...lp,
        survey: `${lp.survey}+${rp.survey}`,
        crossmatch: `${this.radiusArcsec} arcsec, right columns prefixed "${RIGHT_PREFIX}"`,
      },
    });
  }
}

/** Columns of source rows at dataset positions, in the order given (read file by file). */
async function readByIndex(
  src: Source,
  names: string[],
  positions: number[],
): Promise<Record<string, ColumnValues>> {
  const byFile = new Map<number, { at: number[]; rows: number[] }>();
  positions.forEach((g, at) => {
    const [f, row] = src.locate(g);
    let e = byFile.get(f);
    if (!e) {
      e = { at: [], rows: [] };
      byFile.set(f, e);
    }
    e.at.push(at);
    e.rows.push(row);
  });
  const pieces: Array<{ at: number[]; cols: Record<string, ColumnValues> }> = [];
  for (const [f, e] of byFile)
    pieces.push({ at: e.at, cols: await src.readRows(f, names, e.rows) });
  // Put rows back in the asked order: concatenate pieces, then gather by inverse position.
  const where = new Int32Array(positions.length);
  let k = 0;
  for (const p of pieces) for (const a of p.at) where[a] = k++;
  const out: Record<string, ColumnValues> = {};
  for (const n of names) {
    const per = src.perRow(n);
    const all = concatValues(pieces.map((p) => p.cols[n]!));
    out[n] = gatherRows(all, per, where);
  }
  return out;
}
