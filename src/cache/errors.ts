// Typed errors of the download cache, part of the library's one hierarchy (AstroPileError,
// src/core/errors.ts). Every message names the URL (or file) and the cause, so a CLI user sees
// one actionable line and library callers can branch on the class or the code.
import { AstroPileError } from "../core/errors.ts";

/** Base class of every error the cache raises on purpose; `code` says which. */
export class CacheError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_CACHE";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, {}, options);
  }
}

export type DownloadFailure =
  | "http-status" // the server answered with an error status
  | "network" // connection refused, reset, DNS failure...
  | "timeout" // no bytes for timeoutMs
  | "truncated" // body shorter than Content-Length / Content-Range
  | "too-long" // body longer than Content-Length or than the expected size
  | "size-mismatch" // complete body, but not the size the caller expected
  | "protocol" // redirect loop, bad Content-Range, 304 without a cached copy...
  | "all-sources-failed";

/** A download did not produce a complete file. */
export class DownloadError extends CacheError {
  static override readonly code: string = "ASTROPILE_DOWNLOAD_FAILED";
  readonly url: string;
  /** The URL actually requested (a mirror from `sources`, or `url`). */
  readonly source: string;
  readonly reason: DownloadFailure;
  readonly status?: number;
  readonly bytesReceived?: number;
  readonly bytesExpected?: number;
  /** One error per source tried, when several were. */
  readonly attempts?: readonly Error[];
  constructor(init: {
    url: string;
    source?: string;
    reason: DownloadFailure;
    detail: string;
    status?: number;
    bytesReceived?: number;
    bytesExpected?: number;
    attempts?: readonly Error[];
    cause?: unknown;
  }) {
    const via = init.source && init.source !== init.url ? ` (from ${init.source})` : "";
    super(`download of ${init.url}${via} failed: ${init.detail}`, {
      cause: init.cause,
    });
    this.url = init.url;
    this.source = init.source ?? init.url;
    this.reason = init.reason;
    this.status = init.status;
    this.bytesReceived = init.bytesReceived;
    this.bytesExpected = init.bytesExpected;
    this.attempts = init.attempts;
  }

  /** True when the server failed or could not be reached (what stale-if-error covers). */
  get isServerFailure(): boolean {
    if (this.reason === "all-sources-failed") {
      return (this.attempts ?? []).every((a) => a instanceof DownloadError && a.isServerFailure);
    }
    if (this.reason === "http-status") return (this.status ?? 0) >= 500 || this.status === 429;
    return this.reason === "network" || this.reason === "timeout" || this.reason === "truncated";
  }
}

/** The downloaded (or cached) bytes do not have the expected SHA-256. */
export class ChecksumMismatchError extends CacheError {
  static override readonly code: string = "ASTROPILE_CHECKSUM_MISMATCH";
  readonly url: string;
  readonly expected: string;
  readonly actual: string;
  constructor(url: string, expected: string, actual: string, where = "downloaded file") {
    super(
      `sha256 mismatch for ${url}: ${where} has ${actual}, expected ${expected}; the file was not kept`,
    );
    this.url = url;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Offline mode and the URL is not cached. */
export class CacheMissOfflineError extends CacheError {
  static override readonly code: string = "ASTROPILE_OFFLINE_MISS";
  readonly url: string;
  readonly cacheDir: string;
  constructor(url: string, cacheDir: string) {
    super(
      `offline mode (ASTROPILE_OFFLINE or offline option) and ${url} is not in the cache at ${cacheDir}`,
    );
    this.url = url;
    this.cacheDir = cacheDir;
  }
}

/** A management operation named a URL the cache does not hold. */
export class CacheEntryNotFoundError extends CacheError {
  static override readonly code: string = "ASTROPILE_CACHE_NO_ENTRY";
  readonly url: string;
  constructor(url: string, cacheDir: string) {
    super(`${url} is not in the cache at ${cacheDir}`);
    this.url = url;
  }
}

/** Writing into the cache failed (disk full, file size limit, permissions...). */
export class CacheWriteError extends CacheError {
  static override readonly code: string = "ASTROPILE_CACHE_WRITE_FAILED";
  readonly url: string;
  readonly path: string;
  readonly errno?: string;
  constructor(url: string, path: string, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === "ENOSPC"
        ? "no space left on device"
        : cause.code === "EFBIG"
          ? "file size limit exceeded"
          : cause.code === "EDQUOT"
            ? "disk quota exceeded"
            : cause.message;
    super(
      `cannot store ${url} in the cache (${path}): ${why}${cause.code ? ` (${cause.code})` : ""}; nothing was kept`,
      { cause },
    );
    this.url = url;
    this.path = path;
    this.errno = cause.code;
  }
}

/** An export archive is malformed or hostile; the cache was not changed. */
export class CacheArchiveError extends CacheError {
  static override readonly code: string = "ASTROPILE_BAD_ARCHIVE";
  override readonly file: string;
  readonly offset?: number;
  constructor(file: string, detail: string, offset?: number) {
    const at = offset === undefined ? "" : ` at byte ${offset}`;
    super(`rejected cache archive ${file}${at}: ${detail}; the cache was not changed`);
    this.file = file;
    this.offset = offset;
  }
}

/** Bad option or environment value (e.g. ASTROPILE_CACHE_MAX_BYTES=lots). */
export class CacheConfigError extends CacheError {
  static override readonly code: string = "ASTROPILE_CACHE_CONFIG";
  constructor(message: string) {
    super(message);
  }
}
