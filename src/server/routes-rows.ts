// The rows and cone routes (docs/service.md, "Dataset routes"): the rows a query selects, from
// offset to offset+limit, as JSON, CSV or an Arrow IPC stream, streamed batch by batch; the
// rows of a cone nearest its centre first, with their separation.

import type { FastifyInstance, FastifyReply } from "fastify";
import type { ServerContext } from "./app.ts";
import {
  type AnswerColumn,
  CONTENT_TYPES,
  type RowBatch,
  type RowsFormat,
  rowsBody,
  rowsBytes,
} from "./encode.ts";
import { badParameter, blame } from "./errors.ts";
import { COLUMNS_PARAM, CONFIG_PARAM, NAME_PARAMS } from "./params.ts";
import {
  BATCH_BYTES,
  checkAnswerSize,
  queryRows,
  rowBytes,
  rowQuery,
  untilDeadline,
  withDeadline,
} from "./query.ts";
import { datasetNamed } from "./routes-datasets.ts";

/** Largest offset accepted (rows). */
const MAX_OFFSET = 1e15;

interface RowsQuerystring {
  columns?: string;
  filter?: string;
  cone?: string;
  box?: string;
  offset?: number;
  limit?: number;
  format?: RowsFormat;
  config?: string;
}

interface ConeQuerystring {
  ra: number;
  dec: number;
  radius: number;
  limit?: number;
  columns?: string;
  format?: "json" | "csv";
  config?: string;
}

/** Sends the rows: the first batch is read before the status goes out (errors stay 4xx/504). */
async function sendRows(
  reply: FastifyReply,
  format: RowsFormat,
  columns: AnswerColumn[],
  head: { offset: number; limit: number; total: number | null },
  batches: AsyncGenerator<RowBatch>,
  deadline: number,
  timeoutMs: number,
  blameFilter = false,
): Promise<FastifyReply> {
  const guarded = untilDeadline(batches, deadline, timeoutMs);
  // A filter is checked against the column types as it is evaluated, on the first block read:
  // its errors then are the filter's.
  const next = () =>
    withDeadline(
      deadline,
      timeoutMs,
      blameFilter ? blame("filter", () => guarded.next()) : guarded.next(),
    );
  const read: RowBatch[] = [];
  let last = await next();
  if (!last.done) read.push(last.value);
  reply.type(CONTENT_TYPES[format]);
  if (format === "arrow") return reply.send(rowsBody(format, columns, head, read, guarded));
  // Text answers of at most one batch's bytes (a page, a cone; a page across a file border
  // comes in two batches) are read whole and go out as one buffer, not as a stream of pieces.
  const wholeRows = Math.floor(BATCH_BYTES / Math.max(1, rowBytes(columns)));
  let rows = read[0]?.length ?? 0;
  while (!last.done && rows <= wholeRows) {
    last = await next();
    if (!last.done) {
      read.push(last.value);
      rows += last.value.length;
    }
  }
  if (last.done) return reply.send(rowsBytes(format, columns, head, read));
  return reply.send(rowsBody(format, columns, head, read, guarded));
}

export function registerRowRoutes(app: FastifyInstance, context: ServerContext): void {
  const { limits } = context;
  app.get<{ Params: { name: string }; Querystring: RowsQuerystring }>(
    "/api/v1/datasets/:name/rows",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "Rows of a dataset: columns, filter, cone or box, paging; JSON, CSV or Arrow",
        tags: ["datasets"],
        params: NAME_PARAMS,
        querystring: {
          type: "object",
          properties: {
            columns: COLUMNS_PARAM,
            filter: {
              type: "string",
              maxLength: 4096,
              description:
                'A filter over scalar columns in the filter language ("mag < 22 and z > 0.5", "object_id in [1, 2]"); parsed, never evaluated as code.',
            },
            cone: {
              type: "string",
              maxLength: 200,
              description: "ra,dec,radiusArcsec (degrees, degrees, arcsec).",
            },
            box: {
              type: "string",
              maxLength: 200,
              description: "raMin,raMax,decMin,decMax (degrees; raMin > raMax crosses ra 0).",
            },
            offset: { type: "integer", minimum: 0, maximum: MAX_OFFSET, default: 0 },
            limit: {
              type: "integer",
              minimum: 0,
              maximum: limits.streamRows,
              default: 100,
              description: `Rows to return: at most ${limits.jsonRows} for JSON, ${limits.streamRows} for CSV and Arrow.`,
            },
            format: { type: "string", enum: ["json", "csv", "arrow"], default: "json" },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const deadline = Date.now() + limits.queryTimeoutMs;
      const q = req.query;
      const format = q.format ?? "json";
      const offset = q.offset ?? 0;
      const limit = q.limit ?? 100;
      if (format === "json" && limit > limits.jsonRows)
        throw badParameter(
          "limit",
          `limit ${limit} is more than ${limits.jsonRows} rows for JSON: page with offset, or ask for csv or arrow`,
        );
      const { dataset } = await datasetNamed(context, req, req.params.name, q.config);
      const query = rowQuery(dataset, q);
      checkAnswerSize(query.columns, limit, format, limits.responseBytes);
      const { total, batches } = await queryRows(query, offset, limit);
      return sendRows(
        reply,
        format,
        query.columns,
        { offset, limit, total },
        batches,
        deadline,
        limits.queryTimeoutMs,
        Boolean(q.filter),
      );
    },
  );

  app.get<{ Params: { name: string }; Querystring: ConeQuerystring }>(
    "/api/v1/datasets/:name/cone",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "The rows of a cone, nearest its centre first, with separation_arcsec",
        tags: ["datasets"],
        params: NAME_PARAMS,
        querystring: {
          type: "object",
          required: ["ra", "dec", "radius"],
          properties: {
            ra: { type: "number", minimum: 0, maximum: 360, description: "Centre (deg)." },
            dec: { type: "number", minimum: -90, maximum: 90, description: "Centre (deg)." },
            radius: {
              type: "number",
              exclusiveMinimum: 0,
              maximum: 648000,
              description: "Radius (arcsec).",
            },
            limit: { type: "integer", minimum: 0, maximum: limits.jsonRows, default: 100 },
            columns: COLUMNS_PARAM,
            format: { type: "string", enum: ["json", "csv"], default: "json" },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const deadline = Date.now() + limits.queryTimeoutMs;
      const q = req.query;
      const limit = q.limit ?? 100;
      const { dataset } = await datasetNamed(context, req, req.params.name, q.config);
      const { view, columns } = rowQuery(dataset, { columns: q.columns });
      checkAnswerSize(columns, limit, "json", limits.responseBytes);
      const names = columns.map((c) => c.name);
      const near = await withDeadline(
        deadline,
        limits.queryTimeoutMs,
        blame("radius", () => view.nearest(q.ra, q.dec, q.radius, { limit, columns: names })),
      );
      const all: AnswerColumn[] = [
        ...columns.filter((c) => c.name !== "separation_arcsec"),
        { name: "separation_arcsec", dtype: "float64", shape: [], unit: "arcsec" },
      ];
      const batch: RowBatch = {
        length: near.length,
        columns: { ...near.columns, separation_arcsec: near.distArcsec },
      };
      async function* one(): AsyncGenerator<RowBatch> {
        yield batch;
      }
      return sendRows(
        reply,
        q.format ?? "json",
        all,
        { offset: 0, limit, total: near.matched },
        one(),
        deadline,
        limits.queryTimeoutMs,
      );
    },
  );
}
