// Export and import of cache entries as one archive, for machines without network.
//
// Format: a POSIX ustar file (`tar tf` lists it, `tar xf` extracts it) holding
//   astropile-cache/entries/<key>/<file>   the data of each entry
//   astropile-cache/manifest.json          {format, version, created, entries: [...]}, last
// Each manifest entry records url, key, file, size, sha256 and the HTTP validators. Sizes of
// 8 GiB and more use the GNU base-256 size field, which GNU tar and bsdtar read.
//
// Import trusts nothing: every header checksum, name, type and size is checked against the
// file and the manifest before any byte is staged, every staged file is hashed, and only a
// fully valid archive is committed into the cache. Hostile archives (path traversal, links,
// absurd sizes, truncation) get CacheArchiveError and the cache is left as it was.
import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import type { DownloadCache } from "./cache.ts";
import { CacheArchiveError, ChecksumMismatchError } from "./errors.ts";
import { activeTokens, DATA_FILE_RE, keyForUrl, newOwnerToken } from "./layout.ts";

const ROOT = "astropile-cache";
const MANIFEST = `${ROOT}/manifest.json`;
const MEMBER_RE = /^astropile-cache\/entries\/([0-9a-f]{64})\/([^/]+)$/;
const MAX_MANIFEST_BYTES = 256 * 2 ** 20;
const BLOCK = 512;
const COPY_CHUNK = 1 << 20;

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

// ------------------------------------------------------------------ tar headers

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(`${value.toString(8).padStart(len - 1, "0")}\0`, off, len, "ascii");
}

function tarHeader(name: string, size: number, mtimeSec: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/");
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, "utf8");
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  if (size < 8 ** 11) writeOctal(h, 124, 12, size);
  else {
    // GNU base-256: high bit set, big-endian value in the remaining bytes.
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    h[124] = 0x80;
  }
  writeOctal(h, 136, 12, Math.max(0, Math.floor(mtimeSec)));
  h.fill(0x20, 148, 156);
  h.write("0", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("astropile", 265, 32, "ascii");
  h.write("astropile", 297, 32, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

function cString(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString("utf8", off, end < 0 || end > off + len ? off + len : end);
}

function parseNumber(buf: Buffer, off: number, len: number): number | null {
  if (buf[off]! & 0x80) {
    let v = 0n;
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(buf[i]!);
    if (buf[off] !== 0x80 || v > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return Number(v);
  }
  const text = buf
    .toString("ascii", off, off + len)
    .replace(/[\0 ]+$/, "")
    .trim();
  if (!/^[0-7]+$/.test(text)) return null;
  const n = Number.parseInt(text, 8);
  return Number.isSafeInteger(n) ? n : null;
}

interface Member {
  name: string;
  size: number;
  dataOffset: number;
}

/** Walks the headers of an archive (no data read), validating each against the file size. */
async function readMembers(fh: fsp.FileHandle, file: string, fileSize: number) {
  const members: Member[] = [];
  const header = Buffer.alloc(BLOCK);
  let pos = 0;
  for (;;) {
    if (pos + BLOCK > fileSize) {
      throw new CacheArchiveError(file, "truncated: ends without the end-of-archive blocks", pos);
    }
    await fh.read(header, 0, BLOCK, pos);
    if (header.every((b) => b === 0)) break;
    const stored = parseNumber(header, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (stored === null || stored !== sum) {
      throw new CacheArchiveError(
        file,
        "bad tar header checksum (not an archive, or damaged)",
        pos,
      );
    }
    if (header.toString("ascii", 257, 262) !== "ustar") {
      throw new CacheArchiveError(file, "not a ustar archive", pos);
    }
    const type = String.fromCharCode(header[156]!);
    const base = cString(header, 0, 100);
    const prefix = cString(header, 345, 155);
    const name = prefix ? `${prefix}/${base}` : base;
    if (type !== "0" && type !== "\0") {
      throw new CacheArchiveError(
        file,
        `member ${JSON.stringify(name)} is not a regular file (type ${JSON.stringify(type)}); links, directories and extended headers are refused`,
        pos,
      );
    }
    const size = parseNumber(header, 124, 12);
    if (size === null)
      throw new CacheArchiveError(file, `bad size field for ${JSON.stringify(name)}`, pos);
    if (size > fileSize - pos - BLOCK) {
      throw new CacheArchiveError(
        file,
        `member ${JSON.stringify(name)} claims ${size} bytes but only ${Math.max(0, fileSize - pos - BLOCK)} follow (truncated or forged)`,
        pos,
      );
    }
    if (name !== MANIFEST && !MEMBER_RE.test(name)) {
      throw new CacheArchiveError(file, `unexpected member name ${JSON.stringify(name)}`, pos);
    }
    if (members.some((m) => m.name === name)) {
      throw new CacheArchiveError(file, `member ${JSON.stringify(name)} appears twice`, pos);
    }
    members.push({ name, size, dataOffset: pos + BLOCK });
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return members;
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
  const out = await fsp.open(tmp, "wx");
  const manifest: Manifest = {
    format: "astropile-cache-archive",
    version: 1,
    created: new Date().toISOString(),
    entries: [],
  };
  let pos = 0;
  const write = async (buf: Buffer, len = buf.length) => {
    await out.write(buf, 0, len, pos);
    pos += len;
  };
  let bytes = 0;
  try {
    const chunk = Buffer.alloc(COPY_CHUNK);
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
        await write(tarHeader(`${ROOT}/entries/${e.key}/${fileName}`, e.size, st.mtimeMs / 1000));
        const hash = createHash("sha256");
        let done = 0;
        while (done < e.size) {
          const { bytesRead } = await src.read(chunk, 0, Math.min(COPY_CHUNK, e.size - done), done);
          if (bytesRead === 0) break;
          hash.update(chunk.subarray(0, bytesRead));
          await write(chunk, bytesRead);
          done += bytesRead;
        }
        const actual = hash.digest("hex");
        if (done !== e.size || actual !== e.sha256) {
          throw new ChecksumMismatchError(
            e.url,
            e.sha256,
            actual,
            "cached copy (run `astropile cache check --deep --repair`)",
          );
        }
        const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
        if (pad) await write(Buffer.alloc(pad));
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
    await write(tarHeader(MANIFEST, m.length, Date.now() / 1000));
    await write(m);
    const pad = (BLOCK - (m.length % BLOCK)) % BLOCK;
    await write(Buffer.alloc(pad + 2 * BLOCK));
    await out.close();
    await fsp.rename(tmp, target);
  } catch (err) {
    await out.close().catch(() => undefined);
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
  const fh = await fsp.open(src, "r");
  await cache.layout.ensure();
  const token = newOwnerToken();
  activeTokens.add(token);
  const staging = cache.layout.tmpPath(token, "import");
  try {
    const fileSize = (await fh.stat()).size;
    const members = await readMembers(fh, src, fileSize);
    const mm = members.find((m) => m.name === MANIFEST);
    if (!mm) throw new CacheArchiveError(src, `no ${MANIFEST} (not an AstroPile cache archive)`);
    if (mm.size > MAX_MANIFEST_BYTES) {
      throw new CacheArchiveError(src, `manifest of ${mm.size} bytes is larger than allowed`);
    }
    const mbuf = Buffer.alloc(mm.size);
    await fh.read(mbuf, 0, mm.size, mm.dataOffset);
    let parsed: unknown;
    try {
      parsed = JSON.parse(mbuf.toString("utf8"));
    } catch (err) {
      throw new CacheArchiveError(src, `manifest is not JSON (${(err as Error).message})`);
    }
    const manifest = checkManifest(parsed);
    if (typeof manifest === "string") {
      throw new CacheArchiveError(src, `invalid manifest: ${manifest}`);
    }
    const memberByName = new Map(members.map((m) => [m.name, m]));
    const byName = new Map(members.filter((m) => m !== mm).map((m) => [m.name, m]));
    const keys = new Set<string>();
    let total = 0;
    for (const e of manifest.entries) {
      if (keyForUrl(e.url) !== e.key) {
        throw new CacheArchiveError(src, `manifest key of ${e.url} is not the hash of its URL`);
      }
      if (keys.has(e.key)) throw new CacheArchiveError(src, `${e.url} is listed twice`);
      keys.add(e.key);
      const m = byName.get(`${ROOT}/entries/${e.key}/${e.file}`);
      if (!m) throw new CacheArchiveError(src, `data of ${e.url} is missing from the archive`);
      if (m.size !== e.size) {
        throw new CacheArchiveError(
          src,
          `data of ${e.url} has ${m.size} bytes, manifest says ${e.size}`,
        );
      }
      byName.delete(m.name);
      total += e.size;
    }
    if (byName.size > 0) {
      throw new CacheArchiveError(src, `member ${[...byName.keys()][0]} is not in the manifest`);
    }
    const fsStat = await fsp.statfs(cache.dir).catch(() => null);
    if (fsStat && total > fsStat.bavail * fsStat.bsize) {
      throw new CacheArchiveError(
        src,
        `needs ${total} bytes but only ${fsStat.bavail * fsStat.bsize} are free in ${cache.dir}`,
      );
    }

    // Stage every file (hashing as we copy) before anything reaches the cache.
    await fsp.mkdir(staging);
    const chunk = Buffer.alloc(COPY_CHUNK);
    const staged: { entry: ArchiveEntry; path: string }[] = [];
    for (const e of manifest.entries) {
      const m = memberByName.get(`${ROOT}/entries/${e.key}/${e.file}`)!;
      const out = await fsp.open(path.join(staging, e.key), "wx");
      const hash = createHash("sha256");
      try {
        let done = 0;
        while (done < e.size) {
          const n = Math.min(COPY_CHUNK, e.size - done);
          const { bytesRead } = await fh.read(chunk, 0, n, m.dataOffset + done);
          if (bytesRead !== n) throw new CacheArchiveError(src, `truncated data of ${e.url}`);
          hash.update(chunk.subarray(0, n));
          await out.write(chunk, 0, n, done);
          done += n;
        }
      } finally {
        await out.close();
      }
      const actual = hash.digest("hex");
      if (actual !== e.sha256) {
        throw new CacheArchiveError(
          src,
          `sha256 of ${e.url} is ${actual}, manifest says ${e.sha256}`,
        );
      }
      staged.push({ entry: e, path: path.join(staging, e.key) });
    }

    let imported = 0;
    let skipped = 0;
    let bytes = 0;
    for (const s of staged) {
      const existing = await cache.lookup(s.entry.url);
      if (existing && (!options.overwrite || existing.sha256 === s.entry.sha256)) {
        skipped++;
        continue;
      }
      await cache.adopt(s.path, s.entry);
      imported++;
      bytes += s.entry.size;
    }
    await cache.enforceLimit(new Set(staged.map((s) => s.entry.key)));
    return { file: src, imported, skipped, bytes };
  } finally {
    await fh.close();
    await fsp.rm(staging, { recursive: true, force: true });
    activeTokens.delete(token);
  }
}
