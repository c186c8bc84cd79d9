// Ranged reads over HTTP(S) and S3, with bounded retries and validator checks. Plain async
// functions: the main thread calls them for whole small files (manifests), the fetch worker
// (fetch-worker.ts) for the ranges h5wasm and the direct reader ask for synchronously.
//
// Every response is checked against the validator the file was opened with (ETag, else
// Last-Modified, and the total size from Content-Range): a file that changed on the server is a
// "changed" failure, never bytes of the new version mixed with cached bytes of the old one. The
// request also carries If-Match / If-Unmodified-Since so a server that honours them answers 412.
import type * as S3 from "@aws-sdk/client-s3";

/** Where a remote file is and how to reach it. */
export interface TransportOptions {
  /** S3-compatible endpoint (default $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL, else AWS). */
  endpoint?: string;
  /** S3 region (default $AWS_REGION, else us-east-1). */
  region?: string;
  /** S3 without credentials (public buckets): requests are not signed. */
  anonymous?: boolean;
  /** Attempts after the first, for 5xx, 429, resets, short bodies and timeouts (default 3). */
  retries?: number;
  /** Per-attempt timeout in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Ranges fetched at once (default 4). */
  concurrency?: number;
  /** Extra HTTP headers (e.g. Authorization); never logged. */
  headers?: Record<string, string>;
}

/** What identifies one version of a remote file. */
export interface Validator {
  size: number;
  etag?: string;
  lastModified?: string;
}

export type FailureKind = "notfound" | "denied" | "changed" | "remote" | "usage";

/** A transport failure; crosses the worker boundary as plain data. */
export class TransportFailure extends Error {
  readonly kind: FailureKind;
  readonly status?: number;
  constructor(kind: FailureKind, message: string, status?: number) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

const DEFAULTS = { retries: 3, timeoutMs: 30_000, concurrency: 4 };

function isS3(url: string): boolean {
  return url.startsWith("s3://");
}

/** Bucket and key of an `s3://bucket/key` URL. */
export function parseS3(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new TransportFailure("usage", `not an s3://bucket/key URL: ${url}`);
  return { bucket: m[1], key: decodeURIComponent(m[2]) };
}

let sdk: Promise<typeof S3> | undefined;

/**
 * The AWS SDK's S3 module, loaded on first use: importing it takes ~150 ms, which every command
 * and script paid whether it touched S3 or not.
 */
export function s3Sdk(): Promise<typeof S3> {
  sdk ??= import("@aws-sdk/client-s3");
  return sdk;
}

const clients = new Map<string, S3.S3Client>();

/** One S3 client per endpoint, region and signing mode (standard credential chain). */
export async function s3Client(options: TransportOptions = {}): Promise<S3.S3Client> {
  const { S3Client } = await s3Sdk();
  const endpoint =
    options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const region = options.region ?? process.env.AWS_REGION ?? "us-east-1";
  const id = JSON.stringify([endpoint, region, options.anonymous === true]);
  let c = clients.get(id);
  if (!c) {
    c = new S3Client({
      region,
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      // The SDK retries on its own; AstroPile's loop bounds the attempts instead.
      maxAttempts: 1,
      // Uploads stream from disk and are checked by AstroPile (sha256 as sent, the ETag as MD5).
      // The SDK's default CRC32 trailer sends a streamed body in aws-chunked framing, which not
      // every S3-compatible store decodes (s3rver stored the framing as the object's bytes).
      requestChecksumCalculation: "WHEN_REQUIRED",
      ...(options.anonymous
        ? {
            credentials: { accessKeyId: "", secretAccessKey: "" },
            signer: { sign: async (request) => request },
          }
        : {}),
    });
    clients.set(id, c);
  }
  return c;
}

/** True when `got` is the version `expect` describes (size, then ETag, else Last-Modified). */
export function sameVersion(expect: Validator, got: Validator): boolean {
  if (got.size !== expect.size) return false;
  // Weak comparison (RFC 9110 8.8.3.2): Apache tags a file modified in the last second
  // W/"…" and the same file a moment later "…", one version with one opaque tag.
  if (expect.etag !== undefined && got.etag !== undefined)
    return expect.etag.replace(/^W\//, "") === got.etag.replace(/^W\//, "");
  if (expect.lastModified !== undefined && got.lastModified !== undefined)
    return expect.lastModified === got.lastModified;
  return true;
}

function describe(v: Validator): string {
  return v.etag
    ? `ETag ${v.etag}`
    : v.lastModified
      ? `Last-Modified ${v.lastModified}`
      : `${v.size} bytes`;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Runs `attempt` until it succeeds, fails for good, or the retries are spent. */
export async function withRetries<T>(
  options: TransportOptions,
  attempt: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const retries = options.retries ?? DEFAULTS.retries;
  let last: unknown;
  for (let i = 0; i <= retries; i++) {
    if (i > 0) await sleep(Math.min(2000, 50 * 2 ** i));
    try {
      return await attempt(AbortSignal.timeout(options.timeoutMs ?? DEFAULTS.timeoutMs));
    } catch (err) {
      last = err;
      if (err instanceof TransportFailure && err.kind !== "remote") throw err;
    }
  }
  if (last instanceof TransportFailure) throw last;
  throw new TransportFailure(
    "remote",
    `failed after ${retries + 1} attempts: ${(last as Error)?.message ?? last}`,
  );
}

function statusFailure(status: number, what: string): TransportFailure {
  if (status === 404 || status === 410)
    return new TransportFailure("notfound", `${what}: HTTP ${status}`, status);
  if (status === 401 || status === 403)
    return new TransportFailure("denied", `${what}: HTTP ${status} (access denied)`, status);
  if (status === 412)
    return new TransportFailure(
      "changed",
      `${what}: the file changed on the server (HTTP 412)`,
      status,
    );
  if (status === 416)
    return new TransportFailure(
      "changed",
      `${what}: range not satisfiable (the file shrank?)`,
      status,
    );
  if (status >= 500 || status === 429 || status === 408)
    return new TransportFailure("remote", `${what}: HTTP ${status}`, status);
  return new TransportFailure("remote", `${what}: unexpected HTTP ${status}`, status);
}

/** Parses `bytes a-b/total`. */
function contentRange(
  header: string | null | undefined,
): { start: number; end: number; total: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((header ?? "").trim());
  if (!m) return null;
  return {
    start: Number(m[1]),
    end: Number(m[2]) + 1,
    total: m[3] === "*" ? Number.NaN : Number(m[3]),
  };
}

/**
 * Bytes [start, end) of `url`, checked against `expect` (when given). Without `expect` the
 * answer carries the validator the server reported (the file's version at open).
 */
export async function fetchRange(
  url: string,
  start: number,
  end: number,
  expect: Validator | undefined,
  options: TransportOptions = {},
): Promise<{ validator: Validator; bytes: Uint8Array }> {
  const what = `bytes ${start}-${end}`;
  return withRetries(options, async (signal) => {
    const got = isS3(url)
      ? await s3Range(url, start, end, expect, options, signal)
      : await httpRange(url, start, end, expect, options, signal);
    if (expect && !sameVersion(expect, got.validator))
      throw new TransportFailure(
        "changed",
        `${what}: the file changed on the server (opened as ${describe(expect)}, now ${describe(got.validator)})`,
      );
    if (got.bytes.length !== Math.min(end, got.validator.size) - start)
      throw new TransportFailure("remote", `${what}: short body (${got.bytes.length} bytes)`);
    return got;
  });
}

async function readBody(res: Response, limit: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const out = new Uint8Array(limit);
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (n + value.length > limit) {
      await reader.cancel();
      throw new TransportFailure("remote", `body longer than the ${limit} bytes asked for`);
    }
    out.set(value, n);
    n += value.length;
  }
  return out.subarray(0, n);
}

async function httpRange(
  url: string,
  start: number,
  end: number,
  expect: Validator | undefined,
  options: TransportOptions,
  signal: AbortSignal,
): Promise<{ validator: Validator; bytes: Uint8Array }> {
  const headers: Record<string, string> = {
    ...options.headers,
    range: `bytes=${start}-${end - 1}`,
  };
  if (expect?.etag && !expect.etag.startsWith("W/")) headers["if-match"] = expect.etag;
  else if (expect?.lastModified) headers["if-unmodified-since"] = expect.lastModified;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal, redirect: "follow" });
  } catch (err) {
    throw new TransportFailure("remote", `bytes ${start}-${end}: ${(err as Error).message}`);
  }
  if (res.status !== 206 && res.status !== 200) {
    await res.body?.cancel();
    throw statusFailure(res.status, `bytes ${start}-${end}`);
  }
  const etag = res.headers.get("etag") ?? undefined;
  const lastModified = res.headers.get("last-modified") ?? undefined;
  if (res.status === 200) {
    // The server ignored Range: accept small files whole, refuse to stream a large one.
    const length = Number(res.headers.get("content-length") ?? Number.NaN);
    if (!(length <= 16 << 20)) {
      await res.body?.cancel();
      throw new TransportFailure(
        "usage",
        "the server does not support byte ranges (HTTP 200 to a Range request)",
      );
    }
    const all = await readBody(res, length);
    return {
      validator: { size: length, etag, lastModified },
      bytes: all.subarray(start, Math.min(end, length)),
    };
  }
  const range = contentRange(res.headers.get("content-range"));
  if (!range || range.start !== start || Number.isNaN(range.total)) {
    await res.body?.cancel();
    throw new TransportFailure(
      "remote",
      `bytes ${start}-${end}: bad Content-Range "${res.headers.get("content-range")}"`,
    );
  }
  try {
    const bytes = await readBody(res, range.end - range.start);
    return { validator: { size: range.total, etag, lastModified }, bytes };
  } catch (err) {
    if (err instanceof TransportFailure) throw err;
    throw new TransportFailure("remote", `bytes ${start}-${end}: ${(err as Error).message}`);
  }
}

function s3Failure(err: unknown, what: string): TransportFailure {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
  const status = e.$metadata?.httpStatusCode;
  if (
    e.name === "NoSuchKey" ||
    e.name === "NotFound" ||
    e.name === "NoSuchBucket" ||
    status === 404
  )
    return new TransportFailure("notfound", `${what}: ${e.name ?? "not found"}`, status);
  if (e.name === "AccessDenied" || e.name === "Forbidden" || status === 403 || status === 401)
    return new TransportFailure("denied", `${what}: ${e.name ?? "access denied"}`, status);
  if (e.name === "PreconditionFailed" || status === 412)
    return new TransportFailure("changed", `${what}: the file changed on the server`, status);
  if (e.name === "InvalidRange" || status === 416)
    return new TransportFailure(
      "changed",
      `${what}: range not satisfiable (the file shrank?)`,
      status,
    );
  return new TransportFailure(
    "remote",
    `${what}: ${e.name ?? ""} ${e.message ?? err}`.trim(),
    status,
  );
}

async function s3Range(
  url: string,
  start: number,
  end: number,
  expect: Validator | undefined,
  options: TransportOptions,
  signal: AbortSignal,
): Promise<{ validator: Validator; bytes: Uint8Array }> {
  const { bucket, key } = parseS3(url);
  const what = `bytes ${start}-${end}`;
  try {
    const out = await (await s3Client(options)).send(
      new (await s3Sdk()).GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${start}-${end - 1}`,
        ...(expect?.etag ? { IfMatch: expect.etag } : {}),
      }),
      { abortSignal: signal },
    );
    const range = contentRange(out.ContentRange);
    const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
    const size = range ? range.total : bytes.length;
    return {
      validator: { size, etag: out.ETag, lastModified: out.LastModified?.toUTCString() },
      bytes: range ? bytes : bytes.subarray(start, end),
    };
  } catch (err) {
    throw s3Failure(err, what);
  }
}

/** A whole (small) file: the manifest, the dataset card. At most `maxBytes`. */
export async function fetchWhole(
  url: string,
  maxBytes: number,
  options: TransportOptions = {},
): Promise<{ validator: Validator; bytes: Uint8Array }> {
  return withRetries(options, async (signal) => {
    if (isS3(url)) {
      const { bucket, key } = parseS3(url);
      try {
        const out = await (await s3Client(options)).send(
          new (await s3Sdk()).GetObjectCommand({ Bucket: bucket, Key: key }),
          {
            abortSignal: signal,
          },
        );
        if ((out.ContentLength ?? 0) > maxBytes)
          throw new TransportFailure("usage", `larger than the ${maxBytes}-byte limit`);
        const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
        if (out.ContentLength !== undefined && bytes.length !== out.ContentLength)
          throw new TransportFailure(
            "remote",
            `short body (${bytes.length} of ${out.ContentLength} bytes)`,
          );
        return {
          validator: {
            size: bytes.length,
            etag: out.ETag,
            lastModified: out.LastModified?.toUTCString(),
          },
          bytes,
        };
      } catch (err) {
        if (err instanceof TransportFailure) throw err;
        throw s3Failure(err, "whole file");
      }
    }
    let res: Response;
    try {
      res = await fetch(url, { headers: { ...options.headers }, signal, redirect: "follow" });
    } catch (err) {
      throw new TransportFailure("remote", (err as Error).message);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw statusFailure(res.status, "whole file");
    }
    const declared = Number(res.headers.get("content-length") ?? Number.NaN);
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw new TransportFailure("usage", `larger than the ${maxBytes}-byte limit`);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBody(res, Number.isNaN(declared) ? maxBytes : declared);
    } catch (err) {
      if (err instanceof TransportFailure) throw err;
      throw new TransportFailure("remote", (err as Error).message);
    }
    if (!Number.isNaN(declared) && bytes.length !== declared)
      throw new TransportFailure("remote", `short body (${bytes.length} of ${declared} bytes)`);
    return {
      validator: {
        size: bytes.length,
        etag: res.headers.get("etag") ?? undefined,
        lastModified: res.headers.get("last-modified") ?? undefined,
      },
      bytes,
    };
  });
}

/** Size and validator without the body (S3 HEAD; HTTP: a one-byte ranged GET). */
export async function fetchValidator(
  url: string,
  options: TransportOptions = {},
): Promise<Validator> {
  if (!isS3(url)) return (await fetchRange(url, 0, 1, undefined, options)).validator;
  return withRetries(options, async (signal) => {
    const { bucket, key } = parseS3(url);
    try {
      const out = await (await s3Client(options)).send(
        new (await s3Sdk()).HeadObjectCommand({ Bucket: bucket, Key: key }),
        {
          abortSignal: signal,
        },
      );
      return {
        size: out.ContentLength ?? 0,
        etag: out.ETag,
        lastModified: out.LastModified?.toUTCString(),
      };
    } catch (err) {
      throw s3Failure(err, "HEAD");
    }
  });
}

/** An object under an S3 prefix: its key below the prefix, size and version. */
export interface S3Object {
  key: string;
  bytes: number;
  etag?: string;
  lastModified?: string;
}

/**
 * Every object under `s3://bucket/prefix/`, in one paginated listing without a delimiter (fewer
 * requests than a walk level by level, and what every S3-compatible store answers alike), up to
 * `maxEntries` (then a "usage" failure).
 */
export async function listS3Objects(
  url: string,
  maxEntries: number,
  options: TransportOptions = {},
): Promise<S3Object[]> {
  const { bucket, key } = parseS3(url);
  const prefix = key === "" || key.endsWith("/") ? key : `${key}/`;
  const out: S3Object[] = [];
  let token: string | undefined;
  do {
    const page = await withRetries(options, async (signal) => {
      try {
        return await (await s3Client(options)).send(
          new (await s3Sdk()).ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw s3Failure(err, "listing");
      }
    });
    for (const o of page.Contents ?? []) {
      const rel = (o.Key ?? "").slice(prefix.length);
      if (rel === "") continue; // a "directory marker" some tools write
      out.push({
        key: rel,
        bytes: o.Size ?? 0,
        ...(o.ETag ? { etag: o.ETag } : {}),
        ...(o.LastModified ? { lastModified: o.LastModified.toUTCString() } : {}),
      });
    }
    if (out.length > maxEntries)
      throw new TransportFailure("usage", `listing has more than ${maxEntries} objects`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Runs `tasks` with at most `limit` at once; the first failure rejects (the rest still settle). */
export async function bounded<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  let failure: unknown;
  const run = async () => {
    while (next < tasks.length && failure === undefined) {
      const i = next++;
      try {
        out[i] = await tasks[i]();
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, run));
  if (failure !== undefined) throw failure;
  return out;
}

/** Several ranges of one file, fetched with bounded concurrency, all of one version. */
export async function fetchRanges(
  url: string,
  ranges: Array<[number, number]>,
  expect: Validator | undefined,
  options: TransportOptions = {},
): Promise<{ validator: Validator; parts: Uint8Array[] }> {
  let first: Validator | undefined = expect;
  const parts = await bounded(
    options.concurrency ?? DEFAULTS.concurrency,
    ranges.map(([a, b], i) => async () => {
      // Without a validator, the first answer fixes the version the others must match.
      const r = await fetchRange(url, a, b, i === 0 ? first : (first ?? undefined), options);
      first ??= r.validator;
      return r;
    }),
  );
  const validator = parts[0]?.validator ?? (expect as Validator);
  for (const p of parts)
    if (!sameVersion(validator, p.validator))
      throw new TransportFailure("changed", "the file changed on the server between two ranges");
  return { validator, parts: parts.map((p) => p.bytes) };
}
