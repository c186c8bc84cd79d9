// A small HTTP(S) GET client on node:http: redirects, an inactivity timeout, abort signals,
// and a body reader that streams to a file while hashing, and that notices a body shorter or
// longer than the server announced. node:http rather than fetch because it exposes what a
// resumable download needs (raw headers, early close of the socket, parser errors after the
// body) without buffering.
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DownloadError } from "./errors.ts";
import type { StreamHash } from "./hasher.ts";

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 8;

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  req: http.ClientRequest;
  /** URL that answered, after redirects. */
  finalUrl: string;
  /** Set when the socket reported a protocol error (e.g. bytes after the announced body). */
  protocolError: () => Error | null;
}

export interface RequestContext {
  /** The cache key URL, used in error messages. */
  url: string;
  /** The URL requested (mirror or `url`). */
  source: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = "TimeoutError";
  }
}

function abortReason(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : new DOMException("The download was aborted", "AbortError");
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return (
    (signal?.aborted === true && err === signal.reason) ||
    (err instanceof Error && err.name === "AbortError")
  );
}

function networkError(ctx: RequestContext, err: unknown, received?: number, expected?: number) {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e instanceof TimeoutError) {
    return new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "timeout",
      detail: `${e.message} (timeoutMs)${received !== undefined ? ` after ${received} bytes` : ""}`,
      bytesReceived: received,
      bytesExpected: expected,
      cause: e,
    });
  }
  const code = e?.code ? ` (${e.code})` : "";
  return new DownloadError({
    url: ctx.url,
    source: ctx.source,
    reason: "network",
    detail: `${e?.message ?? String(err)}${code}`,
    bytesReceived: received,
    bytesExpected: expected,
    cause: err,
  });
}

/** GET with redirects. Resolves once response headers arrive; the caller consumes `body`. */
export async function httpGet(
  source: string,
  headers: Record<string, string>,
  ctx: RequestContext,
): Promise<HttpResponse> {
  let current = new URL(source);
  let hdrs = { ...headers };
  for (let hop = 0; ; hop++) {
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    if (current.protocol !== "http:" && current.protocol !== "https:") {
      throw new DownloadError({
        url: ctx.url,
        source: ctx.source,
        reason: "protocol",
        detail: `unsupported protocol ${current.protocol} (only http and https)`,
      });
    }
    const res = await requestOnce(current, hdrs, ctx);
    const loc = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(res.status) && loc) {
      res.body.resume();
      res.req.destroy();
      if (hop >= MAX_REDIRECTS) {
        throw new DownloadError({
          url: ctx.url,
          source: ctx.source,
          reason: "protocol",
          detail: `more than ${MAX_REDIRECTS} redirects`,
        });
      }
      const next = new URL(loc, current);
      // Credentials go only to the origin they were given for (as curl and fetch do).
      if (next.origin !== current.origin) {
        hdrs = Object.fromEntries(
          Object.entries(hdrs).filter(([k]) => !/^(authorization|cookie)$/i.test(k)),
        );
      }
      current = next;
      continue;
    }
    return res;
  }
}

function requestOnce(
  url: URL,
  headers: Record<string, string>,
  ctx: RequestContext,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === "https:" ? https : http;
    let protoErr: Error | null = null;
    let settled = false;
    const req = lib.request(url, {
      method: "GET",
      headers: { "user-agent": "astropile-cache", ...headers },
      // One connection per download: no pooled socket can carry stray bytes between
      // responses, and bytes past Content-Length surface as an error on this request.
      agent: false,
    });
    const onAbort = () => req.destroy(abortReason(ctx.signal!));
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => ctx.signal?.removeEventListener("abort", onAbort));
    req.setTimeout(ctx.timeoutMs, () => req.destroy(new TimeoutError(ctx.timeoutMs)));
    req.on("error", (err) => {
      if (!settled) {
        settled = true;
        reject(isAbort(err, ctx.signal) ? err : networkError(ctx, err));
        return;
      }
      // After headers: a parser error means the server sent more than it announced;
      // other errors reach the body stream too and are handled there.
      protoErr ??= err;
      const body = res ?? null;
      if (body && !body.destroyed) body.destroy(err);
    });
    let res: http.IncomingMessage | undefined;
    req.on("response", (r) => {
      res = r;
      settled = true;
      resolve({
        status: r.statusCode ?? 0,
        statusText: r.statusMessage ?? "",
        headers: r.headers,
        body: r,
        req,
        finalUrl: url.href,
        protocolError: () => protoErr,
      });
    });
    req.end();
  });
}

/** Parses `Content-Range: bytes a-b/total` (total may be `*`). */
export function parseContentRange(
  v: string | undefined,
): { start: number; end: number; total: number | null } | null {
  const m = v ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === "*" ? null : Number(m[3]);
  if (end < start || (total !== null && end >= total)) return null;
  return { start, end, total };
}

export function parseContentLength(v: string | undefined): number | null {
  if (v === undefined || !/^\d+$/.test(v.trim())) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

export interface BodyTarget {
  path: string;
  /** Bytes already in the file (resume); the body is written from here. */
  offset: number;
  /** Running hash, already fed with the first `offset` bytes. */
  hash: StreamHash;
  /** Called with the bytes received in this response so far. */
  onBytes?: (received: number) => void;
}

/**
 * Streams a response body into `target.path` at `target.offset`, hashing as it goes.
 * Memory stays bounded (backpressure through pipeline). Throws DownloadError on a short or
 * long body, or the file system error (ENOSPC...) tagged with `fsError = true`.
 */
export async function receiveBody(
  res: HttpResponse,
  target: BodyTarget,
  expectedBody: number | null,
  ctx: RequestContext,
): Promise<number> {
  let received = 0;
  const counter = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      if (expectedBody !== null && received > expectedBody) {
        cb(tooLong(ctx, received, expectedBody));
        return;
      }
      target.onBytes?.(received);
      let wait: void | Promise<void>;
      try {
        wait = target.hash.update(chunk);
      } catch (err) {
        cb(err as Error);
        return;
      }
      if (wait) wait.then(() => cb(null, chunk), cb);
      else cb(null, chunk);
    },
  });
  const out = fs.createWriteStream(target.path, {
    flags: target.offset > 0 ? "r+" : "w",
    start: target.offset,
    highWaterMark: 1 << 20,
  });
  let fsError: NodeJS.ErrnoException | null = null;
  out.on("error", (e) => {
    fsError = e;
  });
  try {
    await pipeline(res.body, counter, out);
  } catch (err) {
    if (fsError) throw Object.assign(fsError as Error, { fsError: true });
    if (isAbort(err, ctx.signal)) throw err;
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    if (err instanceof DownloadError) throw err;
    const protoErr = res.protocolError();
    if (protoErr && (protoErr as NodeJS.ErrnoException).code?.startsWith("HPE_")) {
      throw tooLong(ctx, received, expectedBody, protoErr);
    }
    if (err instanceof TimeoutError || protoErr instanceof TimeoutError) {
      throw networkError(
        ctx,
        err instanceof TimeoutError ? err : protoErr,
        received,
        expectedBody ?? undefined,
      );
    }
    throw new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "truncated",
      detail: `connection closed after ${received} of ${expectedBody ?? "?"} bytes (${(err as Error).message})`,
      bytesReceived: received,
      bytesExpected: expectedBody ?? undefined,
      cause: err,
    });
  }
  // A parser error for bytes beyond Content-Length can arrive just after the body ends;
  // the request closes right after the response with agent:false, so wait for that.
  if (!res.req.closed) {
    await Promise.race([
      once(res.req, "close").catch(() => undefined),
      new Promise((r) => setTimeout(r, 1000).unref()),
    ]);
  }
  const protoErr = res.protocolError();
  if (protoErr && (protoErr as NodeJS.ErrnoException).code?.startsWith("HPE_")) {
    throw tooLong(ctx, received, expectedBody, protoErr);
  }
  if (expectedBody !== null && received < expectedBody) {
    throw new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "truncated",
      detail: `body ended after ${received} of ${expectedBody} bytes announced`,
      bytesReceived: received,
      bytesExpected: expectedBody,
    });
  }
  return received;
}

function tooLong(ctx: RequestContext, received: number, expected: number | null, cause?: unknown) {
  return new DownloadError({
    url: ctx.url,
    source: ctx.source,
    reason: "too-long",
    detail: `server sent more bytes than the ${expected ?? "?"} it announced in Content-Length`,
    bytesReceived: received,
    bytesExpected: expected ?? undefined,
    cause,
  });
}
