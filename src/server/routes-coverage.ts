// The sky coverage of a dataset (docs/service.md, "Dataset routes"): the HEALPix pixels at an
// order that hold rows, with their row counts. Files whose pixels lie within one pixel of that
// order count from the manifest; the others' rows are read for their positions, in batches (at
// most COVERAGE_MAX_ROWS rows), and the answer is kept per opened dataset.

import type { FastifyInstance } from "fastify";
import { InternalError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import { COVERAGE_MAX_ROWS } from "../dataset/summary.ts";
import { ang2pixNumber } from "../sky/index.ts";
import { orderShift, pixelKeyRange } from "../storage/layout.ts";
import { type FileEntry, fileOrder, filePixels } from "../storage/manifest.ts";
import type { ServerContext } from "./app.ts";
import { tooLarge } from "./errors.ts";
import { CONFIG_PARAM, NAME_PARAMS } from "./params.ts";
import { withDeadline } from "./query.ts";
import { datasetNamed } from "./routes-datasets.ts";

/** Finest order served (12: 201 million pixels of ~0.74 arcmin²). */
const MAX_ORDER = 12;

export interface Coverage {
  order: number;
  pixels: number[];
  counts: number[];
}

/**
 * The pixels at `order` holding rows of an opened parent dataset's config (not a concatenation),
 * with their counts: a file that lies in one pixel of that order counts from the manifest; the
 * rows of the others (coarser files, or runs of pixels across that order's borders) are read, at
 * most COVERAGE_MAX_ROWS of them.
 */
export async function coverageOf(dataset: Dataset, order: number): Promise<Coverage> {
  const counts = new Map<number, number>();
  const add = (p: number, n: number) => counts.set(p, (counts.get(p) ?? 0) + n);
  const files = dataset.manifest.files.filter((f) => f.config === dataset.config && f.rows > 0);
  const toRead = new Set(files.filter((f) => manifestOrder(f) < order).map((f) => f.path));
  const rowsToRead = files.reduce((n, f) => n + (toRead.has(f.path) ? f.rows : 0), 0);
  if (rowsToRead > COVERAGE_MAX_ROWS)
    throw tooLarge(
      `the coverage at order ${order} reads the positions of ${rowsToRead} rows (at most ${COVERAGE_MAX_ROWS}); ${coarser(files)}`,
      "order",
    );
  for (const f of files)
    if (!toRead.has(f.path)) add(Math.floor(f.pixel / 4 ** (fileOrder(f) - order)), f.rows);
  if (toRead.size === 0) return coverageFrom(order, counts);
  // The dataset's own parent: its manifest is the one counted above, its files already open.
  const { source } = await dataset.parentRows();
  if (!source) throw new InternalError("coverage of a dataset with several parents");
  for (const [i, f] of source.files.entries()) {
    if (!toRead.has(f.path)) continue;
    for (let at = 0; at < f.rows; at += READ_ROWS) {
      const b = await source.readRange(i, ["ra", "dec"], at, Math.min(f.rows, at + READ_ROWS));
      const ra = b.ra as Float64Array;
      const dec = b.dec as Float64Array;
      for (let r = 0; r < ra.length; r++) {
        if (!(Number.isFinite(ra[r]) && dec[r]! >= -90 && dec[r]! <= 90)) continue;
        add(ang2pixNumber(order, ((ra[r]! % 360) + 360) % 360, dec[r]!), 1);
      }
    }
  }
  return coverageFrom(order, counts);
}

/** Rows of positions read at once. */
const READ_ROWS = 65536;

/** The counted pixels in ascending order, with their counts. */
function coverageFrom(order: number, counts: Map<number, number>): Coverage {
  const pixels = [...counts.keys()].sort((a, b) => a - b);
  return { order, pixels, counts: pixels.map((p) => counts.get(p)!) };
}

/** The finest order at which the file lies in one pixel (-1: none, a run across order-0 pixels). */
function manifestOrder(f: FileEntry): number {
  const [k0, k1] = pixelKeyRange(fileOrder(f), f.pixel, filePixels(f));
  for (let k = fileOrder(f); k >= 0; k--) if (k0 >> orderShift(k) === k1 >> orderShift(k)) return k;
  return -1;
}

/** What to ask for instead: the finest order the manifest answers, if any. */
function coarser(files: FileEntry[]): string {
  const finest = Math.min(...files.map(manifestOrder));
  return finest >= 0
    ? `ask for order ${finest} or coarser`
    : "no order is counted from the manifest alone (a file covers neighbouring order-0 pixels)";
}

export function registerCoverageRoutes(app: FastifyInstance, context: ServerContext): void {
  const cache = new WeakMap<Dataset, Map<number, Promise<Coverage>>>();
  app.get<{ Params: { name: string }; Querystring: { order?: number; config?: string } }>(
    "/api/v1/datasets/:name/coverage",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "HEALPix pixels (NESTED) holding rows, with row counts",
        tags: ["datasets"],
        params: NAME_PARAMS,
        querystring: {
          type: "object",
          properties: {
            order: { type: "integer", minimum: 0, maximum: MAX_ORDER, default: 4 },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req) => {
      const order = req.query.order ?? 4;
      const { dataset } = await datasetNamed(context, req, req.params.name, req.query.config);
      let byOrder = cache.get(dataset);
      if (!byOrder) {
        byOrder = new Map();
        cache.set(dataset, byOrder);
      }
      let pending = byOrder.get(order);
      if (!pending) {
        pending = coverageOf(dataset, order);
        byOrder.set(order, pending);
        pending.catch(() => byOrder!.delete(order));
      }
      const deadline = Date.now() + context.limits.queryTimeoutMs;
      return withDeadline(deadline, context.limits.queryTimeoutMs, pending);
    },
  );
}
