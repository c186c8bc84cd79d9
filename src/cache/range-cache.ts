// The byte-range cache of remote reads: fixed-size blocks of remote files, kept under
// <cache dir>/ranges/, keyed by URL and by the version of the file (ETag / Last-Modified / size),
// so bytes of two versions of one file are never mixed. Synchronous (it serves libhdf5's
// synchronous reads). Bounded: a size cap, least-recently-used blocks evicted first (a block's
// modification time is its last use).
//
//   <dir>/ranges/<urlkey>/version.json        the version whose blocks are kept (written last)
//   <dir>/ranges/<urlkey>/<vkey>/<size>-<i>   block i (of <size> bytes) of that version
//   <dir>/ranges/<urlkey>/<vkey>/whole        a whole small file (manifest)
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";

/** One version of a remote file. */
export interface RemoteVersion {
  url: string;
  size: number;
  etag?: string;
  lastModified?: string;
}

/** Blocks of one size of one version (a block's index means nothing without its size). */
export interface BlockSet {
  version: RemoteVersion;
  blockBytes: number;
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Fixed-size blocks of remote files on disk, capped in size. */
export class RangeCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** Bytes of blocks on disk, counted at the first write of this process (then kept up to date). */
  private total: number | undefined;

  constructor(cacheDir: string, maxBytes: number) {
    this.dir = path.join(cacheDir, "ranges");
    this.maxBytes = maxBytes;
  }

  private urlDir(url: string): string {
    return path.join(this.dir, sha(url).slice(0, 32));
  }

  private versionDir(v: RemoteVersion): string {
    return path.join(
      this.urlDir(v.url),
      sha(JSON.stringify([v.size, v.etag ?? null, v.lastModified ?? null])).slice(0, 16),
    );
  }

  /** The version last recorded for `url` (offline mode opens it), or undefined. */
  version(url: string): RemoteVersion | undefined {
    try {
      const v = JSON.parse(readFileSync(path.join(this.urlDir(url), "version.json"), "utf8"));
      if (v && v.url === url && Number.isSafeInteger(v.size)) return v as RemoteVersion;
    } catch {}
    return undefined;
  }

  /** Records the version now on the server; blocks of any other version of the URL are dropped. */
  setVersion(v: RemoteVersion): void {
    const old = this.version(v.url);
    const dir = this.urlDir(v.url);
    if (old && this.versionDir(old) !== this.versionDir(v)) {
      rmSync(this.versionDir(old), { recursive: true, force: true });
      this.total = undefined;
    }
    if (old && this.versionDir(old) === this.versionDir(v)) return;
    mkdirSync(dir, { recursive: true });
    this.writeAtomic(path.join(dir, "version.json"), JSON.stringify(v));
  }

  /** Block `index` of a version, or undefined. A hit counts as a use (LRU). */
  getBlock(set: BlockSet, index: number, length: number): Uint8Array | undefined {
    const file = path.join(this.versionDir(set.version), `${set.blockBytes}-${index}`);
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch {
      return undefined;
    }
    try {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const k = readSync(fd, buf, got, length - got, got);
        if (k === 0) return undefined; // a short block is not trusted
        got += k;
      }
      const now = new Date();
      try {
        utimesSync(file, now, now);
      } catch {}
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  /** How many of blocks 0..count-1 of a version are not on disk (a stat each, nothing read). */
  missingBlocks(set: BlockSet, count: number): number {
    const dir = this.versionDir(set.version);
    let missing = 0;
    for (let i = 0; i < count; i++)
      if (!existsSync(path.join(dir, `${set.blockBytes}-${i}`))) missing++;
    return missing;
  }

  /** Stores a block (atomically), then evicts the oldest blocks if over the cap. */
  putBlock(set: BlockSet, index: number, bytes: Uint8Array): void {
    if (this.maxBytes <= 0) return;
    const dir = this.versionDir(set.version);
    try {
      mkdirSync(dir, { recursive: true });
      this.writeAtomic(path.join(dir, `${set.blockBytes}-${index}`), bytes);
    } catch {
      return; // the cache is an optimisation: a full disk must not fail the read
    }
    if (this.total === undefined) this.total = this.measure();
    else this.total += bytes.length;
    if (this.total > this.maxBytes) this.evict();
  }

  /** A whole small file of a version (the manifest), or undefined. */
  getWhole(v: RemoteVersion): Uint8Array | undefined {
    try {
      const b = readFileSync(path.join(this.versionDir(v), "whole"));
      return b.length === v.size ? new Uint8Array(b) : undefined;
    } catch {
      return undefined;
    }
  }

  putWhole(v: RemoteVersion, bytes: Uint8Array): void {
    if (this.maxBytes <= 0) return;
    try {
      this.setVersion(v);
      mkdirSync(this.versionDir(v), { recursive: true });
      this.writeAtomic(path.join(this.versionDir(v), "whole"), bytes);
    } catch {}
  }

  /** Bytes of blocks on disk. */
  measure(): number {
    let total = 0;
    for (const f of this.files()) total += f.size;
    return total;
  }

  /** Removes every cached range. */
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
    this.total = 0;
  }

  private files(): Array<{ file: string; size: number; used: number }> {
    const out: Array<{ file: string; size: number; used: number }> = [];
    let urls: string[];
    try {
      urls = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const u of urls) {
      let versions: string[];
      try {
        versions = readdirSync(path.join(this.dir, u)).filter((n) => n !== "version.json");
      } catch {
        continue;
      }
      for (const vd of versions) {
        const d = path.join(this.dir, u, vd);
        let names: string[];
        try {
          names = readdirSync(d);
        } catch {
          continue;
        }
        for (const n of names) {
          try {
            const s = statSync(path.join(d, n));
            out.push({ file: path.join(d, n), size: s.size, used: s.mtimeMs });
          } catch {}
        }
      }
    }
    return out;
  }

  /** Least recently used blocks go first, down to 90% of the cap (so eviction is not per write). */
  private evict(): void {
    const files = this.files().sort((a, b) => a.used - b.used);
    let total = files.reduce((s, f) => s + f.size, 0);
    const target = this.maxBytes * 0.9;
    for (const f of files) {
      if (total <= target) break;
      rmSync(f.file, { force: true });
      total -= f.size;
    }
    this.total = total;
  }

  private writeAtomic(file: string, content: string | Uint8Array): void {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, content);
    renameSync(tmp, file);
  }
}
