// The job routes of the data service (docs/service.md, "Jobs"): submit, poll, cancel, list and
// download results. A thin layer over JobQueue: the routes parse, call it, and format; every
// error is a JSON body `{"error": {"code", "message", "parameter"?}}` with a 4xx/5xx status.
// Each route declares its scope (`config.scope`); the app's auth hook enforces it.
import { once } from "node:events";
import { createReadStream } from "node:fs";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isAstroPileError, NotFoundError } from "../core/errors.ts";
import { isJobId, type JobQueue, JobQueueUnavailableError } from "./jobs.ts";
import { JobRequestError } from "./jobs-request.ts";

/** Options of {@link jobRoutes}. */
export interface JobRoutesOptions {
  /** The queue jobs go to; null when the server has no Redis (`--redis`): the routes answer 503. */
  queue: JobQueue | null;
  /** Largest job body accepted (bytes, default 64 KiB): more is a 413. */
  bodyLimit?: number;
}

/** An error body of the service. */
interface ErrorBody {
  error: { code: string; message: string; parameter?: string };
}

/** The HTTP status of an error by its code (docs/service.md, "Conventions"). */
export function jobErrorStatus(err: unknown): number {
  if (err instanceof JobRequestError) return 400;
  if (!isAstroPileError(err)) return 500;
  switch (err.code) {
    case "ASTROPILE_BAD_PARAMETER":
    case "ASTROPILE_USAGE":
      return 400;
    case "ASTROPILE_UNAUTHORIZED":
      return 401;
    case "ASTROPILE_FORBIDDEN":
      return 403;
    case "ASTROPILE_NOT_FOUND":
      return 404;
    case "ASTROPILE_JOB_NOT_DONE":
      return 409;
    case "ASTROPILE_TOO_LARGE":
      return 413;
    case "ASTROPILE_QUEUE_FULL":
    case "ASTROPILE_RATE_LIMITED":
      return 429;
    case "ASTROPILE_UNAVAILABLE":
      return 503;
    case "ASTROPILE_TIMEOUT":
      return 504;
    default:
      return 500;
  }
}

function errorBody(err: unknown): ErrorBody {
  if (isAstroPileError(err)) {
    const parameter = (err as { parameter?: unknown }).parameter;
    return {
      error: {
        code: err.code,
        message: err.message,
        ...(typeof parameter === "string" && { parameter }),
      },
    };
  }
  // Not one of ours: a bug. Its text may hold paths; the log has it, the client a summary.
  return { error: { code: "ASTROPILE_INTERNAL", message: "internal error (see the server log)" } };
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const status = jobErrorStatus(err);
  if (status === 429) reply.header("retry-after", "30");
  if (status >= 500 && status !== 503) reply.log.error({ err }, "job route failed");
  return reply.code(status).type("application/json").send(errorBody(err));
}

/** Errors Fastify raises before a handler runs (bad JSON, body too large, wrong media type). */
function fastifyErrorBody(err: FastifyError): { status: number; body: ErrorBody } {
  const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
  if (status === 413)
    return {
      status,
      body: { error: { code: "ASTROPILE_TOO_LARGE", message: err.message, parameter: "body" } },
    };
  if (status < 500)
    return {
      status,
      body: {
        error: { code: "ASTROPILE_BAD_PARAMETER", message: err.message, parameter: "body" },
      },
    };
  return {
    status,
    body: { error: { code: "ASTROPILE_INTERNAL", message: "internal error (see the server log)" } },
  };
}

const MEDIA_TYPES: Record<string, string> = {
  json: "application/json",
  csv: "text/csv; charset=utf-8",
  ecsv: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
  fits: "application/fits",
  hdf5: "application/x-hdf5",
};

function mediaType(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return MEDIA_TYPES[ext] ?? "application/octet-stream";
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` of a file of `size` bytes; null: not one satisfiable range. */
function parseRange(header: string, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return null;
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size)
    return null;
  return { start, end };
}

/** A safe file name for Content-Disposition. */
function attachmentName(name: string): string {
  return `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, "_")}"`;
}

/**
 * Registers the job routes on a Fastify app (as a plugin: `app.register(jobRoutes, { queue })`):
 *
 * - `POST /api/v1/jobs` (scope write): a job body (see {@link JobRequest}) → 202 `{id, state: "queued", ...}`;
 * - `GET /api/v1/jobs` (scope admin): the jobs of the queue, `{jobs: [...]}`;
 * - `GET /api/v1/jobs/:id` (scope read): its {@link JobStatus};
 * - `DELETE /api/v1/jobs/:id` (scope write): cancels it, answers its status;
 * - `GET /api/v1/jobs/:id/result` (scope read): the result, the file itself when it is one
 *   file, else a tar of its files (streamed);
 * - `GET /api/v1/jobs/:id/result/<file>` (scope read): one file of the result (Range supported).
 *
 * Without a queue every route answers 503 (`ASTROPILE_UNAVAILABLE`).
 */
export async function jobRoutes(app: FastifyInstance, opts: JobRoutesOptions): Promise<void> {
  const queue = opts.queue;
  const bodyLimit = opts.bodyLimit ?? 64 * 1024;
  const need = (reply: FastifyReply): JobQueue | null => {
    if (queue) return queue;
    sendError(
      reply,
      new JobQueueUnavailableError("jobs need Redis: start the server with --redis URL"),
    );
    return null;
  };

  // Encapsulated in this plugin: errors before a handler (bad JSON...) in the service's format.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isAstroPileError(err)) return sendError(reply, err);
    const { status, body } = fastifyErrorBody(err);
    if (status >= 500) request.log.error({ err }, "job route failed");
    return reply.code(status).type("application/json").send(body);
  });

  app.post("/api/v1/jobs", { config: { scope: "write" }, bodyLimit }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    try {
      const status = await q.submit(request.body);
      return reply.code(202).header("location", `/api/v1/jobs/${status.id}`).send(status);
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/api/v1/jobs", { config: { scope: "admin" } }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    const limitText = (request.query as Record<string, unknown>)?.limit;
    let limit: number | undefined;
    if (limitText !== undefined) {
      limit = Number(limitText);
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= 1000))
        return sendError(
          reply,
          new JobRequestError("limit must be an integer in [1, 1000]", "limit"),
        );
    }
    try {
      return reply.send({ jobs: await q.list({ limit }) });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  const jobId = (request: FastifyRequest): string => (request.params as { id: string }).id;

  app.get("/api/v1/jobs/:id", { config: { scope: "read" } }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    try {
      return reply.header("cache-control", "no-store").send(await q.status(jobId(request)));
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.delete("/api/v1/jobs/:id", { config: { scope: "write" } }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    try {
      return reply.send(await q.cancel(jobId(request)));
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/api/v1/jobs/:id/result", { config: { scope: "read" } }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    const id = jobId(request);
    try {
      const { files } = await q.resultFiles(id);
      if (files.length === 1) return sendFile(q, id, files[0]!.path, request, reply);
      return sendTar(q, id, files, reply);
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/api/v1/jobs/:id/result/*", { config: { scope: "read" } }, async (request, reply) => {
    const q = need(reply);
    if (!q) return reply;
    const id = jobId(request);
    const path = (request.params as { "*": string })["*"];
    try {
      return await sendFile(q, id, path, request, reply);
    } catch (e) {
      return sendError(reply, e);
    }
  });
}

async function sendFile(
  q: JobQueue,
  id: string,
  path: string,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  if (!isJobId(id)) throw new NotFoundError(`no job ${id}`);
  const file = await q.resultFile(id, path);
  reply
    .header("accept-ranges", "bytes")
    .header("content-disposition", attachmentName(path.slice(path.lastIndexOf("/") + 1)))
    .type(mediaType(path));
  const rangeHeader = request.headers.range;
  if (rangeHeader !== undefined) {
    const range = parseRange(rangeHeader, file.bytes);
    if (!range)
      return reply
        .code(416)
        .header("content-range", `bytes */${file.bytes}`)
        .type("application/json")
        .send({
          error: {
            code: "ASTROPILE_BAD_PARAMETER",
            message: `range ${rangeHeader} is not satisfiable (file of ${file.bytes} bytes)`,
            parameter: "Range",
          },
        });
    return reply
      .code(206)
      .header("content-range", `bytes ${range.start}-${range.end}/${file.bytes}`)
      .header("content-length", String(range.end - range.start + 1))
      .send(createReadStream(file.path, { start: range.start, end: range.end }));
  }
  return reply
    .header("content-length", String(file.bytes))
    .send(file.bytes === 0 ? "" : createReadStream(file.path));
}

async function sendTar(
  q: JobQueue,
  id: string,
  files: Array<{ path: string; bytes: number }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  // Every file checked before the first byte goes out (a bad one is still a clean 404).
  const resolved = [];
  for (const f of files) resolved.push({ name: f.path, ...(await q.resultFile(id, f.path)) });
  const { pack: makePack } = await import("tar-stream");
  const pack = makePack();
  reply
    .type("application/x-tar")
    .header("content-disposition", attachmentName(`astropile-job-${id}.tar`));
  const closed = once(pack, "close").then(() => {
    throw new Error("client went away");
  });
  closed.catch(() => {});
  // Fills the archive one file at a time as the client reads it (backpressure from the socket).
  void (async () => {
    try {
      for (const f of resolved) {
        let finish!: (err?: Error | null) => void;
        const entryDone = new Promise<void>((resolve, reject) => {
          finish = (err) => (err ? reject(err) : resolve());
        });
        const sink = pack.entry({ name: f.name, size: f.bytes, mode: 0o644 }, (err) => finish(err));
        const stream = createReadStream(f.path);
        try {
          for await (const chunk of stream) {
            if (pack.destroyed) throw new Error("client went away");
            // Backpressure: wait until the socket took what was written (or the client left).
            if (!sink.write(chunk as Buffer)) await Promise.race([once(sink, "drain"), closed]);
          }
        } finally {
          stream.destroy();
        }
        sink.end(undefined);
        await entryDone;
      }
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
    }
  })();
  return reply.send(pack);
}
