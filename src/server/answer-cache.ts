// Answers of the dataset routes kept in memory, and validated by ETag. The same URL over the same
// manifest gives the same bytes (rows pages, cones, examples, pictures are all deterministic), so
// the answer is keyed by the manifest's stamp (inode, size, mtime) and the URL: a rebuilt or
// republished dataset changes the stamp and nothing stale is served. A viewer paging a table, or
// many people opening the same object, then costs a lookup instead of a read and an encoding.

import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServerContext } from "./app.ts";
import { resolveEntry } from "./resolve.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route's answers depend only on the URL and the dataset `:name` (they may be cached). */
    cacheable?: boolean;
  }
  interface FastifyRequest {
    /** Key under which this request's answer is cached once sent (a miss). */
    answerKey?: string;
  }
}

/** Sizes of the answer cache. */
export interface AnswerCacheOptions {
  /** Total bytes of answers kept. Default 64 MiB. */
  maxBytes?: number;
  /** Larger answers are sent but not kept. Default 2 MiB. */
  maxEntryBytes?: number;
}

/** One kept answer: its bytes and the headers that belong to it (content type, X-AstroPile-*). */
export interface CachedAnswer {
  body: Buffer;
  headers: Record<string, string>;
}

/** Answers least recently used first out, bounded in total bytes. */
export class AnswerCache {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  private readonly map = new Map<string, CachedAnswer>();
  private used = 0;
  /** Counters since start: lookups that found an answer, and those that did not. */
  hits = 0;
  misses = 0;

  constructor(options: AnswerCacheOptions = {}) {
    this.maxBytes = Math.max(0, options.maxBytes ?? 64 * 2 ** 20);
    this.maxEntryBytes = Math.min(this.maxBytes, Math.max(0, options.maxEntryBytes ?? 2 * 2 ** 20));
  }

  /** Bytes of the answers held. */
  get bytes(): number {
    return this.used;
  }

  /** Answers held. */
  get size(): number {
    return this.map.size;
  }

  get(key: string): CachedAnswer | undefined {
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      this.map.delete(key);
      this.map.set(key, hit);
    } else this.misses++;
    return hit;
  }

  /** Drops every answer (the counters stay). */
  clear(): void {
    this.map.clear();
    this.used = 0;
  }

  set(key: string, answer: CachedAnswer): void {
    const size = answer.body.length + key.length;
    if (size > this.maxEntryBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.used -= old.body.length + key.length;
      this.map.delete(key);
    }
    this.map.set(key, answer);
    this.used += size;
    for (const [k, v] of this.map) {
      if (this.used <= this.maxBytes) break;
      this.map.delete(k);
      this.used -= v.body.length + k.length;
    }
  }
}

/** Says whether an answer came from the cache (`hit`) or was made for the request (`miss`). */
const CACHE_HEADER = "x-astropile-cache";

/** Headers of an answer that are part of it (kept with the body; the rest is per response). */
function answerHeaders(reply: FastifyReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === CACHE_HEADER) continue;
    if (lower === "content-type" || lower === "cache-control" || lower.startsWith("x-astropile-"))
      out[lower] = String(value);
  }
  return out;
}

/** Does an If-None-Match header name this entity tag (or `*`)? */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(",")
    .map((t) => t.trim().replace(/^W\//, ""))
    .some((t) => t === "*" || t === etag);
}

/**
 * Copies a body stream (bytes or strings) through, keeping its bytes while they fit in `limit`;
 * `done` gets them only when the stream ended normally.
 */
function keeping(limit: number, done: (body: Buffer) => void): Transform {
  let parts: Buffer[] | null = [];
  let size = 0;
  return new Transform({
    writableObjectMode: true,
    transform(chunk: Buffer | string | Uint8Array, _encoding, callback) {
      const bytes =
        typeof chunk === "string"
          ? Buffer.from(chunk)
          : Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (parts) {
        size += bytes.length;
        if (size > limit) parts = null;
        else parts.push(bytes);
      }
      callback(null, bytes);
    },
    flush(callback) {
      if (parts) done(Buffer.concat(parts, size));
      callback();
    },
  });
}

/**
 * Adds ETags (If-None-Match answers 304) and, with `cache`, the answer cache to the routes that
 * declare `config: { cacheable: true }`. Registered after the auth and rate-limit hooks, so a
 * cached answer is still authorised and counted.
 */
export function registerAnswerCache(
  app: FastifyInstance,
  context: ServerContext,
  cache: AnswerCache | null,
): void {
  app.addHook("preHandler", async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== "GET" || !req.routeOptions.config?.cacheable) return;
    const name = (req.params as { name?: string }).name;
    if (!name) return;
    // The same lookup (one stat of the manifest) the route then uses to open the dataset.
    const resolved = await resolveEntry(context, req, name);
    // Remote datasets change without a local stamp (""): their answers are neither tagged nor
    // kept, nor are those of a dataset whose manifest cannot be read.
    if (!resolved?.stamp) return;
    const { entry, stamp } = resolved;
    const key = `${entry.location}\u0000${stamp}\u0000${req.url}`;
    const etag = `"${createHash("sha256").update(key).digest("base64url").slice(0, 32)}"`;
    reply.header("etag", etag);
    if (matches(req.headers["if-none-match"], etag)) {
      reply.code(304);
      return reply.send();
    }
    const hit = cache?.get(key);
    if (hit) {
      reply.headers(hit.headers);
      reply.header(CACHE_HEADER, "hit");
      return reply.send(hit.body);
    }
    if (cache) reply.header(CACHE_HEADER, "miss");
    if (cache && cache.maxEntryBytes > 0) req.answerKey = key;
  });

  app.addHook("onSend", async (req, reply, payload) => {
    if (reply.statusCode !== 200 && reply.statusCode !== 304) {
      // An error answer is not the resource: it carries no tag.
      reply.removeHeader("etag");
      return payload;
    }
    const key = req.answerKey;
    if (!cache || !key || reply.statusCode !== 200) return payload;
    req.answerKey = undefined;
    const keep = (body: Buffer) => cache.set(key, { body, headers: answerHeaders(reply) });
    if (typeof payload === "string") {
      // Measured before copying: an answer too large to keep is not copied at all.
      if (Buffer.byteLength(payload) <= cache.maxEntryBytes) keep(Buffer.from(payload));
      return payload;
    }
    if (Buffer.isBuffer(payload)) {
      keep(payload);
      return payload;
    }
    const stream = payload as NodeJS.ReadableStream | null;
    if (stream && typeof stream.pipe === "function") {
      const copy = keeping(cache.maxEntryBytes, keep);
      // An error in the source ends the copy with it (the answer is then cut, never kept).
      (stream as unknown as NodeJS.EventEmitter).on("error", (err: Error) => copy.destroy(err));
      copy.on("close", () => {
        const s = stream as unknown as { destroyed?: boolean; destroy?: () => void };
        if (!s.destroyed) s.destroy?.();
      });
      return stream.pipe(copy);
    }
    return payload;
  });
}
