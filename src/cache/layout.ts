// On-disk layout of the cache directory and the small helpers that keep it consistent
// without locks:
//
//   <dir>/CACHEDIR.TAG                  standard marker so backup tools skip the cache
//   <dir>/entries/<key>/meta.json       the commit point of an entry (written last, by rename)
//   <dir>/entries/<key>/<id>-<name>     the data; a new version gets a new <id>, so a reader
//                                       that got the old path keeps a valid file
//   <dir>/partial/<key>.<vh>.json       validators of a partial download (ETag, length...)
//   <dir>/partial/<key>.<vh>.<owner>.part  bytes received so far, owned by one process
//   <dir>/tmp/<owner>.<what>            temp files, renamed into place when complete
//
// <key> = sha256(normalized URL); <vh> = hash of (source, ETag, Last-Modified, length);
// <owner> = <host>~<pid>~<random>, so a dead owner on this host is seen at once (its pid is
// gone) and one on another host (NFS) once its file has not been touched for a while.
import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { hostToken, pidExists } from "../core/process-owner.ts";
import { CacheConfigError } from "./errors.ts";

export const META_NAME = "meta.json";
export const CACHEDIR_TAG = "CACHEDIR.TAG";
const CACHEDIR_TAG_TEXT =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file marks the AstroPile download cache (https://bford.info/cachedir/).\n";

/** Metadata of one cached URL, stored as entries/<key>/meta.json. */
export interface EntryMeta {
  format: 1;
  key: string;
  url: string;
  /** Data file name inside the entry directory. */
  file: string;
  size: number;
  sha256: string;
  /** URL the bytes came from (`url` or one of `sources`). */
  source: string;
  etag: string | null;
  lastModified: string | null;
  contentType: string | null;
  /** When the bytes were downloaded (ms since epoch). */
  fetchedAt: number;
  /** When the server last confirmed them (download or 304). */
  validatedAt: number;
  pinned: boolean;
}

/** Validators of a partial download, stored as partial/<key>.<vh>.json. */
export interface PartialInfo {
  key: string;
  url: string;
  source: string;
  etag: string | null;
  lastModified: string | null;
  totalLength: number | null;
}

/** The URL as the cache identifies it: parsed, normalized, without fragment. */
export function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CacheConfigError(`not a valid URL: ${JSON.stringify(url)}`);
  }
  u.hash = "";
  return u.href;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function keyForUrl(url: string): string {
  return sha256Hex(normalizeUrl(url));
}

export const KEY_RE = /^[0-9a-f]{64}$/;
/** Data file names: `<12 hex id>-<safe base name>`; nothing that can climb out of a directory. */
export const DATA_FILE_RE = /^[0-9a-f]{12}-[A-Za-z0-9._+-]{1,80}$/;
const PART_RE = /^([0-9a-f]{64})\.([0-9a-f]{16})\.(.+)\.part$/;
const PARTIAL_INFO_RE = /^([0-9a-f]{64})\.([0-9a-f]{16})\.json$/;

/** A data file name that keeps the URL's base name (tools that look at extensions work). */
export function dataFileName(url: string): string {
  let base = "data";
  try {
    const last = new URL(url).pathname.split("/").filter(Boolean).pop();
    if (last) base = decodeURIComponent(last);
  } catch {
    // keep "data"
  }
  base = base.replace(/[^A-Za-z0-9._+-]/g, "_").replace(/^\.+/, "");
  if (base.length > 80) base = base.slice(base.length - 80);
  if (!base || !/[A-Za-z0-9]/.test(base)) base = "data";
  return `${randomBytes(6).toString("hex")}-${base}`;
}

/** Owner token of this process for temp and partial files. */
export function newOwnerToken(): string {
  return `${hostToken()}~${process.pid}~${randomBytes(4).toString("hex")}`;
}

/** Tokens this process is using right now (a live pid alone does not mean a live download). */
export const activeTokens = new Set<string>();

/**
 * Is the owner of a temp/partial file still working on it? Same host: its pid must exist
 * (and, for this process, the token must be in use). Other hosts: the file must have been
 * written or heartbeat-touched within `staleMs`.
 */
export function ownerAlive(token: string, mtimeMs: number, staleMs: number, now: number): boolean {
  const parts = token.split("~");
  if (parts[0] === "free") return false; // released by a process whose download failed
  if (parts.length !== 3) return now - mtimeMs < staleMs;
  const [host, pidText] = parts as [string, string, string];
  const pid = Number(pidText);
  if (host !== hostToken() || !Number.isSafeInteger(pid) || pid <= 0)
    return now - mtimeMs < staleMs;
  if (pid === process.pid) return activeTokens.has(token);
  return pidExists(pid);
}

export class Layout {
  readonly dir: string;
  readonly entriesDir: string;
  readonly tmpDir: string;
  readonly partialDir: string;
  private ready: Promise<void> | null = null;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.entriesDir = path.join(this.dir, "entries");
    this.tmpDir = path.join(this.dir, "tmp");
    this.partialDir = path.join(this.dir, "partial");
  }

  /** Creates the directories once per process (cheap afterwards). */
  ensure(): Promise<void> {
    this.ready ??= (async () => {
      await fsp.mkdir(this.entriesDir, { recursive: true });
      await fsp.mkdir(this.tmpDir, { recursive: true });
      await fsp.mkdir(this.partialDir, { recursive: true });
      const tag = path.join(this.dir, CACHEDIR_TAG);
      await fsp.writeFile(tag, CACHEDIR_TAG_TEXT, { flag: "wx" }).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      });
    })().catch((err) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  entryDir(key: string): string {
    return path.join(this.entriesDir, key);
  }
  metaPath(key: string): string {
    return path.join(this.entriesDir, key, META_NAME);
  }
  dataPath(key: string, file: string): string {
    return path.join(this.entriesDir, key, file);
  }
  tmpPath(token: string, what: string): string {
    return path.join(this.tmpDir, `${token}.${what}`);
  }
  partialInfoPath(key: string, vh: string): string {
    return path.join(this.partialDir, `${key}.${vh}.json`);
  }
  partialPath(key: string, vh: string, owner: string): string {
    return path.join(this.partialDir, `${key}.${vh}.${owner}.part`);
  }

  /** Writes a small file atomically: temp file in tmp/, then rename over the target. */
  async writeAtomic(target: string, text: string): Promise<void> {
    const token = newOwnerToken();
    const tmp = this.tmpPath(token, "small");
    activeTokens.add(token);
    try {
      await fsp.writeFile(tmp, text);
      await fsp.rename(tmp, target);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    } finally {
      activeTokens.delete(token);
    }
  }
}

export function parsePartName(name: string): { key: string; vh: string; owner: string } | null {
  const m = PART_RE.exec(name);
  return m ? { key: m[1]!, vh: m[2]!, owner: m[3]! } : null;
}

export function parsePartialInfoName(name: string): { key: string; vh: string } | null {
  const m = PARTIAL_INFO_RE.exec(name);
  return m ? { key: m[1]!, vh: m[2]! } : null;
}

/** Owner token of a tmp/ file name (`<token>.<what>`). */
export function tmpOwner(name: string): string {
  const dot = name.indexOf(".");
  return dot < 0 ? name : name.slice(0, dot);
}

export function validatorHash(info: Omit<PartialInfo, "key" | "url">): string {
  return sha256Hex(
    JSON.stringify([info.source, info.etag, info.lastModified, info.totalLength]),
  ).slice(0, 16);
}

function isStr(v: unknown): v is string {
  return typeof v === "string";
}
function isStrOrNull(v: unknown): v is string | null {
  return v === null || typeof v === "string";
}
function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks a parsed meta.json; returns the problem, or null when it is sound. Hand-written
 * rather than a schema library: it runs on every cache hit, which must stay well under 1 ms.
 */
export function metaProblem(m: unknown, key: string): string | null {
  if (typeof m !== "object" || m === null) return "meta.json is not an object";
  const o = m as Record<string, unknown>;
  if (o.format !== 1) return `unknown meta format ${JSON.stringify(o.format)}`;
  if (o.key !== key) return "meta.json belongs to another key";
  if (!isStr(o.url)) return "url missing";
  if (!isStr(o.file) || !DATA_FILE_RE.test(o.file)) return "bad data file name";
  if (!isCount(o.size)) return "bad size";
  if (!isStr(o.sha256) || !/^[0-9a-f]{64}$/.test(o.sha256)) return "bad sha256";
  if (!isStr(o.source)) return "source missing";
  if (!isStrOrNull(o.etag) || !isStrOrNull(o.lastModified) || !isStrOrNull(o.contentType))
    return "bad validators";
  if (!isCount(o.fetchedAt) || !isCount(o.validatedAt)) return "bad timestamps";
  if (typeof o.pinned !== "boolean") return "bad pinned flag";
  return null;
}

export function isPartialInfo(v: unknown): v is PartialInfo {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    isStr(o.key) &&
    isStr(o.url) &&
    isStr(o.source) &&
    isStrOrNull(o.etag) &&
    isStrOrNull(o.lastModified) &&
    (o.totalLength === null || isCount(o.totalLength))
  );
}
