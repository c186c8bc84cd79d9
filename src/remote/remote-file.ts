// Remote files read by byte ranges through the range cache: the RemoteAccess that the storage
// layer's hook (storage/remote-hook.ts) calls. A file's version (size, ETag, Last-Modified) is
// fixed when it is first opened; every later range must be of that version.
import { createHash } from "node:crypto";
import { defaultCacheDir, defaultMaxBytes, offlineFromEnv } from "../cache/config.ts";
import { RangeCache, type RemoteVersion } from "../cache/range-cache.ts";
import { AstroPileError, NotFoundError, UsageError } from "../core/errors.ts";
import { type RemoteAccess, type RemoteBytes, setRemoteAccess } from "../storage/remote-hook.ts";
import {
  RemoteAccessDeniedError,
  RemoteChangedError,
  RemoteError,
  RemoteOfflineError,
  redactUrl,
} from "./errors.ts";
import { fetchRangesSync } from "./sync-bridge.ts";
import {
  fetchRanges,
  fetchWhole,
  sameVersion,
  TransportFailure,
  type TransportOptions,
  type Validator,
} from "./transport.ts";

/** How remote datasets are read (`openDataset(url, { remote })`). */
export interface RemoteOptions extends TransportOptions {
  /** Cache directory of the range cache (default: the download cache's, $ASTROPILE_CACHE_DIR). */
  cacheDir?: string;
  /** Size cap of the range cache in bytes (default: the download cache's cap). 0: no disk cache. */
  maxCacheBytes?: number;
  /** Read only from the range cache; a range not in it is a RemoteOfflineError ($ASTROPILE_OFFLINE). */
  offline?: boolean;
  /** Bytes of one cached block (default 32 KiB): the unit of ranged reads. */
  blockBytes?: number;
  /**
   * Read only the rows asked for from uncompressed chunks (default false: whole chunks, so each
   * chunk's Fletcher32 checksum is verified). True moves far fewer bytes for `get(i)` on files
   * with large chunks; the bytes are then trusted to the transport and the file's version check.
   */
  partialChunks?: boolean;
  /**
   * The version each file must have, by URL (an adopted remote MMU tree's files as they were
   * when adopted): a file found different is a RemoteChangedError, never read.
   */
  versions?: Record<string, Validator>;
}

const DEFAULT_BLOCK = 32 * 1024;
/** Largest read-ahead on sequential reads. */
const MAX_READAHEAD = 4 * 1024 * 1024;
/** Sequential reads a run needs before the next one earns read-ahead. */
const SEQUENTIAL_READS = 2;
/** Decoded blocks kept in memory across files (bytes). */
const MEMORY_BYTES = 64 * 1024 * 1024;
/** A manifest larger than this is refused (the storage layer's own limit is checked again). */
const MAX_WHOLE_BYTES = 1 << 30;

/** Blocks in memory, least recently used first (Map order). */
const memory = new Map<string, Uint8Array>();
let memoryBytes = 0;

function remember(key: string, block: Uint8Array): void {
  const old = memory.get(key);
  if (old) {
    memory.delete(key);
    memoryBytes -= old.length;
  }
  memory.set(key, block);
  memoryBytes += block.length;
  while (memoryBytes > MEMORY_BYTES) {
    const first = memory.keys().next();
    if (first.done) break;
    memoryBytes -= memory.get(first.value)?.length ?? 0;
    memory.delete(first.value);
  }
}

function recall(key: string): Uint8Array | undefined {
  const b = memory.get(key);
  if (b) {
    memory.delete(key);
    memory.set(key, b);
  }
  return b;
}

/** Counters of what went over the wire (for benchmarks and `info`). */
export interface RemoteStats {
  /** Bytes received in ranged and whole-file reads. */
  bytesFetched: number;
  /** Requests answered (ranges and whole files). */
  requests: number;
  /** Block reads served by memory or the disk cache. */
  cacheHits: number;
}

const stats: RemoteStats = { bytesFetched: 0, requests: 0, cacheHits: 0 };

/** Counters since the process started (or since the last reset). */
export function remoteStats(reset = false): RemoteStats {
  const out = { ...stats };
  if (reset) {
    stats.bytesFetched = 0;
    stats.requests = 0;
    stats.cacheHits = 0;
  }
  return out;
}

/** Maps a transport failure to the typed error users branch on. */
export function typedFailure(err: unknown, url: string): unknown {
  if (err instanceof AstroPileError) return err;
  const file = redactUrl(url);
  if (!(err instanceof TransportFailure))
    return new RemoteError(
      `remote read failed: ${(err as Error)?.message ?? err}`,
      { file },
      { cause: err },
    );
  switch (err.kind) {
    case "notfound":
      return new NotFoundError(`not on the server: ${err.message}`, { file });
    case "denied":
      return new RemoteAccessDeniedError(
        `access denied (${err.message}); check credentials (AWS profile / environment) or the URL`,
        { file },
      );
    case "changed":
      return new RemoteChangedError(`${err.message}; reopen the dataset to read the new version`, {
        file,
      });
    case "usage":
      return new UsageError(`${err.message}`, { file });
    default: {
      const e = new RemoteError(`remote read failed: ${err.message}`, { file });
      e.status = err.status;
      return e;
    }
  }
}

/** One remote file of a fixed version, read by cached blocks. */
export class RemoteFile implements RemoteBytes {
  readonly url: string;
  readonly size: number;
  readonly version: RemoteVersion;
  readonly partialChunks: boolean;
  private readonly options: RemoteOptions;
  private readonly cache: RangeCache | undefined;
  private readonly block: number;
  private readonly key: string;
  /** End of the last read: a read starting there continues a sequential run. */
  private lastEnd = -1;
  /** Reads in the current sequential run, and their bytes. */
  private runReads = 0;
  private runBytes = 0;

  private constructor(
    url: string,
    version: RemoteVersion,
    options: RemoteOptions,
    cache: RangeCache | undefined,
  ) {
    this.url = url;
    this.version = version;
    this.size = version.size;
    this.options = options;
    this.partialChunks = options.partialChunks === true;
    this.cache = cache;
    this.block = options.blockBytes ?? DEFAULT_BLOCK;
    this.key = createHash("sha256")
      .update(JSON.stringify([version, this.block]))
      .digest("hex")
      .slice(0, 24);
  }

  /** Opens `url`: learns its version from the server (one ranged read), or from the cache offline. */
  static open(url: string, options: RemoteOptions): RemoteFile {
    const cache = rangeCacheFor(options);
    const offline = options.offline ?? offlineFromEnv();
    if (offline) {
      const v = cache?.version(url);
      if (!v)
        throw new RemoteOfflineError(
          "offline, and this file was never read before (not in the range cache)",
          {
            file: redactUrl(url),
          },
        );
      return new RemoteFile(url, v, options, cache);
    }
    const block = options.blockBytes ?? DEFAULT_BLOCK;
    const want = options.versions?.[url];
    let got: { validator: Validator; parts: Uint8Array[] };
    try {
      // A known version is asked for (If-Match) and checked: the server's answer must be it.
      got = fetchRangesSync(url, [[0, block]], want, options);
      if (want && !sameVersion(want, got.validator))
        throw new TransportFailure("changed", "the file is not the version expected");
    } catch (err) {
      const typed = typedFailure(err, url);
      if (want && typed instanceof RemoteChangedError)
        throw new RemoteChangedError(
          `changed on the server since its tree was adopted (${typed.message}); adopt the tree again (\`astropile adopt URL --force\`)`,
          { file: redactUrl(url) },
        );
      throw typed;
    }
    stats.requests++;
    stats.bytesFetched += got.parts[0].length;
    const v: RemoteVersion = { url, ...got.validator };
    cache?.setVersion(v);
    const file = new RemoteFile(url, v, options, cache);
    file.store(0, got.parts[0]);
    return file;
  }

  /** This file's version and block size: how its blocks are keyed in the range cache. */
  blockSet(): { version: RemoteVersion; blockBytes: number } {
    return { version: this.version, blockBytes: this.block };
  }

  private blockLength(index: number): number {
    return Math.min(this.block, this.size - index * this.block);
  }

  private store(index: number, bytes: Uint8Array): void {
    remember(`${this.key}:${index}`, bytes);
    this.cache?.putBlock(this.blockSet(), index, bytes);
  }

  private lookup(index: number): Uint8Array | undefined {
    const k = `${this.key}:${index}`;
    const m = recall(k);
    if (m) return m;
    const d = this.cache?.getBlock(this.blockSet(), index, this.blockLength(index));
    if (d) remember(k, d);
    return d;
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): void {
    if (length === 0) return;
    if (position < 0 || position + length > this.size)
      throw new RemoteError(
        `read of bytes ${position}..${position + length} past the end (${this.size} bytes)`,
        {
          file: redactUrl(this.url),
        },
      );
    const first = Math.floor(position / this.block);
    const last = Math.floor((position + length - 1) / this.block);
    const have = new Map<number, Uint8Array>();
    const missing: number[] = [];
    for (let b = first; b <= last; b++) {
      const got = this.lookup(b);
      if (got) {
        have.set(b, got);
        stats.cacheHits++;
      } else missing.push(b);
    }
    // Read-ahead: a read that continues a run of at least SEQUENTIAL_READS earlier reads, each
    // starting where the last ended, fetches as many whole blocks past its own as the run has
    // read so far (up to MAX_READAHEAD), so a scan's requests grow geometrically. A lone read
    // (a chunk, an object header), or one that follows a few small metadata reads, fetches
    // exactly its blocks.
    if (position === this.lastEnd) this.runReads++;
    else {
      this.runReads = 0;
      this.runBytes = 0;
    }
    const readahead =
      this.runReads >= SEQUENTIAL_READS ? Math.min(MAX_READAHEAD, this.runBytes) : 0;
    this.runBytes += length;
    this.lastEnd = position + length;
    if (missing.length > 0) {
      const lastBlock = Math.floor((this.size - 1) / this.block);
      const extra = Math.floor(readahead / this.block);
      const runs: Array<[number, number]> = [];
      for (const b of missing) {
        const run = runs[runs.length - 1];
        if (run && run[1] === b) run[1] = b + 1;
        else runs.push([b, b + 1]);
      }
      if (extra > 0) {
        const tail = runs[runs.length - 1];
        let end = tail[1];
        while (end <= lastBlock && end < tail[1] + extra && !memory.has(`${this.key}:${end}`))
          end++;
        tail[1] = end;
      }
      this.fetchBlocks(runs, have);
    }
    let to = offset;
    let at = position;
    const end = position + length;
    while (at < end) {
      const b = Math.floor(at / this.block);
      const block = have.get(b) as Uint8Array;
      const from = at - b * this.block;
      const n = Math.min(end - at, block.length - from);
      buf.set(block.subarray(from, from + n), to);
      to += n;
      at += n;
    }
  }

  /** Fetches runs of blocks (one request per run) and stores them. */
  private fetchBlocks(runs: Array<[number, number]>, into: Map<number, Uint8Array>): void {
    if (this.options.offline ?? offlineFromEnv())
      throw new RemoteOfflineError(
        `offline, and bytes ${runs[0][0] * this.block}.. are not in the range cache`,
        { file: redactUrl(this.url) },
      );
    const ranges = runs.map(
      ([a, b]) => [a * this.block, Math.min(this.size, b * this.block)] as [number, number],
    );
    let got: { parts: Uint8Array[] };
    try {
      got = fetchRangesSync(this.url, ranges, this.version, this.options);
    } catch (err) {
      if (err instanceof TransportFailure && err.kind === "changed") forget(this.url);
      throw typedFailure(err, this.url);
    }
    runs.forEach(([a, b], i) => {
      const part = got.parts[i];
      stats.requests++;
      stats.bytesFetched += part.length;
      for (let k = a; k < b; k++) {
        const block = part.slice((k - a) * this.block, (k - a) * this.block + this.blockLength(k));
        this.store(k, block);
        into.set(k, block);
      }
    });
  }

  /**
   * Fetches the whole file into the range cache with large ranges (prefetch "files"), checking
   * its sha256 when one is given; resolves when every block is stored.
   */
  async prefetch(sha256?: string): Promise<void> {
    const step = Math.max(this.block, Math.floor((8 << 20) / this.block) * this.block);
    const ranges: Array<[number, number]> = [];
    for (let a = 0; a < this.size; a += step) ranges.push([a, Math.min(this.size, a + step)]);
    const hash = createHash("sha256");
    // Ranges are fetched four at a time and hashed in order.
    for (let i = 0; i < ranges.length; i += 4) {
      const group = ranges.slice(i, i + 4);
      let got: { parts: Uint8Array[] };
      try {
        got = await fetchRanges(this.url, group, this.version, this.options);
      } catch (err) {
        throw typedFailure(err, this.url);
      }
      group.forEach(([a], j) => {
        const part = got.parts[j];
        stats.requests++;
        stats.bytesFetched += part.length;
        hash.update(part);
        for (let at = 0; at < part.length; at += this.block)
          this.cache?.putBlock(
            this.blockSet(),
            (a + at) / this.block,
            part.subarray(at, at + this.block),
          );
      });
    }
    if (sha256 !== undefined) {
      const got = hash.digest("hex");
      if (got !== sha256)
        throw new RemoteChangedError(
          `whole-file sha256 ${got} is not the manifest's ${sha256} (the file on the server is not the one the manifest lists)`,
          { file: redactUrl(this.url) },
        );
    }
  }
}

function rangeCacheFor(options: RemoteOptions): RangeCache | undefined {
  const max = options.maxCacheBytes ?? defaultMaxBytes();
  if (max <= 0) return undefined;
  return new RangeCache(options.cacheDir ?? defaultCacheDir(), max);
}

/** Files opened in this process, so h5wasm and the direct reader share one version and cache. */
const open = new Map<string, RemoteFile>();
/** Options per URL prefix (set by openRemoteRoot), longest prefix first. */
const prefixes: Array<{ prefix: string; options: RemoteOptions }> = [];

function forget(url: string): void {
  open.delete(url);
}

/** The options registered for the longest prefix of `url`. */
export function optionsFor(url: string): RemoteOptions {
  for (const p of prefixes) if (url.startsWith(p.prefix)) return p.options;
  return {};
}

/**
 * Registers how the files under `prefix` are read, and forgets files opened before under it
 * (a reopened dataset sees the server's current version; datasets already open keep theirs).
 */
export function configureRemote(prefix: string, options: RemoteOptions): void {
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const i = prefixes.findIndex((p) => p.prefix === base);
  if (i >= 0) prefixes.splice(i, 1);
  prefixes.push({ prefix: base, options });
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  for (const url of [...open.keys()]) if (url.startsWith(base)) open.delete(url);
}

/**
 * The remote settings of this thread, for a worker thread to adopt (workerData): prefixes and
 * their options, without custom HTTP headers (they may hold credentials).
 */
export function remoteSettings(): Array<{ prefix: string; options: RemoteOptions }> {
  return prefixes.map((p) => {
    const { headers: _headers, ...options } = p.options;
    return { prefix: p.prefix, options };
  });
}

/** Adopts settings from remoteSettings() (in a worker thread reading remote datasets). */
export function adoptRemoteSettings(settings: unknown): void {
  if (!Array.isArray(settings)) return;
  for (const s of settings as Array<{ prefix: string; options: RemoteOptions }>)
    if (typeof s?.prefix === "string") configureRemote(s.prefix, s.options ?? {});
}

/** Opens (or reuses) a remote file. */
export function openRemoteFile(url: string): RemoteFile {
  let f = open.get(url);
  if (!f) {
    f = RemoteFile.open(url, optionsFor(url));
    open.set(url, f);
  }
  return f;
}

/** A whole small file through the range cache (offline: from it). */
export async function readWholeRemote(url: string): Promise<Uint8Array> {
  const options = optionsFor(url);
  const cache = rangeCacheFor(options);
  if (options.offline ?? offlineFromEnv()) {
    const v = cache?.version(url);
    const bytes = v && cache?.getWhole(v);
    if (!bytes)
      throw new RemoteOfflineError("offline, and this file is not in the range cache", {
        file: redactUrl(url),
      });
    return bytes;
  }
  try {
    const got = await fetchWhole(url, MAX_WHOLE_BYTES, options);
    stats.requests++;
    stats.bytesFetched += got.bytes.length;
    cache?.putWhole({ url, ...got.validator }, got.bytes);
    return got.bytes;
  } catch (err) {
    throw typedFailure(err, url);
  }
}

const access: RemoteAccess = {
  open: (url) => openRemoteFile(url),
  readWhole: (url) => readWholeRemote(url),
};
setRemoteAccess(access);

/** Drops the blocks kept in memory (benchmarks measure a cold start with it). */
export function clearRemoteMemory(): void {
  memory.clear();
  memoryBytes = 0;
}

/**
 * Fetches a remote file whole into the range cache (sha256-checked when one is given), unless its
 * blocks are all there already; a scan that reads most of a file calls it. Does nothing and
 * returns false offline, without a disk cache to keep it in, or when the file would take more
 * than half of the cache: reads then go by ranges, with read-ahead on sequential runs.
 */
export async function prefetchWhole(url: string, sha256?: string): Promise<boolean> {
  const options = optionsFor(url);
  if (options.offline ?? offlineFromEnv()) return false;
  const cache = rangeCacheFor(options);
  const file = openRemoteFile(url);
  if (!cache || file.size > cache.maxBytes / 2) return false;
  const set = file.blockSet();
  if (cache.missingBlocks(set, Math.ceil(file.size / set.blockBytes)) === 0) return false;
  await file.prefetch(sha256);
  return true;
}
