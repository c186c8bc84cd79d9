// HTTP(S) GET for the download cache, on undici: redirects (at most 8; Authorization and
// Cookie are not carried to another origin), proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY
// (lowercase forms first), an inactivity timeout, abort signals, and a body reader that
// streams to a file while hashing and notices a body shorter than announced or longer than
// the range asked for. undici reads a body up to its Content-Length and drops any bytes past
// it, as fetch and curl do (cache.ts refuses a 206 whose two lengths disagree).
//
// undici is loaded on the first request, so importing the cache (or a cache hit) does not
// pay for it. Each download gets its own dispatcher, closed when its body is done: no pooled
// connection outlives a download, and the proxy variables are read when it starts.
import fs from "node:fs";
import { STATUS_CODES } from "node:http";
import type { Readable } from "node:stream";
import { finished, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Dispatcher } from "undici";
import { DownloadError } from "./errors.ts";
import type { StreamHash } from "./hasher.ts";

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 8;
const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

export interface HttpResponse {
  status: number;
  statusText: string;
  /** Lowercase names; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  body: Readable;
  /** Drops the rest of the response and its connection. */
  discard(): void;
}

export interface RequestContext {
  /** The cache key URL, used in error messages. */
  url: string;
  /** The URL requested (mirror or `url`). */
  source: string;
  timeoutMs: number;
  signal?: AbortSignal;
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

function isTimeout(err: unknown): boolean {
  return TIMEOUT_CODES.has((err as { code?: string })?.code ?? "");
}

function networkError(ctx: RequestContext, err: unknown, received?: number, expected?: number) {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  const timeout = isTimeout(e);
  const after = received !== undefined ? ` after ${received} bytes` : "";
  // undici wraps socket errors; the errno (ECONNREFUSED...) is on the cause.
  const errno = e?.code ?? (e?.cause as NodeJS.ErrnoException | undefined)?.code;
  return new DownloadError({
    url: ctx.url,
    source: ctx.source,
    reason: timeout ? "timeout" : "network",
    detail: timeout
      ? `no data for ${ctx.timeoutMs} ms (timeoutMs)${after}`
      : `${e?.message ?? String(err)}${errno ? ` (${errno})` : ""}`,
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
  if (ctx.signal?.aborted) throw abortReason(ctx.signal);
  const protocol = new URL(source).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "protocol",
      detail: `unsupported protocol ${protocol} (only http and https)`,
    });
  }
  const { EnvHttpProxyAgent, interceptors, request } = await import("undici");
  const agent = new EnvHttpProxyAgent({
    connect: { timeout: ctx.timeoutMs },
    // http:// through an HTTP proxy as a plain forwarded request, as curl does: proxies on
    // clusters often allow CONNECT to port 443 only. https:// always goes through CONNECT.
    proxyTunnel: false,
  });
  const drop = () => void agent.destroy().catch(() => undefined);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(source, {
      method: "GET",
      headers: { "user-agent": "astropile-cache", ...headers },
      dispatcher: agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS })),
      headersTimeout: ctx.timeoutMs,
      bodyTimeout: ctx.timeoutMs,
      signal: ctx.signal,
    });
  } catch (err) {
    drop();
    if (isAbort(err, ctx.signal)) throw err;
    const code = (err as { code?: string }).code;
    if (code === "UND_ERR_INVALID_ARG") {
      // A redirect loop or to another protocol, a proxy's 407, a malformed header...
      const m = (err as Error).message;
      throw new DownloadError({
        url: ctx.url,
        source: ctx.source,
        reason: "protocol",
        detail: m.startsWith("Redirect loop") ? "redirect loop" : m,
        cause: err,
      });
    }
    throw networkError(ctx, err);
  }
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  const body = res.body;
  // Whatever ends the body (its end, an error, discard) ends this download's connection.
  body.once("close", drop);
  const response: HttpResponse = {
    status: res.statusCode,
    statusText: STATUS_CODES[res.statusCode] ?? "",
    headers: flat,
    body,
    // Destroying an unfinished body makes undici emit "Request aborted" on it: expected here.
    discard: () => body.on("error", () => undefined).destroy(),
  };
  if ([301, 302, 303, 307, 308].includes(res.statusCode) && flat.location) {
    // The interceptor hands back the redirect it did not follow.
    response.discard();
    throw new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "protocol",
      detail: `more than ${MAX_REDIRECTS} redirects`,
    });
  }
  return response;
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
 * Memory stays bounded (backpressure through pipe and pipeline). Throws DownloadError on a
 * short or long body, or the file system error (ENOSPC...) tagged with `fsError = true`.
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
  // A body that fails (reset, timeout, abort) still has its bytes so far written, so a
  // resume starts after them: the failure ends the counter instead of destroying the file.
  // `finished`, not an "error" listener: under load the server can reset the connection while
  // the partial file is being set up, before this function runs; the body is then already
  // destroyed, emits nothing more, and piping it would wait forever.
  let bodyError: unknown = null;
  finished(res.body, (e) => {
    if (!e) return;
    bodyError = e;
    counter.end();
  });
  res.body.pipe(counter);
  try {
    await pipeline(counter, out);
  } catch (err) {
    res.discard();
    if (fsError) throw Object.assign(fsError as Error, { fsError: true });
    throw err; // too-long, or the hash failed
  }
  const err = bodyError as Error | null;
  if (err) {
    if (isAbort(err, ctx.signal)) throw err;
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    if (isTimeout(err)) throw networkError(ctx, err, received, expectedBody ?? undefined);
    throw new DownloadError({
      url: ctx.url,
      source: ctx.source,
      reason: "truncated",
      detail: `connection closed after ${received} of ${expectedBody ?? "?"} bytes (${err.message})`,
      bytesReceived: received,
      bytesExpected: expectedBody ?? undefined,
      cause: err,
    });
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

function tooLong(ctx: RequestContext, received: number, expected: number) {
  return new DownloadError({
    url: ctx.url,
    source: ctx.source,
    reason: "too-long",
    detail: `server sent more bytes than the ${expected} it announced`,
    bytesReceived: received,
    bytesExpected: expected,
  });
}
