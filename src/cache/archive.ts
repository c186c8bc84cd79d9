// Export and import of cache entries as one archive, for machines without network.
//
// Format: a POSIX ustar file (`tar tf` lists it, `tar xf` extracts it), read and written with
// tar-stream, holding
//   astropile-cache/entries/<key>/<file>   the data of each entry
//   astropile-cache/manifest.json          {format, version, created, entries: [...]}, last
// Each manifest entry records url, key, file, size, sha256 and the HTTP validators. Sizes of
// 8 GiB and more use the GNU base-256 size field, which GNU tar and bsdtar read.
//
// Import trusts nothing: every header's checksum, type, name and size (against the bytes left
// in the file) is checked as the archive streams by, each data member is staged in the
// cache's tmp/ while hashed, then the manifest is checked against the staged members (names,
// sizes, sha256). Only a fully valid archive is committed into the cache. Hostile archives
// (path traversal, links, extended headers, absurd sizes, truncation) get CacheArchiveError
// and the cache is left as it was. tar-stream is loaded only when an archive is read or written.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import fs, { promises as fsp } from "node:fs";
import path from "node:path";
import type { DownloadCache } from "./cache.ts";
import { CacheArchiveError, ChecksumMismatchError } from "./errors.ts";
import { activeTokens, DATA_FILE_RE, keyForUrl, newOwnerToken } from "./layout.ts";

const ROOT = "astropile-cache";
const MANIFEST = `${ROOT}/manifest.json`;
const MEMBER_RE = /^astropile-cache\/entries\/([0-9a-f]{64})\/([^/]+)$/;
const MAX_MANIFEST_BYTES = 256 * 2 ** 20;
const BLOCK = 512;
const CHUNK = 1 << 20;

/** One entry of the archive manifest (what meta.json holds, minus the format tag). */
export interface ArchiveEntry {
  key: string;
  url: string;
  file: string;
  size: number;
  sha256: string;
  source: string;
  etag: string | null;
  lastModified: string | null;
  contentType: string | null;
  fetchedAt: number;
  validatedAt: number;
  pinned: boolean;
}

interface Manifest {
  format: "astropile-cache-archive";
  version: 1;
  created: string;
  entries: ArchiveEntry[];
}

/**
 * Validates a parsed manifest field by field and returns it, or the first problem. Written out
 * rather than with a schema library: it keeps the cache's import cost (and each child
 * process's start) small, and the rules are few.
 */
function checkManifest(v: unknown): Manifest | string {
  if (typeof v !== "object" || v === null) return "not an object";
  const m = v as Record<string, unknown>;
  if (m.format !== "astropile-cache-archive") return "format is not astropile-cache-archive";
  if (m.version !== 1) return `unsupported version ${JSON.stringify(m.version)}`;
  if (typeof m.created !== "string") return "created is missing";
  if (!Array.isArray(m.entries)) return "entries is not a list";
  const isUrl = (u: unknown) => typeof u === "string" && URL.canParse(u);
  const isCount = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  const strOrNull = (x: unknown) => x === null || typeof x === "string";
  for (const [i, e] of (m.entries as unknown[]).entries()) {
    const o = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
    const bad = (field: string) => `entries.${i}.${field} is invalid`;
    if (typeof o.key !== "string" || !/^[0-9a-f]{64}$/.test(o.key)) return bad("key");
    if (!isUrl(o.url)) return bad("url");
    if (typeof o.file !== "string" || !DATA_FILE_RE.test(o.file)) return bad("file");
    if (!isCount(o.size)) return bad("size");
    if (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256)) return bad("sha256");
    if (!isUrl(o.source)) return bad("source");
    if (!strOrNull(o.etag) || !strOrNull(o.lastModified) || !strOrNull(o.contentType)) {
      return bad("validators");
    }
    if (!isCount(o.fetchedAt) || !isCount(o.validatedAt)) return bad("times");
    if (typeof o.pinned !== "boolean") return bad("pinned");
  }
  return m as unknown as Manifest;
}

// ------------------------------------------------------------------ export

export interface ExportResult {
  file: string;
  entries: number;
  bytes: number;
}

/**
 * Writes the given URLs (default: every entry) into one archive at `file`, atomically
 * (temp file + rename). Each file is re-hashed while copied; a damaged entry fails the export.
 */
export async function exportCache(
  cache: DownloadCache,
  file: string,
  options: { urls?: string[] } = {},
): Promise<ExportResult> {
  const list = options.urls
    ? await Promise.all(
        options.urls.map(async (u) => {
          const e = await cache.lookup(u);
          if (!e) throw new CacheArchiveError(file, `${u} is not in the cache at ${cache.dir}`);
          return e;
        }),
      )
    : await cache.contents();
  const target = path.resolve(file);
  const tmp = `${target}.tmp-${randomBytes(4).toString("hex")}`;
  const manifest: Manifest = {
    format: "astropile-cache-archive",
    version: 1,
    created: new Date().toISOString(),
    entries: [],
  };
  const pack = (await import("tar-stream")).pack();
  const fileOut = fs.createWriteStream(tmp, { flags: "wx", flush: true });
  const written = new Promise<void>((resolve, reject) => {
    pack.on("error", reject);
    fileOut.on("error", (err) => {
      pack.destroy(err);
      reject(err);
    });
    fileOut.on("close", () => resolve());
  });
  written.catch(() => undefined); // awaited below; a failure before then is thrown there
  pack.pipe(fileOut);
  const entry = (h: { name: string; size: number; mtime?: Date }, data?: Buffer) => {
    const header = { uname: "astropile", gname: "astropile", mode: 0o644, ...h };
    const sink = data ? pack.entry(header, data) : pack.entry(header);
    // A failed write reaches `written`; the member's own stream error would be unhandled.
    return sink.on("error", () => undefined);
  };
  let bytes = 0;
  try {
    for (const e of list) {
      let src: fsp.FileHandle;
      try {
        src = await fsp.open(e.path, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // evicted meanwhile
        throw err;
      }
      try {
        // The open handle pins this version even if the entry is replaced meanwhile.
        const st = await src.stat();
        if (st.size !== e.size) continue;
        const fileName = path.basename(e.path);
        const name = `${ROOT}/entries/${e.key}/${fileName}`;
        const sink = entry({ name, size: e.size, mtime: st.mtime });
        const hash = createHash("sha256");
        if (e.size > 0) {
          const data = src.createReadStream({
            end: e.size - 1,
            highWaterMark: CHUNK,
            autoClose: false,
          });
          for await (const chunk of data) {
            hash.update(chunk as Buffer);
            if (!sink.write(chunk)) await Promise.race([once(sink, "drain"), written]);
          }
        }
        const actual = hash.digest("hex");
        if (actual !== e.sha256) {
          throw new ChecksumMismatchError(
            e.url,
            e.sha256,
            actual,
            "cached copy (run `astropile cache check --deep --repair`)",
          );
        }
        sink.end(null);
        manifest.entries.push({
          key: e.key,
          url: e.url,
          file: fileName,
          size: e.size,
          sha256: e.sha256,
          source: e.source,
          etag: e.etag,
          lastModified: e.lastModified,
          contentType: e.contentType,
          fetchedAt: e.fetchedAt.getTime(),
          validatedAt: e.validatedAt.getTime(),
          pinned: e.pinned,
        });
        bytes += e.size;
      } finally {
        await src.close();
      }
    }
    const m = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
    entry({ name: MANIFEST, size: m.length }, m);
    pack.finalize();
    await written;
    await fsp.rename(tmp, target);
  } catch (err) {
    pack.destroy();
    fileOut.destroy();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return { file: target, entries: manifest.entries.length, bytes };
}

// ------------------------------------------------------------------ import

export interface ImportResult {
  file: string;
  imported: number;
  skipped: number;
  bytes: number;
}

/**
 * Imports an archive written by exportCache. Validates it completely (headers, names,
 * sizes, manifest, sha256 of every file) before changing the cache. Entries already cached
 * are kept unless `overwrite`.
 */
export async function importCache(
  cache: DownloadCache,
  file: string,
  options: { overwrite?: boolean } = {},
): Promise<ImportResult> {
  const src = path.resolve(file);
  const fileSize = await fsp.stat(src).then(
    (st) => st.size,
    (err: NodeJS.ErrnoException) => {
      throw new CacheArchiveError(src, `cannot read the archive: ${err.code ?? err.message}`);
    },
  );
  await cache.layout.ensure();
  const token = newOwnerToken();
  activeTokens.add(token);
  const staging = cache.layout.tmpPath(token, "import");
  const input = fs.createReadStream(src, { highWaterMark: CHUNK });
  try {
    await fsp.mkdir(staging);
    const fsStat = await fsp.statfs(cache.dir).catch(() => null);
    const free = fsStat ? fsStat.bavail * fsStat.bsize : Number.POSITIVE_INFINITY;
    /** Staged data members by member name. */
    const staged = new Map<string, { size: number; sha256: string; path: string }>();
    let manifestText: string | null = null;
    let end = 0; // where the next header must start: after the last member's padded data
    let needed = 0;
    const extract = (await import("tar-stream")).extract();
    input.on("error", (err) => extract.destroy(err));
    input.pipe(extract);
    try {
      for await (const entry of extract) {
        const { header, offset } = entry;
        const name = JSON.stringify(header.name);
        const bad = (why: string, at = offset) => new CacheArchiveError(src, why, at);
        // tar-stream applies pax and GNU long-name headers to the member after them; their
        // blocks are what stands between the last member and this one.
        if (offset !== end) {
          throw bad(
            `extended header or end-of-archive blocks before ${name}; links, directories and extended headers are refused`,
            end,
          );
        }
        if (header.type !== "file") {
          throw bad(
            `member ${name} is not a regular file (${header.type}); links, directories and extended headers are refused`,
          );
        }
        const size = header.size;
        if (!Number.isSafeInteger(size)) throw bad(`bad size field for ${name}`);
        const left = Math.max(0, fileSize - offset - BLOCK);
        if (size > left) {
          throw bad(
            `member ${name} claims ${size} bytes but only ${left} follow (truncated or forged)`,
          );
        }
        const isManifest = header.name === MANIFEST;
        const m = MEMBER_RE.exec(header.name);
        if (!isManifest && !m) throw bad(`unexpected member name ${name}`);
        if (staged.has(header.name) || (isManifest && manifestText !== null)) {
          throw bad(`member ${name} appears twice`);
        }
        end = offset + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
        if (isManifest) {
          if (size > MAX_MANIFEST_BYTES) {
            throw bad(`manifest of ${size} bytes is larger than allowed`);
          }
          const parts: Buffer[] = [];
          for await (const chunk of entry) parts.push(chunk as Buffer);
          manifestText = Buffer.concat(parts).toString("utf8");
          continue;
        }
        needed += size;
        if (needed > free) {
          throw bad(`needs at least ${needed} bytes but only ${free} are free in ${cache.dir}`);
        }
        // Stage the data, hashing as it streams by.
        const target = path.join(staging, `${m![1]}.${m![2]}`);
        const out = await fsp.open(target, "wx");
        const hash = createHash("sha256");
        let got = 0;
        try {
          for await (const chunk of entry) {
            hash.update(chunk as Buffer);
            await out.write(chunk as Buffer);
            got += (chunk as Buffer).length;
          }
        } finally {
          await out.close();
        }
        if (got !== size) throw bad(`truncated data of ${name}`);
        staged.set(header.name, { size, sha256: hash.digest("hex"), path: target });
      }
    } catch (err) {
      if (err instanceof CacheArchiveError || (err as NodeJS.ErrnoException).code) throw err;
      throw tarError(src, err as Error, end);
    }
    if (fileSize - end < BLOCK) {
      throw new CacheArchiveError(src, "truncated: ends without the end-of-archive blocks", end);
    }

    if (manifestText === null) {
      throw new CacheArchiveError(src, `no ${MANIFEST} (not an AstroPile cache archive)`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(manifestText);
    } catch (err) {
      throw new CacheArchiveError(src, `manifest is not JSON (${(err as Error).message})`);
    }
    const manifest = checkManifest(parsed);
    if (typeof manifest === "string") {
      throw new CacheArchiveError(src, `invalid manifest: ${manifest}`);
    }
    const unlisted = new Set(staged.keys());
    const keys = new Set<string>();
    const ready: { entry: ArchiveEntry; path: string }[] = [];
    for (const e of manifest.entries) {
      if (keyForUrl(e.url) !== e.key) {
        throw new CacheArchiveError(src, `manifest key of ${e.url} is not the hash of its URL`);
      }
      if (keys.has(e.key)) throw new CacheArchiveError(src, `${e.url} is listed twice`);
      keys.add(e.key);
      const name = `${ROOT}/entries/${e.key}/${e.file}`;
      const s = staged.get(name);
      if (!s) throw new CacheArchiveError(src, `data of ${e.url} is missing from the archive`);
      if (s.size !== e.size) {
        throw new CacheArchiveError(
          src,
          `data of ${e.url} has ${s.size} bytes, manifest says ${e.size}`,
        );
      }
      if (s.sha256 !== e.sha256) {
        throw new CacheArchiveError(
          src,
          `sha256 of ${e.url} is ${s.sha256}, manifest says ${e.sha256}`,
        );
      }
      unlisted.delete(name);
      ready.push({ entry: e, path: s.path });
    }
    if (unlisted.size > 0) {
      throw new CacheArchiveError(src, `member ${[...unlisted][0]} is not in the manifest`);
    }

    let imported = 0;
    let skipped = 0;
    let bytes = 0;
    for (const s of ready) {
      const existing = await cache.lookup(s.entry.url);
      if (existing && (!options.overwrite || existing.sha256 === s.entry.sha256)) {
        skipped++;
        continue;
      }
      await cache.adopt(s.path, s.entry);
      imported++;
      bytes += s.entry.size;
    }
    await cache.enforceLimit(new Set(ready.map((s) => s.entry.key)));
    return { file: src, imported, skipped, bytes };
  } finally {
    input.destroy();
    await fsp.rm(staging, { recursive: true, force: true });
    activeTokens.delete(token);
  }
}

/** A parse error from tar-stream, told in the terms of the checks above. */
function tarError(file: string, err: Error, offset: number): CacheArchiveError {
  const m = err.message;
  const why = /^Invalid tar header\. Maybe/.test(m)
    ? "bad tar header checksum (not an archive, or damaged)"
    : /unknown format/.test(m)
      ? "not a ustar archive"
      : /Unexpected end of data/.test(m)
        ? "truncated: ends inside a header or member"
        : `invalid tar header (${m})`;
  return new CacheArchiveError(file, why, offset);
}
