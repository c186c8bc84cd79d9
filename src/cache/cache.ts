// The download cache: downloadFile semantics (cache modes, revalidation, checksums, mirrors,
// offline, stale-if-error, resume), LRU size cap, and management (list, size, clear, check).
//
// Concurrency without locks: every file becomes visible by rename(2), which is atomic on
// local filesystems and NFS. Writers never share a file: each download streams into its own
// partial/ file, renamed into entries/<key>/ when complete, then meta.json (the commit point)
// is replaced. Two processes fetching one URL both download; the last meta.json wins and the
// other copy is collected later. A reader only trusts meta.json whose data file exists with
// the recorded size, so it never sees a partial file. Removal unlinks files; on Linux (and
// NFS, via silly-rename) a process that already opened the file keeps reading it.
import { randomBytes } from "node:crypto";
import fs, { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InternalError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { defaultCacheDir, defaultMaxBytes, offlineFromEnv } from "./config.ts";
import {
  CacheConfigError,
  CacheEntryNotFoundError,
  CacheMissOfflineError,
  CacheWriteError,
  ChecksumMismatchError,
  DownloadError,
} from "./errors.ts";
import { streamHash, WORKER_HASH_MIN_BYTES } from "./hasher.ts";
import {
  DEFAULT_TIMEOUT_MS,
  type HttpResponse,
  httpGet,
  isAbort,
  parseContentLength,
  parseContentRange,
  type RequestContext,
  receiveBody,
} from "./http.ts";
import {
  activeTokens,
  CACHEDIR_TAG,
  DATA_FILE_RE,
  dataFileName,
  type EntryMeta,
  isPartialInfo,
  KEY_RE,
  keyForUrl,
  Layout,
  META_NAME,
  metaProblem,
  newOwnerToken,
  normalizeUrl,
  ownerAlive,
  type PartialInfo,
  parsePartialInfoName,
  parsePartName,
  sha256Hex,
  tmpOwner,
  validatorHash,
} from "./layout.ts";
import { RangeCache } from "./range-cache.ts";

/** A download's progress, as `onProgress` receives it. */
export interface DownloadProgress {
  /** Cache key URL. */
  url: string;
  /** URL the bytes come from. */
  source: string;
  /** Bytes of the file on disk so far, including a resumed prefix. */
  receivedBytes: number;
  /** Full size when known. */
  totalBytes: number | null;
  /** Bytes that were already on disk when this transfer started (resume). */
  resumedFrom: number;
  done: boolean;
}

export type ProgressHandler = (p: DownloadProgress) => void;

export type CacheMode = boolean | "update" | "revalidate";

export interface CacheWarning {
  code: "ASTROPILE_STALE_CACHE" | "ASTROPILE_CACHE_OVER_CAP";
  url: string;
  message: string;
  cause?: unknown;
}

export interface DownloadOptions {
  /**
   * true (default): use the cached copy; revalidate it once older than maxAgeSeconds.
   * "revalidate": always ask the server (If-None-Match / If-Modified-Since), keep on 304.
   * "update": always download again. false: download to a fresh temp file outside the cache
   * (the caller owns and deletes it).
   */
  cache?: CacheMode;
  /** Age after which `cache: true` revalidates (default: never, like astropy). */
  maxAgeSeconds?: number;
  /** Expected SHA-256 (hex); checked after download, a mismatch is an error. */
  sha256?: string;
  /** Expected size in bytes (e.g. from a manifest); a mismatch is an error. */
  size?: number;
  /** Inactivity timeout: no response or no body bytes for this long (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Called as bytes arrive (at most every 100 ms, and once when complete). The library draws
   * nothing: the CLI turns these events into a bar.
   */
  onProgress?: ProgressHandler;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /**
   * URLs to fetch from, in order (mirrors); the file is cached under `url`. As in astropy,
   * `url` itself is tried only if listed here.
   */
  sources?: string[];
  /** Cached files only; a miss is CacheMissOfflineError. Default: $ASTROPILE_OFFLINE. */
  offline?: boolean;
  /** Return a cached copy, with a warning, when the server fails (default true). */
  staleIfError?: boolean;
  /** Receives warnings; default: process.emitWarning. */
  onWarning?: (w: CacheWarning) => void;
  /** Pin the entry: never evicted by the size cap. */
  pin?: boolean;
  /** Re-hash a cached file before returning it (slow for big files). */
  verify?: boolean;
}

export interface CacheConfig {
  /** Cache directory; default $ASTROPILE_CACHE_DIR or $XDG_CACHE_HOME/astropile. */
  dir?: string;
  /** Size cap in bytes; default $ASTROPILE_CACHE_MAX_BYTES or 50 GiB. */
  maxBytes?: number;
  offline?: boolean;
  staleIfError?: boolean;
  /** A partial download owned by another host is taken over after this long untouched. */
  partialStaleSeconds?: number;
  /** Last-use time is written at most this often per entry (keeps hits cheap). */
  touchIntervalSeconds?: number;
  /** Unreferenced data files younger than this are left alone (a reader may hold the path). */
  orphanGraceSeconds?: number;
  /** Resumable partial downloads are kept this long before check --repair removes them. */
  partialMaxAgeSeconds?: number;
  /** Downloads at least this big are hashed in a worker thread (default 32 MiB). */
  workerHashMinBytes?: number;
}

/** One cached URL, as listed by cacheContents(). */
export interface CacheEntry {
  url: string;
  key: string;
  path: string;
  size: number;
  sha256: string;
  source: string;
  etag: string | null;
  lastModified: string | null;
  contentType: string | null;
  fetchedAt: Date;
  validatedAt: Date;
  lastUsed: Date;
  pinned: boolean;
}

export interface CacheSizeReport {
  dir: string;
  entries: number;
  /** Bytes of cached files (what the cap applies to). */
  bytes: number;
  pinnedBytes: number;
  /** Resumable partial downloads and temp files. */
  partialBytes: number;
  /** Old versions kept briefly for readers that hold their path. */
  orphanBytes: number;
  maxBytes: number;
}

export type CacheProblemKind =
  | "bad-meta"
  | "key-mismatch"
  | "missing-data"
  | "size-mismatch"
  | "checksum-mismatch"
  | "orphan-data"
  | "empty-entry"
  | "stray-file"
  | "stale-temp"
  | "abandoned-partial";

export interface CacheProblem {
  kind: CacheProblemKind;
  path: string;
  url?: string;
  detail: string;
  repaired: boolean;
}

export interface CheckReport {
  dir: string;
  entries: number;
  ok: number;
  problems: CacheProblem[];
  /** Partial downloads kept for resume (not problems). */
  resumable: number;
}

interface Hit {
  meta: EntryMeta;
  path: string;
  stat: fs.Stats;
}

interface Stored {
  tempPath: string;
  size: number;
  sha256: string;
  source: string;
  etag: string | null;
  lastModified: string | null;
  contentType: string | null;
  /** Ends this process's ownership of tempPath (call once it has been moved). */
  release: () => void;
}

interface Claimed {
  path: string;
  vh: string;
  info: PartialInfo;
  size: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const DISK_ERROR_CODES = new Set(["ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO"]);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

async function ignoreMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
}

function toEntry(meta: EntryMeta, p: string, stat: fs.Stats): CacheEntry {
  return {
    url: meta.url,
    key: meta.key,
    path: p,
    size: meta.size,
    sha256: meta.sha256,
    source: meta.source,
    etag: meta.etag,
    lastModified: meta.lastModified,
    contentType: meta.contentType,
    fetchedAt: new Date(meta.fetchedAt),
    validatedAt: new Date(meta.validatedAt),
    lastUsed: new Date(Math.max(stat.atimeMs, stat.mtimeMs)),
    pinned: meta.pinned,
  };
}

function defaultWarn(w: CacheWarning): void {
  process.emitWarning(w.message, { type: "AstroPileCacheWarning", code: w.code });
}

export class DownloadCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly layout: Layout;
  private readonly offline: boolean;
  private readonly staleIfError: boolean;
  private readonly partialStaleMs: number;
  private readonly touchIntervalMs: number;
  private readonly orphanGraceMs: number;
  private readonly partialMaxAgeMs: number;
  private readonly workerHashMinBytes: number;

  constructor(config: CacheConfig = {}) {
    this.dir = path.resolve(config.dir ?? defaultCacheDir());
    this.maxBytes = config.maxBytes ?? defaultMaxBytes();
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 0) {
      throw new CacheConfigError(`maxBytes must be a non-negative integer, got ${this.maxBytes}`);
    }
    this.layout = new Layout(this.dir);
    this.offline = config.offline ?? offlineFromEnv();
    this.staleIfError = config.staleIfError ?? true;
    this.partialStaleMs = (config.partialStaleSeconds ?? 60) * 1000;
    this.touchIntervalMs = (config.touchIntervalSeconds ?? 60) * 1000;
    this.orphanGraceMs = (config.orphanGraceSeconds ?? 300) * 1000;
    this.partialMaxAgeMs = (config.partialMaxAgeSeconds ?? 7 * 86400) * 1000;
    this.workerHashMinBytes = config.workerHashMinBytes ?? WORKER_HASH_MIN_BYTES;
  }

  // ---------------------------------------------------------------- lookups

  /** Reads an entry; null when absent or not sound (a reader never trusts a half entry). */
  private async readHit(key: string): Promise<Hit | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.layout.metaPath(key), "utf8");
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return null;
      throw err;
    }
    let meta: EntryMeta;
    try {
      meta = JSON.parse(text) as EntryMeta;
    } catch {
      return null;
    }
    if (metaProblem(meta, key) !== null) return null;
    const p = this.layout.dataPath(key, meta.file);
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(p);
    } catch (err) {
      if (errno(err) === "ENOENT") return null;
      throw err;
    }
    if (!stat.isFile() || stat.size !== meta.size) return null;
    return { meta, path: p, stat };
  }

  /** Records a use for LRU, at most once per touch interval (a hit stays one read + one stat). */
  private async touch(hit: Hit): Promise<void> {
    const now = Date.now();
    if (now - hit.stat.atimeMs < this.touchIntervalMs) return;
    await fsp.utimes(hit.path, now / 1000, hit.stat.mtime).catch(() => undefined);
  }

  /** The cached entry for a URL, or null. Does not touch the network. */
  async lookup(url: string): Promise<CacheEntry | null> {
    const hit = await this.readHit(keyForUrl(url));
    return hit ? toEntry(hit.meta, hit.path, hit.stat) : null;
  }

  // ---------------------------------------------------------------- download

  /** Returns a local path holding the content of `url`; see DownloadOptions. */
  async download(url: string, opts: DownloadOptions = {}): Promise<string> {
    const mode = opts.cache ?? true;
    const norm = normalizeUrl(url);
    const expectedSha = opts.sha256?.toLowerCase();
    if (expectedSha !== undefined && !HEX64.test(expectedSha)) {
      throw new CacheConfigError(`sha256 option must be 64 hex digits, got "${opts.sha256}"`);
    }
    if (opts.size !== undefined && (!Number.isSafeInteger(opts.size) || opts.size < 0)) {
      throw new CacheConfigError(`size option must be a non-negative integer, got ${opts.size}`);
    }
    const offline = opts.offline ?? this.offline;
    if (mode === false) {
      if (offline) throw new CacheMissOfflineError(norm, this.dir);
      return this.downloadUncached(norm, opts, expectedSha);
    }
    const key = keyForUrl(norm);
    // Two rounds at most: a concurrent clear/evict can remove what we just stored.
    for (let round = 0; ; round++) {
      let hit = await this.readHit(key);
      if (hit && (opts.verify || (expectedSha && hit.meta.sha256 !== expectedSha))) {
        hit = await this.verifyHit(hit, expectedSha, offline);
      }
      if (hit && opts.size !== undefined && hit.meta.size !== opts.size) hit = null;
      if (offline) {
        if (!hit) throw new CacheMissOfflineError(norm, this.dir);
        await this.touch(hit);
        if (opts.pin && !hit.meta.pinned) await this.setPinned(key, true);
        return hit.path;
      }
      if (hit && mode === true) {
        const maxAge = opts.maxAgeSeconds ?? Number.POSITIVE_INFINITY;
        if (Date.now() - hit.meta.validatedAt <= maxAge * 1000) {
          await this.touch(hit);
          if (opts.pin && !hit.meta.pinned) await this.setPinned(key, true);
          return hit.path;
        }
      }
      const conditional = hit && mode !== "update" ? hit.meta : null;
      let result: Stored | "not-modified";
      try {
        result = await this.fetchFromSources(norm, key, opts, expectedSha, conditional, "cache");
      } catch (err) {
        const useStale = opts.staleIfError ?? this.staleIfError;
        if (hit && useStale && err instanceof DownloadError && err.isServerFailure) {
          (opts.onWarning ?? defaultWarn)({
            code: "ASTROPILE_STALE_CACHE",
            url: norm,
            message: `${err.message}; using the cached copy from ${new Date(hit.meta.fetchedAt).toISOString()}`,
            cause: err,
          });
          await this.touch(hit);
          return hit.path;
        }
        throw err;
      }
      if (result === "not-modified") {
        const meta = {
          ...hit!.meta,
          validatedAt: Date.now(),
          pinned: hit!.meta.pinned || !!opts.pin,
        };
        await this.writeMeta(meta).catch((err) => {
          if (errno(err) !== "ENOENT") throw err;
        });
        await this.touch(hit!);
        if (await ignoreMissing(fsp.stat(hit!.path))) return hit!.path;
        if (round >= 1) return hit!.path;
        continue;
      }
      let meta: EntryMeta;
      try {
        meta = await this.commit(norm, key, result, opts.pin);
      } finally {
        result.release();
      }
      const p = this.layout.dataPath(key, meta.file);
      await this.enforceLimit(new Set([key]), opts.onWarning);
      if (round >= 1 || (await ignoreMissing(fsp.stat(p)))) return p;
    }
  }

  /** Re-hashes a cached file; drops the entry (returns null) if it is not what is expected. */
  private async verifyHit(hit: Hit, expectedSha: string | undefined, offline: boolean) {
    if (expectedSha && hit.meta.sha256 !== expectedSha) {
      // Cached bytes are another version than the caller wants: fetch again (or fail offline).
      if (offline) {
        throw new ChecksumMismatchError(hit.meta.url, expectedSha, hit.meta.sha256, "cached copy");
      }
      return null;
    }
    const actual = await sha256File(hit.path);
    if (actual === hit.meta.sha256) return hit;
    await this.removeEntry(hit.meta.key, hit.meta.file);
    if (offline) {
      throw new ChecksumMismatchError(
        hit.meta.url,
        hit.meta.sha256,
        actual,
        "cached copy (damaged, removed)",
      );
    }
    return null;
  }

  private async downloadUncached(url: string, opts: DownloadOptions, expectedSha?: string) {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "astropile-download-"));
    try {
      const stored = await this.fetchFromSources(url, keyForUrl(url), opts, expectedSha, null, dir);
      if (stored === "not-modified")
        throw new InternalError("download: not-modified without a conditional request");
      const target = path.join(dir, dataFileName(url).slice(13));
      try {
        await fsp.rename(stored.tempPath, target);
      } finally {
        stored.release();
      }
      return target;
    } catch (err) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Tries each source in order; returns the stored temp file or "not-modified". */
  private async fetchFromSources(
    url: string,
    key: string,
    opts: DownloadOptions,
    expectedSha: string | undefined,
    conditional: EntryMeta | null,
    where: "cache" | string,
  ): Promise<Stored | "not-modified"> {
    const sources = (opts.sources && opts.sources.length > 0 ? opts.sources : [url]).map(
      normalizeUrl,
    );
    if (where === "cache") await this.layout.ensure();
    const errors: Error[] = [];
    for (const source of sources) {
      try {
        // Validators only mean something to the server that issued them.
        const cond = conditional && conditional.source === source ? conditional : null;
        return await this.fetchOne(url, key, source, opts, expectedSha, cond, where, true);
      } catch (err) {
        if (isAbort(err, opts.signal) || err instanceof CacheWriteError) throw err;
        errors.push(err as Error);
      }
    }
    if (errors.length === 1) throw errors[0];
    throw new DownloadError({
      url,
      reason: "all-sources-failed",
      detail: `all ${errors.length} sources failed: ${errors.map((e) => e.message).join("; ")}`,
      attempts: errors,
    });
  }

  private async fetchOne(
    url: string,
    key: string,
    source: string,
    opts: DownloadOptions,
    expectedSha: string | undefined,
    conditional: EntryMeta | null,
    where: "cache" | string,
    mayResume: boolean,
  ): Promise<Stored | "not-modified"> {
    const ctx: RequestContext = {
      url,
      source,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      signal: opts.signal,
    };
    const token = newOwnerToken();
    activeTokens.add(token);
    let handedOver = false;
    let claimed: Claimed | null = null;
    try {
      if (where === "cache" && mayResume && !conditional) {
        claimed = await this.claimPartial(key, source, token);
      }
      const headers: Record<string, string> = { ...opts.headers };
      if (claimed) {
        headers.range = `bytes=${claimed.size}-`;
        headers["if-range"] = (claimed.info.etag ?? claimed.info.lastModified)!;
      }
      if (conditional?.etag) headers["if-none-match"] = conditional.etag;
      if (conditional?.lastModified) headers["if-modified-since"] = conditional.lastModified;

      let res: HttpResponse;
      try {
        res = await httpGet(source, headers, ctx);
      } catch (err) {
        if (claimed) await this.releasePartial(claimed.path, token);
        throw err;
      }
      const h = res.headers;
      const fail = (reason: DownloadError["reason"], detail: string, status?: number) => {
        res.discard();
        return new DownloadError({ url, source, reason, detail, status });
      };

      if (res.status === 304) {
        if (claimed) await this.releasePartial(claimed.path, token);
        if (conditional) {
          res.discard();
          return "not-modified";
        }
        throw fail("protocol", "server answered 304 Not Modified to an unconditional request", 304);
      }
      let offset = 0;
      let expectedBody: number | null = null;
      let total: number | null = null;
      if (res.status === 206 && claimed) {
        const cr = parseContentRange(h["content-range"]);
        const etag = h.etag ?? null;
        const consistent =
          cr !== null &&
          cr.start === claimed.size &&
          (claimed.info.totalLength === null || cr.total === claimed.info.totalLength) &&
          (claimed.info.etag === null || etag === null || etag === claimed.info.etag);
        if (!consistent) {
          // The server's range does not continue our bytes: start over without a range.
          res.discard();
          await fsp.rm(claimed.path, { force: true });
          activeTokens.delete(token);
          return this.fetchOne(url, key, source, opts, expectedSha, conditional, where, false);
        }
        offset = claimed.size;
        expectedBody = cr.end - cr.start + 1;
        total = cr.total;
        // The body is read up to Content-Length and bytes past it are dropped (as curl and
        // fetch do), so a shorter Content-Length than the range means the server sends more
        // than it frames. (A longer one overruns the range below, in receiveBody.)
        const cl = parseContentLength(h["content-length"]);
        if (cl !== null && cl < expectedBody) {
          const err = fail(
            "too-long",
            `Content-Range ${h["content-range"]} spans more bytes than the ${cl} of its Content-Length`,
          );
          await fsp.rm(claimed.path, { force: true });
          await this.dropPartialInfos(key);
          throw err;
        }
      } else if (res.status === 416 && claimed) {
        res.discard();
        await fsp.rm(claimed.path, { force: true });
        activeTokens.delete(token);
        return this.fetchOne(url, key, source, opts, expectedSha, conditional, where, false);
      } else if (res.status === 200) {
        if (claimed) {
          // If-Range failed (the file changed) or no Range support: restart cleanly.
          await fsp.rm(claimed.path, { force: true });
          claimed = null;
        }
        expectedBody = parseContentLength(h["content-length"]);
        total = expectedBody;
      } else {
        if (claimed) await this.releasePartial(claimed.path, token);
        throw fail(
          "http-status",
          `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`,
          res.status,
        );
      }
      if (opts.size !== undefined && total !== null && total !== opts.size) {
        if (claimed) await this.releasePartial(claimed.path, token);
        throw fail("size-mismatch", `server announces ${total} bytes, expected ${opts.size}`);
      }

      const etag = h.etag ?? null;
      const lastModified = h["last-modified"] ?? null;
      const contentType = h["content-type"] ?? null;
      // Where the bytes go: an existing partial (resume), a new resumable partial when the
      // server gave a validator usable in If-Range, else a plain temp file.
      let target: string;
      let resumable = false;
      if (claimed) {
        target = claimed.path;
        resumable = true;
      } else if (where !== "cache") {
        target = path.join(where, `${token}.download`);
      } else {
        const strongEtag = etag && !etag.startsWith("W/") ? etag : null;
        resumable = (strongEtag !== null || lastModified !== null) && h["accept-ranges"] !== "none";
        if (resumable) {
          const info: PartialInfo = {
            key,
            url,
            source,
            etag: strongEtag,
            lastModified,
            totalLength: total,
          };
          const vh = validatorHash(info);
          const infoPath = this.layout.partialInfoPath(key, vh);
          try {
            await this.layout.writeAtomic(infoPath, JSON.stringify(info));
          } catch (err) {
            res.discard();
            if (DISK_ERROR_CODES.has(errno(err) ?? "")) {
              throw new CacheWriteError(url, infoPath, err as NodeJS.ErrnoException);
            }
            throw err;
          }
          target = this.layout.partialPath(key, vh, token);
        } else {
          target = this.layout.tmpPath(token, "download");
        }
      }

      const discard = async () => {
        await fsp.rm(target, { force: true });
        if (where === "cache") await this.dropPartialInfos(key);
      };
      const hash = streamHash(total === null ? null : total - offset, this.workerHashMinBytes);
      try {
        if (offset > 0) await hash.prefix(target, offset);
      } catch (err) {
        hash.close();
        throw err;
      }
      const progress = this.progressFor(url, source, opts, offset, total);
      // Heartbeat: a stalled but live download keeps its partial file fresh, so processes
      // on other hosts do not take it over.
      const beat = setInterval(
        () => {
          const now = Date.now() / 1000;
          fsp.utimes(target, now, now).catch(() => undefined);
        },
        Math.max(1000, this.partialStaleMs / 4),
      );
      beat.unref();
      let received: number;
      try {
        received = await receiveBody(
          res,
          { path: target, offset, hash, onBytes: (n) => progress?.(offset + n, false) },
          expectedBody,
          ctx,
        );
      } catch (err) {
        hash.close();
        progress?.(offset, true);
        if ((err as { fsError?: boolean }).fsError || DISK_ERROR_CODES.has(errno(err) ?? "")) {
          // Disk full or unwritable: keeping a partial file would only fill it more.
          await discard();
          throw new CacheWriteError(url, target, err as NodeJS.ErrnoException);
        }
        const tooLong = err instanceof DownloadError && err.reason === "too-long";
        if (resumable && !tooLong) {
          await this.releasePartial(target, token);
        } else {
          await discard();
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
      let sha256: string;
      try {
        sha256 = await hash.digest();
      } finally {
        hash.close();
      }
      const size = offset + received;
      progress?.(size, true);
      const fail2 = async (e: Error) => {
        await discard();
        return e;
      };
      if (total !== null && size !== total) {
        throw await fail2(
          new DownloadError({
            url,
            source,
            reason: size < total ? "truncated" : "too-long",
            detail: `got ${size} bytes, the server announced ${total}`,
            bytesReceived: size,
            bytesExpected: total,
          }),
        );
      }
      if (opts.size !== undefined && size !== opts.size) {
        throw await fail2(
          new DownloadError({
            url,
            source,
            reason: size < opts.size ? "size-mismatch" : "too-long",
            detail: `got ${size} bytes, expected ${opts.size}`,
            bytesReceived: size,
            bytesExpected: opts.size,
          }),
        );
      }
      if (expectedSha && sha256 !== expectedSha) {
        throw await fail2(new ChecksumMismatchError(url, expectedSha, sha256));
      }
      // The token stays active until the caller has moved the file, so no other download
      // in this process takes the finished partial for an abandoned one.
      handedOver = true;
      const release = () => {
        activeTokens.delete(token);
      };
      return { tempPath: target, size, sha256, source, etag, lastModified, contentType, release };
    } finally {
      if (!handedOver) activeTokens.delete(token);
    }
  }

  private progressFor(
    url: string,
    source: string,
    opts: DownloadOptions,
    resumedFrom: number,
    total: number | null,
  ): ((received: number, done: boolean) => void) | null {
    const handler = opts.onProgress;
    if (!handler) return null;
    let last = 0;
    return (received, done) => {
      const now = Date.now();
      if (!done && now - last < 100) return;
      last = now;
      handler({ url, source, receivedBytes: received, totalBytes: total, resumedFrom, done });
    };
  }

  /**
   * Takes over the largest partial download of `key` from `source` whose owner is gone, by
   * renaming it to our own name (rename is atomic: of two claimants, one gets ENOENT).
   */
  private async claimPartial(key: string, source: string, token: string): Promise<Claimed | null> {
    const names = (await ignoreMissing(fsp.readdir(this.layout.partialDir))) ?? [];
    const now = Date.now();
    const found: { name: string; vh: string; size: number }[] = [];
    for (const name of names) {
      const p = parsePartName(name);
      if (!p || p.key !== key) continue;
      const st = await ignoreMissing(fsp.stat(path.join(this.layout.partialDir, name)));
      if (!st || st.size === 0) continue;
      if (ownerAlive(p.owner, st.mtimeMs, this.partialStaleMs, now)) continue;
      found.push({ name, vh: p.vh, size: st.size });
    }
    found.sort((a, b) => b.size - a.size);
    for (const f of found) {
      const infoText = await ignoreMissing(
        fsp.readFile(this.layout.partialInfoPath(key, f.vh), "utf8"),
      );
      let info: unknown = null;
      try {
        info = infoText ? JSON.parse(infoText) : null;
      } catch {
        info = null;
      }
      if (!isPartialInfo(info) || info.source !== source) continue;
      if (info.etag === null && info.lastModified === null) continue;
      const mine = this.layout.partialPath(key, f.vh, token);
      try {
        await fsp.rename(path.join(this.layout.partialDir, f.name), mine);
      } catch (err) {
        if (errno(err) === "ENOENT") continue;
        throw err;
      }
      const st = await fsp.stat(mine);
      if (info.totalLength !== null && st.size >= info.totalLength) {
        await fsp.rm(mine, { force: true });
        continue;
      }
      return { path: mine, vh: f.vh, info, size: st.size };
    }
    return null;
  }

  /** Gives a partial download up for anyone to resume (owner "free", not a live pid). */
  private async releasePartial(partPath: string, token: string): Promise<void> {
    const name = path.basename(partPath);
    const free = name.replace(`.${token}.part`, `.free~${randomBytes(4).toString("hex")}.part`);
    if (free === name) return;
    const st = await ignoreMissing(fsp.stat(partPath));
    if (!st || st.size === 0) {
      await fsp.rm(partPath, { force: true });
      return;
    }
    await fsp.rename(partPath, path.join(path.dirname(partPath), free)).catch(() => undefined);
  }

  /** Moves a complete download into the entry and publishes it by replacing meta.json. */
  private async commit(
    url: string,
    key: string,
    s: Omit<Stored, "release">,
    pin?: boolean,
    times?: { fetchedAt: number; validatedAt: number },
  ): Promise<EntryMeta> {
    const file = dataFileName(url);
    const dir = this.layout.entryDir(key);
    const target = path.join(dir, file);
    for (let attempt = 0; ; attempt++) {
      await fsp.mkdir(dir, { recursive: true });
      try {
        await fsp.rename(s.tempPath, target);
        break;
      } catch (err) {
        // The entry directory was removed between mkdir and rename by a concurrent clear.
        if (errno(err) === "ENOENT" && attempt < 5 && fs.existsSync(s.tempPath)) continue;
        await fsp.rm(s.tempPath, { force: true });
        throw err;
      }
    }
    const prev = await this.readMetaFile(key);
    const now = Date.now();
    const meta: EntryMeta = {
      format: 1,
      key,
      url,
      file,
      size: s.size,
      sha256: s.sha256,
      source: s.source,
      etag: s.etag,
      lastModified: s.lastModified,
      contentType: s.contentType,
      fetchedAt: times?.fetchedAt ?? now,
      validatedAt: times?.validatedAt ?? now,
      pinned: pin ?? prev?.pinned ?? false,
    };
    try {
      await this.writeMeta(meta);
    } catch (err) {
      await fsp.rm(target, { force: true });
      if (DISK_ERROR_CODES.has(errno(err) ?? "")) {
        throw new CacheWriteError(url, this.layout.metaPath(key), err as NodeJS.ErrnoException);
      }
      throw err;
    }
    if (prev && prev.file !== file) {
      // Mark when the old version stopped being current; it is removed after the grace time.
      const old = this.layout.dataPath(key, prev.file);
      const t = now / 1000;
      await fsp.utimes(old, t, t).catch(() => undefined);
    }
    await this.collectOrphans(key, file, now);
    await this.dropPartialInfos(key);
    return meta;
  }

  /**
   * Moves a verified file (from an import) into the cache as the entry of `info.url`,
   * keeping its recorded validators and times. The file must be inside the cache directory.
   */
  async adopt(file: string, info: Omit<EntryMeta, "format" | "key" | "file">): Promise<CacheEntry> {
    const url = normalizeUrl(info.url);
    const key = keyForUrl(url);
    const { fetchedAt, validatedAt, pinned, ...rest } = info;
    const meta = await this.commit(url, key, { ...rest, tempPath: file }, pinned, {
      fetchedAt,
      validatedAt,
    });
    const p = this.layout.dataPath(key, meta.file);
    return toEntry(meta, p, await fsp.stat(p));
  }

  private async writeMeta(meta: EntryMeta): Promise<void> {
    await this.layout.writeAtomic(this.layout.metaPath(meta.key), `${JSON.stringify(meta)}\n`);
  }

  private async readMetaFile(key: string): Promise<EntryMeta | null> {
    const text = await ignoreMissing(fsp.readFile(this.layout.metaPath(key), "utf8"));
    if (!text) return null;
    try {
      const m = JSON.parse(text) as EntryMeta;
      return metaProblem(m, key) === null ? m : null;
    } catch {
      return null;
    }
  }

  /** Removes unreferenced data files of an entry once they are older than the grace time. */
  private async collectOrphans(key: string, keep: string, now: number): Promise<number> {
    const dir = this.layout.entryDir(key);
    const names = (await ignoreMissing(fsp.readdir(dir))) ?? [];
    let freed = 0;
    for (const name of names) {
      if (name === META_NAME || name === keep || !DATA_FILE_RE.test(name)) continue;
      const p = path.join(dir, name);
      const st = await ignoreMissing(fsp.stat(p));
      if (st && now - st.mtimeMs > this.orphanGraceMs) {
        await fsp.rm(p, { force: true });
        freed += st.size;
      }
    }
    return freed;
  }

  // ---------------------------------------------------------------- removal and the cap

  /**
   * Unpublishes an entry (meta.json renamed away first, so no reader picks it up) and unlinks
   * its data. With `expectFile`, does nothing if the entry changed since it was looked at.
   */
  private async removeEntry(
    key: string,
    expectFile?: string,
    all = false,
  ): Promise<{ removed: boolean; freed: number }> {
    if (expectFile !== undefined) {
      const cur = await this.readMetaFile(key);
      if (cur && cur.file !== expectFile) return { removed: false, freed: 0 };
    }
    const token = newOwnerToken();
    const moved = this.layout.tmpPath(token, "removed-meta");
    let freed = 0;
    let meta: EntryMeta | null = null;
    try {
      await fsp.rename(this.layout.metaPath(key), moved);
      const text = await fsp.readFile(moved, "utf8");
      try {
        const m = JSON.parse(text) as EntryMeta;
        if (metaProblem(m, key) === null) meta = m;
      } catch {
        meta = null;
      }
    } catch (err) {
      if (errno(err) !== "ENOENT") throw err;
    } finally {
      await fsp.rm(moved, { force: true });
    }
    const dir = this.layout.entryDir(key);
    if (meta) {
      const st = await ignoreMissing(fsp.stat(path.join(dir, meta.file)));
      await fsp.rm(path.join(dir, meta.file), { force: true });
      freed += st?.size ?? 0;
    }
    if (all) {
      for (const name of (await ignoreMissing(fsp.readdir(dir))) ?? []) {
        const p = path.join(dir, name);
        const st = await ignoreMissing(fsp.lstat(p));
        await fsp.rm(p, { force: true, recursive: true });
        freed += st?.size ?? 0;
      }
    } else {
      freed += await this.collectOrphans(key, "", Date.now());
    }
    await fsp.rmdir(dir).catch(() => undefined);
    return { removed: meta !== null, freed };
  }

  /** Evicts least-recently-used, unpinned entries until the cache fits under maxBytes. */
  async enforceLimit(
    protect: Set<string> = new Set(),
    onWarning?: (w: CacheWarning) => void,
  ): Promise<{ evicted: string[]; bytes: number }> {
    const scan = await this.scanEntries();
    let total = scan.reduce((s, e) => s + e.size + e.orphanBytes, 0);
    const evicted: string[] = [];
    if (total <= this.maxBytes) return { evicted, bytes: total };
    const now = Date.now();
    for (const e of scan) {
      if (e.orphanBytes > 0) total -= await this.collectOrphans(e.key, e.meta?.file ?? "", now);
    }
    const candidates = scan
      .filter((e) => e.meta && !e.meta.pinned && !protect.has(e.key))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const c of candidates) {
      if (total <= this.maxBytes) break;
      const { removed } = await this.removeEntry(c.key, c.meta!.file);
      if (removed) {
        total -= c.size;
        evicted.push(c.meta!.url);
      }
    }
    if (total > this.maxBytes && protect.size > 0) {
      (onWarning ?? defaultWarn)({
        code: "ASTROPILE_CACHE_OVER_CAP",
        url: [...protect].join(","),
        message: `cache at ${this.dir} holds ${total} bytes, over its cap of ${this.maxBytes} (pinned or just-downloaded entries are not evicted)`,
      });
    }
    return { evicted, bytes: total };
  }

  private async scanEntries(): Promise<
    {
      key: string;
      meta: EntryMeta | null;
      size: number;
      lastUsed: number;
      orphanBytes: number;
      stat: fs.Stats | null;
    }[]
  > {
    const keys = (await ignoreMissing(fsp.readdir(this.layout.entriesDir))) ?? [];
    const out = [];
    for (const key of keys) {
      if (!KEY_RE.test(key)) continue;
      const dir = this.layout.entryDir(key);
      const names = (await ignoreMissing(fsp.readdir(dir))) ?? [];
      const meta = names.includes(META_NAME) ? await this.readMetaFile(key) : null;
      let size = 0;
      let lastUsed = 0;
      let orphanBytes = 0;
      let stat: fs.Stats | null = null;
      for (const name of names) {
        if (!DATA_FILE_RE.test(name)) continue;
        const st = await ignoreMissing(fsp.stat(path.join(dir, name)));
        if (!st) continue;
        if (meta && name === meta.file) {
          size = st.size;
          lastUsed = Math.max(st.atimeMs, st.mtimeMs);
          stat = st;
        } else orphanBytes += st.size;
      }
      out.push({ key, meta: stat ? meta : null, size, lastUsed, orphanBytes, stat });
    }
    return out;
  }

  // ---------------------------------------------------------------- management

  /** Every sound entry, most recently used first. */
  async contents(): Promise<CacheEntry[]> {
    const scan = await this.scanEntries();
    const list: CacheEntry[] = [];
    for (const e of scan) {
      if (e.meta && e.stat && e.stat.size === e.meta.size) {
        list.push(toEntry(e.meta, this.layout.dataPath(e.key, e.meta.file), e.stat));
      }
    }
    return list.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  }

  async size(): Promise<CacheSizeReport> {
    const scan = await this.scanEntries();
    let bytes = 0;
    let pinnedBytes = 0;
    let orphanBytes = 0;
    let entries = 0;
    for (const e of scan) {
      orphanBytes += e.orphanBytes;
      if (!e.meta) continue;
      entries++;
      bytes += e.size;
      if (e.meta.pinned) pinnedBytes += e.size;
    }
    let partialBytes = 0;
    for (const d of [this.layout.partialDir, this.layout.tmpDir]) {
      for (const name of (await ignoreMissing(fsp.readdir(d))) ?? []) {
        const st = await ignoreMissing(fsp.lstat(path.join(d, name)));
        if (st?.isFile()) partialBytes += st.size;
      }
    }
    return {
      dir: this.dir,
      entries,
      bytes,
      pinnedBytes,
      partialBytes,
      orphanBytes,
      maxBytes: this.maxBytes,
    };
  }

  /**
   * Removes one URL's entry (and its abandoned partial downloads), or everything when `url`
   * is omitted. Downloads in progress in other processes are left alone.
   */
  async clear(url?: string): Promise<{ entries: number; bytes: number }> {
    let entries = 0;
    let bytes = 0;
    const keys =
      url === undefined
        ? ((await ignoreMissing(fsp.readdir(this.layout.entriesDir))) ?? []).filter((k) =>
            KEY_RE.test(k),
          )
        : [keyForUrl(url)];
    if (url !== undefined && !(await this.readMetaFile(keys[0]!))) {
      const exists = await ignoreMissing(fsp.stat(this.layout.entryDir(keys[0]!)));
      if (!exists) throw new CacheEntryNotFoundError(normalizeUrl(url), this.dir);
    }
    for (const key of keys) {
      const hadMeta = (await this.readMetaFile(key)) !== null;
      const { freed } = await this.removeEntry(key, undefined, true);
      if (hadMeta) entries++;
      bytes += freed;
    }
    if (url === undefined) {
      // Everything: the byte ranges of remote reads too.
      const ranges = new RangeCache(this.dir, this.maxBytes);
      bytes += ranges.measure();
      ranges.clear();
    }
    const now = Date.now();
    const onlyKey = url === undefined ? null : keys[0]!;
    for (const name of (await ignoreMissing(fsp.readdir(this.layout.partialDir))) ?? []) {
      const part = parsePartName(name);
      const infoName = parsePartialInfoName(name);
      const k = part?.key ?? infoName?.key;
      if (onlyKey && k !== onlyKey) continue;
      const p = path.join(this.layout.partialDir, name);
      const st = await ignoreMissing(fsp.stat(p));
      if (!st) continue;
      if (part && ownerAlive(part.owner, st.mtimeMs, this.partialStaleMs, now)) continue;
      if (infoName) continue; // validators go with their last partial, below
      await fsp.rm(p, { force: true });
      bytes += st.size;
    }
    await this.collectPartialInfos(now, onlyKey);
    if (url === undefined) await this.collectTemps(now, true);
    return { entries, bytes };
  }

  /** After a commit: validators of `key` that no partial download uses are not needed. */
  private async dropPartialInfos(key: string): Promise<void> {
    const names = (await ignoreMissing(fsp.readdir(this.layout.partialDir))) ?? [];
    const mine = names.filter((n) => n.startsWith(`${key}.`));
    for (const name of mine) {
      const info = parsePartialInfoName(name);
      if (!info) continue;
      if (mine.some((n) => n.startsWith(`${key}.${info.vh}.`) && n.endsWith(".part"))) continue;
      await fsp.rm(path.join(this.layout.partialDir, name), { force: true });
    }
  }

  /** Removes partial-info files no partial download refers to any more. */
  private async collectPartialInfos(now: number, onlyKey: string | null): Promise<void> {
    const names = (await ignoreMissing(fsp.readdir(this.layout.partialDir))) ?? [];
    const used = new Set<string>();
    for (const name of names) {
      const p = parsePartName(name);
      if (p) used.add(`${p.key}.${p.vh}`);
    }
    for (const name of names) {
      const info = parsePartialInfoName(name);
      if (!info || used.has(`${info.key}.${info.vh}`)) continue;
      if (onlyKey && info.key !== onlyKey) continue;
      const p = path.join(this.layout.partialDir, name);
      const st = await ignoreMissing(fsp.stat(p));
      // A fresh info file may belong to a download about to create its partial.
      if (st && now - st.mtimeMs > this.orphanGraceMs) await fsp.rm(p, { force: true });
    }
  }

  private async collectTemps(now: number, remove: boolean): Promise<CacheProblem[]> {
    const out: CacheProblem[] = [];
    for (const name of (await ignoreMissing(fsp.readdir(this.layout.tmpDir))) ?? []) {
      const p = path.join(this.layout.tmpDir, name);
      const st = await ignoreMissing(fsp.lstat(p));
      if (!st) continue;
      if (ownerAlive(tmpOwner(name), st.mtimeMs, this.partialStaleMs, now)) continue;
      if (remove) await fsp.rm(p, { force: true, recursive: true });
      out.push({
        kind: "stale-temp",
        path: p,
        detail: "temp file of a process that is gone",
        repaired: remove,
      });
    }
    return out;
  }

  /** Pins (or unpins) a cached URL; pinned entries are never evicted by the size cap. */
  async setPinned(url: string, pinned: boolean): Promise<CacheEntry> {
    const key = KEY_RE.test(url) ? url : keyForUrl(url);
    const hit = await this.readHit(key);
    if (!hit) throw new CacheEntryNotFoundError(url, this.dir);
    if (hit.meta.pinned !== pinned) await this.writeMeta({ ...hit.meta, pinned });
    return toEntry({ ...hit.meta, pinned }, hit.path, hit.stat);
  }

  /**
   * Re-hashes a cached file against its recorded sha256 (and `sha256` if given). A damaged
   * entry is removed and ChecksumMismatchError thrown.
   */
  async verify(url: string, sha256?: string): Promise<CacheEntry> {
    const key = keyForUrl(url);
    const hit = await this.readHit(key);
    if (!hit) throw new CacheEntryNotFoundError(normalizeUrl(url), this.dir);
    const actual = await sha256File(hit.path);
    const expected = sha256?.toLowerCase() ?? hit.meta.sha256;
    if (actual !== hit.meta.sha256 || actual !== expected) {
      await this.removeEntry(key, hit.meta.file);
      throw new ChecksumMismatchError(hit.meta.url, expected, actual, "cached copy (removed)");
    }
    return toEntry(hit.meta, hit.path, hit.stat);
  }

  /**
   * Finds damaged entries (bad meta, missing or wrong-size data, and with `deep` wrong
   * sha256) and stray files; `repair` removes them. Live downloads are left alone.
   */
  async check(options: { repair?: boolean; deep?: boolean } = {}): Promise<CheckReport> {
    const repair = options.repair ?? false;
    const now = Date.now();
    const problems: CacheProblem[] = [];
    const add = async (p: Omit<CacheProblem, "repaired">, fix: () => Promise<unknown>) => {
      const item: CacheProblem = { ...p, repaired: false };
      problems.push(item);
      if (repair) {
        await fix();
        item.repaired = true;
      }
    };
    const rmTree = (p: string) => () => fsp.rm(p, { recursive: true, force: true });
    let entries = 0;
    let ok = 0;
    // Top level: only our own names belong here.
    // ranges/: the byte-range cache of remote reads (range-cache.ts), managed there.
    const known = new Set(["entries", "tmp", "partial", "ranges", CACHEDIR_TAG]);
    for (const name of (await ignoreMissing(fsp.readdir(this.dir))) ?? []) {
      if (known.has(name)) continue;
      const p = path.join(this.dir, name);
      await add({ kind: "stray-file", path: p, detail: "not part of the cache layout" }, rmTree(p));
    }
    for (const key of (await ignoreMissing(fsp.readdir(this.layout.entriesDir))) ?? []) {
      const dir = this.layout.entryDir(key);
      const st = await ignoreMissing(fsp.lstat(dir));
      if (!st) continue;
      if (!KEY_RE.test(key) || !st.isDirectory()) {
        await add({ kind: "stray-file", path: dir, detail: "not an entry directory" }, rmTree(dir));
        continue;
      }
      const names = (await ignoreMissing(fsp.readdir(dir))) ?? [];
      const meta = names.includes(META_NAME)
        ? await this.checkEntry(key, options.deep ?? false, add)
        : null;
      if (names.includes(META_NAME)) entries++;
      if (meta) ok++;
      for (const name of names) {
        if (name === META_NAME || (meta && name === meta.file)) continue;
        const p = path.join(dir, name);
        const fst = await ignoreMissing(fsp.lstat(p));
        if (!fst) continue;
        if (DATA_FILE_RE.test(name) && fst.isFile()) {
          // A version replaced recently may still be in a reader's hands.
          if (now - fst.mtimeMs <= this.orphanGraceMs) continue;
          const detail = meta ? "old version no longer referenced" : "data without meta.json";
          await add({ kind: "orphan-data", path: p, detail }, rmTree(p));
        } else {
          await add(
            { kind: "stray-file", path: p, detail: "unexpected file in an entry" },
            rmTree(p),
          );
        }
      }
      if (!meta && names.length === 0 && now - st.mtimeMs > this.orphanGraceMs) {
        await add({ kind: "empty-entry", path: dir, detail: "entry directory without files" }, () =>
          fsp.rmdir(dir).catch(() => undefined),
        );
      } else if (repair && !meta) {
        await fsp.rmdir(dir).catch(() => undefined); // only succeeds once nothing is left
      }
    }
    let resumable = 0;
    const partNames = (await ignoreMissing(fsp.readdir(this.layout.partialDir))) ?? [];
    const infos = new Set(partNames.filter((n) => parsePartialInfoName(n)));
    for (const name of partNames) {
      if (parsePartialInfoName(name)) continue;
      const p = path.join(this.layout.partialDir, name);
      const st = await ignoreMissing(fsp.lstat(p));
      if (!st) continue;
      const part = parsePartName(name);
      if (!part || !st.isFile()) {
        await add({ kind: "stray-file", path: p, detail: "not a partial download" }, rmTree(p));
        continue;
      }
      if (ownerAlive(part.owner, st.mtimeMs, this.partialStaleMs, now)) continue;
      const hasInfo = infos.has(`${part.key}.${part.vh}.json`);
      if (!hasInfo || now - st.mtimeMs > this.partialMaxAgeMs) {
        const detail = hasInfo
          ? "partial download older than the keep time"
          : "partial download without its validators";
        await add({ kind: "abandoned-partial", path: p, detail }, rmTree(p));
        continue;
      }
      resumable++;
    }
    if (repair) await this.collectPartialInfos(now, null);
    problems.push(...(await this.collectTemps(now, repair)));
    return { dir: this.dir, entries, ok, problems, resumable };
  }

  /** Checks one entry that has a meta.json; returns its meta when sound. */
  private async checkEntry(
    key: string,
    deep: boolean,
    add: (p: Omit<CacheProblem, "repaired">, fix: () => Promise<unknown>) => Promise<void>,
  ): Promise<EntryMeta | null> {
    const metaPath = this.layout.metaPath(key);
    const removeAll = () => this.removeEntry(key, undefined, true);
    const text = (await ignoreMissing(fsp.readFile(metaPath, "utf8"))) ?? "";
    let parsed: unknown;
    let problem: string | null;
    try {
      parsed = JSON.parse(text);
      problem = metaProblem(parsed, key);
    } catch (err) {
      problem = `meta.json is not JSON (${(err as Error).message})`;
    }
    if (problem) {
      await add({ kind: "bad-meta", path: metaPath, detail: problem }, removeAll);
      return null;
    }
    const m = parsed as EntryMeta;
    const url = m.url;
    if (keyForUrl(url) !== key) {
      const detail = "entry is filed under another URL's key";
      await add({ kind: "key-mismatch", path: metaPath, url, detail }, removeAll);
      return null;
    }
    const dataPath = this.layout.dataPath(key, m.file);
    const st = await ignoreMissing(fsp.stat(dataPath));
    if (!st) {
      await add(
        { kind: "missing-data", path: dataPath, url, detail: "data file is missing" },
        removeAll,
      );
      return null;
    }
    if (st.size !== m.size) {
      const detail = `data has ${st.size} bytes, meta.json records ${m.size}`;
      await add({ kind: "size-mismatch", path: dataPath, url, detail }, removeAll);
      return null;
    }
    if (deep) {
      const actual = await sha256File(dataPath);
      if (actual !== m.sha256) {
        const detail = `sha256 is ${actual}, meta.json records ${m.sha256}`;
        await add({ kind: "checksum-mismatch", path: dataPath, url, detail }, removeAll);
        return null;
      }
    }
    return m;
  }
}

export { sha256Hex };
