// What a parent dataset config holds, for people and tools: sizes, partition pixels (per order,
// and the densest ones), and two sky figures that say what they measure:
//   - the area of the partition pixels (each file's pixel, at its own order), from the manifest
//     alone: the sky the files cover (for the adaptive layout of an all-sky catalog, the sky);
//   - a MOC-style coverage: the area of the HEALPix cells holding at least one row, at a stated
//     order (by default the finest order, at most 12, at which occupied cells hold 10 rows on
//     average, so sparse catalogs are not measured as the sum of their points' tiny cells). It
//     reads the `_healpix_29` column, in blocks, by default for configs of at most 5,000,000
//     rows (a scan takes time); its memory is bounded whatever the size (OccupiedCells).

import { UsageError } from "../core/errors.ts";
import { int64Words } from "../core/words.ts";
import { ang2pixOrder29, pix2ang } from "../sky/index.ts";
import type { Layout } from "../storage/layout.ts";
import {
  fileOrder,
  filePixels,
  type Manifest,
  manifestLayout,
  partitionKey,
} from "../storage/manifest.ts";
import type { Dataset } from "./dataset.ts";
import { Source } from "./source.ts";

/** Finest order of the coverage cells (~0.74 arcmin² each). */
export const COVERAGE_ORDER = 12;
/** Above this many rows the coverage (a scan of the key column) is not computed: NaN. */
export const COVERAGE_MAX_ROWS = 5_000_000;
/** The default coverage order is the finest whose occupied cells hold this many rows on average. */
export const COVERAGE_ROWS_PER_CELL = 10;

const SKY_DEG2 = 4 * Math.PI * (180 / Math.PI) ** 2;
const KEY_BLOCK_ROWS = 1 << 16;
/** Orders compared at this depth (exact in a double for partition orders up to 24). */
const DEPTH = 24;

/** Area of one HEALPix pixel at `order` (deg²). */
export function pixelAreaDeg2(order: number): number {
  return SKY_DEG2 / (12 * 4 ** order);
}

export interface PixelSummary {
  /** HEALPix order of the partition pixel (4 in the mmu layout). */
  order: number;
  /** Partition pixel (HEALPix NESTED, at `order`), the first of the run when `pixels` > 1. */
  pixel: number;
  /**
   * Consecutive pixels at `order` from `pixel` whose rows share files: 1, or more where the
   * adaptive layout put sparse neighbours in one file (`healpix=<N>-<M>` directories).
   */
  pixels: number;
  /** Centre of the pixel, or of the run's middle pixel (deg). */
  ra: number;
  dec: number;
  files: number;
  rows: number;
  bytes: number;
}

/** The partition pixels of one order. */
export interface OrderSummary {
  order: number;
  /** Pixels of this order holding files (a run of pixels counts each). */
  pixels: number;
  files: number;
  rows: number;
  bytes: number;
  /** Area of these pixels (deg²). */
  areaDeg2: number;
}

export interface DatasetSummary {
  /** Dataset directory. */
  root: string;
  name: string;
  config: string;
  survey: string;
  release?: string;
  /** "adaptive" (pixels sized by the data) or "mmu" (Multimodal Universe: order 4). */
  layout: Layout;
  rows: number;
  files: number;
  bytes: number;
  /** Partition pixels in key order (coarse and fine interleaved as on the sky), with their files, rows and bytes. */
  pixels: PixelSummary[];
  /** Partition pixels per order, coarsest first. */
  orders: OrderSummary[];
  /** Area of the partition pixels (deg²): the sky the files cover, from the manifest alone. */
  partitionAreaDeg2: number;
  /**
   * MOC-style coverage (deg²): the area of the cells at `coverageOrder` holding at least one
   * row. NaN when the config has more than `coverageMaxRows` rows (not computed).
   */
  areaDeg2: number;
  /** Order of the coverage cells (NaN when the coverage was not computed). */
  coverageOrder: number;
}

export interface SummaryOptions {
  /** Config to summarise (needed with a path when the dataset has several). */
  config?: string;
  /**
   * Largest config whose coverage is computed (default 5,000,000 rows: the scan of every key
   * takes ~1 s per 1e7 rows); 0 never computes it, Infinity always (in bounded memory).
   */
  coverageMaxRows?: number;
  /**
   * Order of the coverage cells (0..12). Default: the finest order at which occupied cells hold
   * COVERAGE_ROWS_PER_CELL rows on average (at most 12, at least the coarsest that has them).
   */
  coverageOrder?: number;
}

/** Rows, files and bytes per partition pixel of a config, from the manifest alone, in key order. */
export function pixelSummaries(manifest: Manifest, config: string): PixelSummary[] {
  const by = new Map<string, PixelSummary>();
  for (const f of manifest.files) {
    if (f.config !== config) continue;
    const order = fileOrder(f);
    const pixels = filePixels(f);
    const at = partitionKey(f);
    let p = by.get(at);
    if (!p) {
      const c = pix2ang(order, f.pixel + Math.floor(pixels / 2));
      p = { order, pixel: f.pixel, pixels, ra: c.ra, dec: c.dec, files: 0, rows: 0, bytes: 0 };
      by.set(at, p);
    }
    p.files++;
    p.rows += f.rows;
    p.bytes += f.bytes;
  }
  // Key order: a pixel's first key is pixel << 2 * (29 - order).
  return [...by.values()].sort(
    (a, b) => a.pixel * 4 ** (DEPTH - a.order) - b.pixel * 4 ** (DEPTH - b.order),
  );
}

/** The partition pixels grouped by order, coarsest first. */
export function orderSummaries(pixels: PixelSummary[]): OrderSummary[] {
  const by = new Map<number, OrderSummary>();
  for (const p of pixels) {
    let o = by.get(p.order);
    if (!o) {
      o = { order: p.order, pixels: 0, files: 0, rows: 0, bytes: 0, areaDeg2: 0 };
      by.set(p.order, o);
    }
    o.pixels += p.pixels;
    o.files += p.files;
    o.rows += p.rows;
    o.bytes += p.bytes;
    o.areaDeg2 += p.pixels * pixelAreaDeg2(p.order);
  }
  return [...by.values()].sort((a, b) => a.order - b.order);
}

/** The `n` pixels holding the most rows (then the most bytes), densest first. */
export function densestPixels(pixels: PixelSummary[], n: number): PixelSummary[] {
  return [...pixels]
    .sort((a, b) => b.rows - a.rows || b.bytes - a.bytes || a.order - b.order || a.pixel - b.pixel)
    .slice(0, n);
}

/**
 * Summarises one config of a parent dataset: given a path (with `config` when it has several),
 * or the parent behind an opened dataset or view (its config; filters play no part).
 */
export async function summarizeDataset(
  dataset: Dataset | string,
  options: SummaryOptions = {},
): Promise<DatasetSummary> {
  const source =
    typeof dataset === "string"
      ? await Source.open(dataset, options.config)
      : await Source.open(dataset.root, options.config ?? dataset.config);
  try {
    const { manifest, config } = source;
    const maxRows = options.coverageMaxRows ?? COVERAGE_MAX_ROWS;
    const pixels = pixelSummaries(manifest, config);
    const orders = orderSummaries(pixels);
    const coverage =
      source.rows > maxRows
        ? { areaDeg2: Number.NaN, order: Number.NaN }
        : await coverageOf(source, options.coverageOrder);
    return {
      root: source.root,
      name: manifest.name,
      config,
      survey: manifest.provenance.survey,
      release: manifest.provenance.release,
      layout: manifestLayout(manifest),
      rows: source.rows,
      files: source.files.length,
      bytes: source.files.reduce((s, f) => s + f.bytes, 0),
      pixels,
      orders,
      partitionAreaDeg2: orders.reduce((s, o) => s + o.areaDeg2, 0),
      areaDeg2: coverage.areaDeg2,
      coverageOrder: coverage.order,
    };
  } finally {
    source.close();
  }
}

/** Sorts a[0, n) and moves its distinct values to the front; returns how many there are. */
function sortedUnique(a: Uint32Array, n: number): number {
  const v = a.subarray(0, n).sort();
  let m = 0;
  for (let i = 0; i < n; i++) if (i === 0 || v[i] !== v[m - 1]) v[m++] = v[i];
  return m;
}

/** Cells at COVERAGE_ORDER (12 * 4^12), one bit each in a bitmap: 24 MiB. */
const BITMAP_WORDS = (12 * 4 ** COVERAGE_ORDER) / 32;

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** The 8 parent bits of 32 NESTED child bits (a parent's 4 children are consecutive). */
function parentBits(w: number): number {
  let x = w | (w >>> 1);
  x = (x | (x >>> 2)) & 0x11111111;
  x = (x | (x >>> 3)) & 0x03030303;
  x = (x | (x >>> 6)) & 0x000f000f;
  return (x | (x >>> 12)) & 0xff;
}

/**
 * The occupied cells at COVERAGE_ORDER: a sorted, de-duplicated array while there are few (a
 * Set of a million cells and its coarser copies took ~1 s), a bitmap of every cell once the
 * array would outgrow it, so memory stays within ~24 MiB however many rows are scanned.
 * @internal `arrayMax` (cells kept as an array at most) is lowered by tests.
 */
export class OccupiedCells {
  private cells = new Uint32Array(1024);
  private count = 0;
  private bits: Uint32Array | null = null;

  constructor(private readonly arrayMax = BITMAP_WORDS) {}

  /** Whether the cells are now kept as a bitmap. */
  get isBitmap(): boolean {
    return this.bits !== null;
  }

  add(cell: number): void {
    if (this.bits) {
      this.bits[cell >>> 5]! |= 1 << (cell & 31);
      return;
    }
    if (this.count === this.cells.length) this.compact();
    if (this.bits) this.add(cell);
    else this.cells[this.count++] = cell;
  }

  private compact(): void {
    this.count = sortedUnique(this.cells, this.count);
    if (this.count <= this.cells.length / 2) return;
    if (this.cells.length * 2 > this.arrayMax) {
      const bits = new Uint32Array(BITMAP_WORDS);
      for (let i = 0; i < this.count; i++) {
        const c = this.cells[i]!;
        bits[c >>> 5]! |= 1 << (c & 31);
      }
      this.bits = bits;
      this.cells = new Uint32Array(0);
      this.count = 0;
      return;
    }
    const grown = new Uint32Array(this.cells.length * 2);
    grown.set(this.cells.subarray(0, this.count));
    this.cells = grown;
  }

  /** Occupied cells at every order 0..COVERAGE_ORDER (the cells are consumed). */
  perOrder(): number[] {
    const occupied: number[] = new Array(COVERAGE_ORDER + 1).fill(0);
    if (!this.bits) {
      let count = sortedUnique(this.cells, this.count);
      const cells = this.cells;
      // The parents of sorted cells are sorted.
      for (let k = COVERAGE_ORDER; k >= 0; k--) {
        occupied[k] = count;
        if (k > 0) {
          for (let i = 0; i < count; i++) cells[i]! >>>= 2;
          count = sortedUnique(cells, count);
        }
      }
      return occupied;
    }
    // In place: parent word q takes the parent bits of child words 4q .. 4q + 3.
    const bits = this.bits;
    let words = BITMAP_WORDS;
    for (let k = COVERAGE_ORDER; k >= 0; k--) {
      let n = 0;
      for (let i = 0; i < words; i++) n += popcount(bits[i]!);
      occupied[k] = n;
      if (k === 0) break;
      const parents = Math.ceil(words / 4);
      for (let q = 0; q < parents; q++) {
        let w = 0;
        for (let j = 0; j < 4 && 4 * q + j < words; j++)
          w |= parentBits(bits[4 * q + j]!) << (8 * j);
        bits[q] = w >>> 0;
      }
      bits.fill(0, parents, words);
      words = parents;
    }
    return occupied;
  }
}

/**
 * The cells holding at least one row at `order` (or the default order, see SummaryOptions) and
 * their area; reads `_healpix_29` in blocks.
 */
async function coverageOf(
  source: Source,
  order?: number,
): Promise<{ areaDeg2: number; order: number }> {
  if (order !== undefined && !(Number.isInteger(order) && order >= 0 && order <= COVERAGE_ORDER))
    throw new UsageError(`coverage order ${order} must be an integer in [0, ${COVERAGE_ORDER}]`);
  const cells = new OccupiedCells();
  // A key's cell from its high 32-bit word alone (keys are below 2^62 and the cell drops at
  // least 32 bits): no BigInt per row.
  const hiShift = 2 * (29 - COVERAGE_ORDER) - 32;
  let rows = 0;
  for (let f = 0; f < source.files.length; f++) {
    const n = source.files[f].rows;
    for (let at = 0; at < n; at += KEY_BLOCK_ROWS) {
      const end = Math.min(n, at + KEY_BLOCK_ROWS);
      // Files without a trustworthy key column (adopted MMU files): keys from ra/dec.
      const keys =
        source.has("_healpix_29") && source.files[f].rowOrder !== "any"
          ? ((await source.readRange(f, ["_healpix_29"], at, end))._healpix_29 as BigInt64Array)
          : await source
              .readRange(f, ["ra", "dec"], at, end)
              .then((b) => ang2pixOrder29(b.ra as Float64Array, b.dec as Float64Array));
      const words = int64Words(keys);
      let last = -1;
      for (let i = 0; i < keys.length; i++) {
        const cell = words[2 * i + 1] >>> hiShift;
        // Sorted keys come in runs of one cell: one entry per run.
        if (cell === last) continue;
        cells.add(cell);
        last = cell;
      }
      rows += keys.length;
    }
  }
  const occupied = cells.perOrder();
  let chosen = order;
  if (chosen === undefined) {
    chosen = 0;
    for (let k = COVERAGE_ORDER; k >= 0; k--) {
      if (occupied[k] > 0 && rows / occupied[k] >= COVERAGE_ROWS_PER_CELL) {
        chosen = k;
        break;
      }
    }
  }
  return { areaDeg2: occupied[chosen] * pixelAreaDeg2(chosen), order: chosen };
}
