// The sky coverage of a dataset (docs/service.md, "Dataset routes"): the HEALPix pixels at an
// order that hold rows, with their row counts. From the manifest when every file's pixel lies
// within one pixel of that order; otherwise from the rows' positions, read in batches (configs
// of at most COVERAGE_MAX_ROWS rows), kept per opened dataset.

import type { FastifyInstance } from "fastify";
import type { Dataset } from "../dataset/dataset.ts";
import { COVERAGE_MAX_ROWS } from "../dataset/summary.ts";
import { ang2pixNumber } from "../sky/index.ts";
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

/** The pixels at `order` holding rows of the dataset's config, with their counts. */
export async function coverageOf(dataset: Dataset, order: number): Promise<Coverage> {
  const files = dataset.manifest.files.filter((f) => f.config === dataset.config && f.rows > 0);
  const counts = new Map<number, number>();
  // From the manifest when each file lies in one pixel at `order` (a run of pixels may not).
  if (files.every((f) => manifestOrder(f) >= order)) {
    for (const f of files) {
      const p = Math.floor(f.pixel / 4 ** (fileOrder(f) - order));
      counts.set(p, (counts.get(p) ?? 0) + f.rows);
    }
  } else {
    if (dataset.length > COVERAGE_MAX_ROWS)
      throw tooLarge(
        `the coverage at order ${order} reads the positions of ${dataset.length} rows (at most ${COVERAGE_MAX_ROWS}); ${coarser(files)}`,
        "order",
      );
    for await (const b of dataset.select(["ra", "dec"]).batches({ size: 65536 })) {
      const ra = b.columns.ra as Float64Array;
      const dec = b.columns.dec as Float64Array;
      for (let i = 0; i < b.length; i++) {
        if (!(Number.isFinite(ra[i]) && dec[i]! >= -90 && dec[i]! <= 90)) continue;
        const p = ang2pixNumber(order, ((ra[i]! % 360) + 360) % 360, dec[i]!);
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
    }
  }
  const pixels = [...counts.keys()].sort((a, b) => a - b);
  return { order, pixels, counts: pixels.map((p) => counts.get(p)!) };
}

/** The finest order at which the file lies in one pixel (-1: none, a run across order-0 pixels). */
function manifestOrder(f: FileEntry): number {
  const o = fileOrder(f);
  const last = f.pixel + filePixels(f) - 1;
  for (let k = o; k >= 0; k--) {
    const up = 4 ** (o - k);
    if (Math.floor(f.pixel / up) === Math.floor(last / up)) return k;
  }
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
