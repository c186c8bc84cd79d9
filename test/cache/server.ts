// A real HTTP server on 127.0.0.1 (port 0) for the cache tests: serves files with ETag and
// Last-Modified, honours Range / If-Range / If-None-Match / If-Modified-Since, and fails on
// demand (error statuses, resets mid-body, stalls, slow headers, wrong Content-Length,
// content that changes between requests).
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "status"; status: number }
  /** Send `afterBytes` of the body, then destroy the connection. */
  | { kind: "reset"; afterBytes: number }
  /** Send `afterBytes` of the body, then hang until the client goes away. */
  | { kind: "stall"; afterBytes: number }
  /** Wait before sending headers. */
  | { kind: "slow"; delayMs: number }
  /** Announce the full length, send `missing` bytes less, then close. */
  | { kind: "short"; missing: number }
  /** Announce `extra` bytes less than the body, then send the whole body in one write. */
  | { kind: "long"; extra: number };

export interface FileSpec {
  /** Fixed content, or content for the n-th request (0-based) of this path. */
  content: Buffer | ((n: number) => Buffer);
  etag?: boolean;
  lastModified?: boolean;
  ranges?: boolean;
  /** Add `Cache-Control`-free weak ETag instead of a strong one. */
  weakEtag?: boolean;
}

export interface LoggedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

interface Served extends Required<Omit<FileSpec, "content">> {
  content: FileSpec["content"];
  count: number;
  faults: Fault[];
  modified: number;
}

export function etagOf(buf: Buffer): string {
  return `"${createHash("sha256").update(buf).digest("hex").slice(0, 16)}"`;
}

export class TestServer {
  readonly requests: LoggedRequest[] = [];
  private readonly files = new Map<string, Served>();
  private readonly redirects = new Map<string, { to: string; status: number }>();
  private readonly server: http.Server;
  private base = "";

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(): Promise<TestServer> {
    const s = new TestServer();
    await new Promise<void>((resolve) => s.server.listen(0, "127.0.0.1", resolve));
    const { port } = s.server.address() as AddressInfo;
    s.base = `http://127.0.0.1:${port}`;
    return s;
  }

  url(p: string): string {
    return `${this.base}${p}`;
  }

  /** Serves `content` at `p`. Last-Modified is a fixed past time that moves with each set(). */
  set(p: string, spec: FileSpec | Buffer): string {
    const s = Buffer.isBuffer(spec) ? { content: spec } : spec;
    const prev = this.files.get(p);
    this.files.set(p, {
      content: s.content,
      etag: s.etag ?? true,
      lastModified: s.lastModified ?? true,
      ranges: s.ranges ?? true,
      weakEtag: s.weakEtag ?? false,
      count: 0,
      faults: prev?.faults ?? [],
      modified: (prev?.modified ?? Date.UTC(2024, 0, 1)) + 3600_000,
    });
    return this.url(p);
  }

  /** Answers `from` with a redirect to `to` (a path on this server or a full URL). */
  redirect(from: string, to: string, status = 302): string {
    this.redirects.set(from, { to, status });
    return this.url(from);
  }

  /** Queues faults for the next requests of `p` (one per request). */
  fail(p: string, ...faults: Fault[]): void {
    const f = this.files.get(p);
    if (!f) throw new Error(`no file at ${p}`);
    f.faults.push(...faults);
  }

  requestsFor(p: string): LoggedRequest[] {
    return this.requests.filter((r) => r.path === p);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const p = new URL(req.url ?? "/", this.base).pathname;
    const f = this.files.get(p);
    const log = (status: number) => this.requests.push({ path: p, headers: req.headers, status });
    const r = this.redirects.get(p);
    if (r) {
      log(r.status);
      res.writeHead(r.status, { location: r.to }).end();
      return;
    }
    if (!f) {
      log(404);
      res.writeHead(404).end("not found");
      return;
    }
    const n = f.count++;
    const body = typeof f.content === "function" ? f.content(n) : f.content;
    const fault = f.faults.shift();
    const go = () => this.respond(req, res, f, body, fault, log);
    if (fault?.kind === "slow") setTimeout(go, fault.delayMs).unref();
    else go();
  }

  private respond(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    f: Served,
    body: Buffer,
    fault: Fault | undefined,
    log: (s: number) => void,
  ): void {
    if (res.destroyed || req.socket.destroyed) return;
    if (fault?.kind === "status") {
      log(fault.status);
      res.writeHead(fault.status, { "content-type": "text/plain" }).end(`failure ${fault.status}`);
      return;
    }
    const etag = f.etag ? (f.weakEtag ? `W/${etagOf(body)}` : etagOf(body)) : null;
    // Content that changes per request gets a Last-Modified that changes too.
    const modifiedMs = f.modified + (typeof f.content === "function" ? f.count * 1000 : 0);
    const lastModified = f.lastModified ? new Date(modifiedMs).toUTCString() : null;
    const headers: Record<string, string | number> = { "content-type": "application/octet-stream" };
    if (etag) headers.etag = etag;
    if (lastModified) headers["last-modified"] = lastModified;
    if (f.ranges) headers["accept-ranges"] = "bytes";

    const inm = req.headers["if-none-match"];
    const ims = req.headers["if-modified-since"];
    const notModified =
      inm !== undefined
        ? etag !== null &&
          inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etag.replace(/^W\//, ""))
        : ims !== undefined && lastModified !== null && Date.parse(ims) >= Date.parse(lastModified);
    if (notModified) {
      log(304);
      res.writeHead(304, headers).end();
      return;
    }

    let start = 0;
    let status = 200;
    const range = req.headers.range;
    const ifRange = req.headers["if-range"];
    const rangeValid = ifRange === undefined || ifRange === etag || ifRange === lastModified;
    if (f.ranges && range && rangeValid) {
      const m = /^bytes=(\d+)-$/.exec(range);
      if (m) {
        start = Number(m[1]);
        if (start >= body.length) {
          log(416);
          res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
          return;
        }
        status = 206;
        headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
      }
    }
    const part = body.subarray(start);
    log(status);

    if (fault?.kind === "long") {
      // Raw bytes so the body really is longer than announced (node would refuse).
      const head = [
        `HTTP/1.1 ${status} OK`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        `content-length: ${part.length - fault.extra}`,
        "connection: close",
        "",
        "",
      ].join("\r\n");
      req.socket.end(Buffer.concat([Buffer.from(head), part]));
      return;
    }
    headers["content-length"] = part.length;
    res.writeHead(status, headers);
    let limit = part.length;
    if (fault?.kind === "reset" || fault?.kind === "stall")
      limit = Math.min(fault.afterBytes, limit);
    if (fault?.kind === "short") limit = Math.max(0, part.length - fault.missing);
    let sent = 0;
    const pump = () => {
      while (sent < limit) {
        const chunk = part.subarray(sent, Math.min(limit, sent + 16384));
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      if (fault?.kind === "reset" || fault?.kind === "short") {
        // Let the bytes leave before the connection goes.
        setTimeout(() => req.socket.destroy(), 20).unref();
      } else if (fault?.kind === "stall") {
        // hang: the client's timeout, abort or death ends it
      } else {
        res.end();
      }
    };
    pump();
  }
}

/** Deterministic pseudo-random bytes (xorshift), so tests can recompute expected content. */
export function bytes(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** Content whose last 32 bytes are the sha256 of the rest: a reader can prove it is whole. */
export function selfChecking(size: number, seed: number): Buffer {
  const head = bytes(size - 32, seed);
  return Buffer.concat([head, createHash("sha256").update(head).digest()]);
}

export function isWhole(buf: Buffer): boolean {
  if (buf.length < 32) return false;
  const h = createHash("sha256")
    .update(buf.subarray(0, buf.length - 32))
    .digest();
  return h.equals(buf.subarray(buf.length - 32));
}

export function sha256(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}
