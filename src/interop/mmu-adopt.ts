// Multimodal Universe (MMU) v1 trees used in place, read-only: `<survey>/<config>/healpix=N/*.hdf5`
// written by h5py from astropy Tables, with no astropile.json. Adopting a tree scans it once and
// writes what AstroPile needs beyond the files into an index directory (never into the tree
// unless asked): a derived manifest (configs, columns, per-file shapes, rows, pixel and
// `_healpix_29` ranges computed from ra/dec, sizes), the positions sidecar and the object_id
// index, plus a link per data file, so the index directory is a dataset root every reader
// (openDataset, the CLI, the cross-match workers) opens as it is. The tree's files are read
// through those links: nothing is copied or converted.
//
// The index records each file's size and mtime; any difference (a file changed, added or
// removed) makes it stale, and readers refuse it with a NotAdoptedError naming the file and the
// command to run. MMU files are not sorted by `_healpix_29` (most have no such column), so the
// manifest marks them `rowOrder: "any"`: cones, boxes and cross-matches prune files by their
// computed key ranges and filter rows by their ra/dec.
//
// A tree on a server (`https://…/survey` with Apache or nginx directory listings, or
// `s3://bucket/survey`) is adopted the same way: listed level by level (remote/listing.ts), each
// file read by byte ranges, the index kept locally, its links pointing at the files' virtual
// remote paths (storage/remote-hook.ts). The record keeps what the listing says of each file and
// the version (size, ETag / Last-Modified) the file had when read; a reopen lists the tree again,
// and a file whose version differs is refused when it is opened (RemoteChangedError).
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink } from "node:fs/promises";
import { basename, dirname, join, posix, relative, resolve } from "node:path";
import { defaultCacheDir } from "../cache/config.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import type { ColumnBatch, ColumnSpec, ColumnValues, Dtype } from "../core/columns.ts";
import {
  AstroPileError,
  type ErrorPlace,
  isAstroPileError,
  NotFoundError,
  SchemaError,
  UsageError,
} from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import { registerRootResolver } from "../dataset/source.ts";
import { datasetRoot, isRemoteUrl, redactUrl, remotePath, remoteUrl } from "../remote/index.ts";
import { remoteLister } from "../remote/listing.ts";
import {
  configureRemote,
  openRemoteFile,
  optionsFor,
  type RemoteOptions,
  readWholeRemote,
} from "../remote/remote-file.ts";
import type { Validator } from "../remote/transport.ts";
import { padRuleOf } from "../schema/padding.ts";
import { ang2pixOrder29 } from "../sky/index.ts";
import { ExternalSorter } from "../storage/external-sort.ts";
import { ID_INDEX_COLUMNS, idKeyFunction, writeIdIndex } from "../storage/id-index.ts";
import { fileListIdentity } from "../storage/identity.ts";
import { PARTITION_ORDER, PARTITION_SHIFT } from "../storage/layout.ts";
import {
  type ColumnEntry,
  emptyManifest,
  type FileEntry,
  type Manifest,
  readManifest,
  writeManifest,
} from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { PartitionWriter } from "../storage/partition-writer.ts";
import { copyPositions, objectIdSpecOf, PositionsWriter } from "../storage/positions.ts";
import { buildIdIndex } from "../storage/reindex.ts";
import { hatsCatalogError } from "./hats-read.ts";
import { MmuIfuFile } from "./mmu-ifu.ts";

/** An MMU tree that has no fresh index: the message says which command to run. */
export class NotAdoptedError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_NOT_ADOPTED";
}

/** A file of an MMU tree that cannot be adopted (reported, and skipped with `skipBad`). */
export interface BadMmuFile {
  /** Absolute path of the file (or directory). */
  file: string;
  /** The stable code of the error (e.g. ASTROPILE_SCHEMA, ASTROPILE_CORRUPT_FILE). */
  code: string;
  message: string;
  /** The column or member concerned, when there is one. */
  column?: string;
}

export interface AdoptProgress {
  /** "scan": listing the tree; "files": reading each file's columns and positions; "sidecars": positions and id index. */
  phase: "scan" | "files" | "sidecars";
  done: number;
  total: number;
  /** Path relative to the tree of the file being read. */
  file?: string;
}

export interface AdoptOptions {
  /**
   * Directory under which the index is kept (default `<cache dir>/mmu-index`, see
   * defaultCacheDir). The index of a tree is `<indexDir>/<name>-<hash of its absolute path>`.
   */
  indexDir?: string;
  /** Keep the index inside the tree, in `<dir>/.astropile-index` (the tree must be writable; not for remote trees). */
  inPlace?: boolean;
  /** How a remote tree (`http(s)://`, `s3://`) is read: endpoint, credentials, cache. */
  remote?: RemoteOptions;
  /** Report bad files (see {@link BadMmuFile}) and adopt the rest, instead of failing on the first. */
  skipBad?: boolean;
  /** Rebuild even when a fresh index exists. */
  force?: boolean;
  onProgress?: (progress: AdoptProgress) => void;
}

export interface AdoptResult {
  /** The tree: an absolute path, or the URL of a remote tree. */
  dir: string;
  /** The index directory: a dataset root openDataset reads. */
  indexRoot: string;
  /** True when a fresh index already existed and nothing was rebuilt. */
  reused: boolean;
  configs: string[];
  files: number;
  rows: number;
  /** Files left out (with `skipBad`). */
  skipped: BadMmuFile[];
}

/** The index's record of the tree: its path, and each adopted file's size and mtime. */
interface TreeRecord {
  format: "astropile-mmu-index";
  version: 1;
  tree: string;
  adopted: string;
  files: Array<{
    path: string;
    bytes: number;
    mtimeMs: number;
    /** Remote trees: what the listing said of the file (see RemoteEntry.stamp). */
    stamp?: string;
    /** Remote trees: the version the file had when it was read. */
    version?: Validator;
  }>;
  skipped: BadMmuFile[];
}

/** Name of the record beside the derived manifest in an index directory. */
export const TREE_RECORD_NAME = "mmu-tree.json";
/** Name of the index directory inside a tree adopted with `inPlace`. */
export const IN_PLACE_INDEX_NAME = ".astropile-index";
/**
 * Trees up to this many files and bytes are adopted on the fly by openDataset (and every CLI
 * command) into the default index directory; larger ones need `astropile adopt DIR`.
 */
export const ADOPT_ON_THE_FLY_MAX_FILES = 64;
/** Trees of at most this many bytes (and ADOPT_ON_THE_FLY_MAX_FILES files) are adopted on the fly. */
export const ADOPT_ON_THE_FLY_MAX_BYTES = 256 * 2 ** 20;

/** Rows of ra/dec read per call while computing keys. */
const READ_ROWS = 65536;
/** Memory for sorting one config's object_id index. */
const SORT_MEMORY_BYTES = 256 * 2 ** 20;
const PIXEL_DIR = /^healpix=(\d+)$/;
/** Pixels at MMU's order (4): 12 * 4^4. */
const PIXELS = 12 * 4 ** PARTITION_ORDER;

interface Listed {
  config: string;
  pixel: number;
  /** Relative to the tree, forward slashes. */
  path: string;
  /** Size in bytes; -1 when a remote listing does not say it exactly (learned on reading). */
  bytes: number;
  /** Local trees: the file's mtime; remote trees: 0. */
  mtimeMs: number;
  /** Remote trees: what the listing says of the file's version. */
  stamp?: string;
  /** Remote trees: the version the file had when adopt read it. */
  version?: Validator;
}

/** The URL of a remote tree given as a URL or as its virtual path, or null for a local tree. */
function remoteTree(dir: string): string | null {
  const url = isRemoteUrl(dir) ? dir : remoteUrl(dir);
  return url === null ? null : url.replace(/\/+$/, "");
}

/** The tree as adopt names it: an absolute directory, or a remote tree's URL. */
function treeOf(dir: string): string {
  return remoteTree(dir) ?? resolve(dir);
}

/** The tree as its index records it: a remote tree's URL without credentials or query. */
function recordedTree(tree: string): string {
  return isRemoteUrl(tree) ? redactUrl(tree) : tree;
}

/** The path a file of the tree is opened by (a remote file's virtual path). */
function fileOf(tree: string, rel: string): string {
  return isRemoteUrl(tree) ? remotePath(`${tree}/${rel}`) : join(tree, rel);
}

/** A file of the tree as errors name it (a remote file's URL, without credentials). */
function nameOf(tree: string, rel: string): string {
  return isRemoteUrl(tree) ? redactUrl(`${tree}/${rel}`) : join(tree, rel);
}

/** One level of a tree: its subdirectories and files (a local readdir, or a remote listing). */
interface TreeEntry {
  name: string;
  directory: boolean;
  bytes?: number;
  mtimeMs?: number;
  stamp?: string;
}

/** Lists a directory of the tree ("" for the top); `withStats`: sizes and mtimes of files. */
type TreeLister = (rel: string, withStats: boolean) => Promise<TreeEntry[]>;

/**
 * A lister that lists each directory once: the tree check and the full listing of one open ask
 * for the same levels (each a request on a remote tree). Made per open, so every open still sees
 * the tree as it is now.
 */
function onceLister(tree: string): TreeLister {
  let lister: Promise<TreeLister> | undefined;
  const seen = new Map<string, Promise<TreeEntry[]>>();
  return (rel, withStats) => {
    // A listing with stats serves one without; remote listings always carry them.
    const key = `${withStats || isRemoteUrl(tree) ? "s" : "n"}:${rel}`;
    let listed = seen.get(key) ?? (withStats ? undefined : seen.get(`s:${rel}`));
    if (!listed) {
      // Made at the first listing (an S3 tree is listed whole then), so its errors come there.
      lister ??= treeLister(tree);
      listed = lister.then((list) => list(rel, withStats));
      seen.set(key, listed);
    }
    return listed;
  };
}

async function treeLister(tree: string): Promise<TreeLister> {
  if (isRemoteUrl(tree)) {
    const list = await remoteLister(tree, optionsFor(`${tree}/`));
    return (rel) => list(rel);
  }
  return async (rel, withStats) => {
    const dir = join(tree, rel);
    const out: TreeEntry[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const entry: TreeEntry = { name: e.name, directory: e.isDirectory() };
      if (withStats && e.isFile()) {
        const s = await stat(join(dir, e.name));
        entry.bytes = s.size;
        entry.mtimeMs = s.mtimeMs;
      }
      out.push(entry);
    }
    return out;
  };
}

/** Where the index of `dir` lives (whether or not it exists). */
export function mmuIndexRoot(
  dir: string,
  options: Pick<AdoptOptions, "indexDir" | "inPlace"> = {},
): string {
  const tree = treeOf(dir);
  const remote = isRemoteUrl(tree);
  if (options.inPlace) {
    if (remote)
      throw new UsageError(
        `${redactUrl(tree)} is a remote tree: its index is kept locally (--index-dir), not in it`,
      );
    return join(tree, IN_PLACE_INDEX_NAME);
  }
  // ASTROPILE_MMU_INDEX_DIR: where every command looks when not told (adopt --index-dir D, then
  // ASTROPILE_MMU_INDEX_DIR=D for the commands that read the tree).
  const env = process.env.ASTROPILE_MMU_INDEX_DIR;
  const base = options.indexDir
    ? resolve(options.indexDir)
    : env
      ? resolve(env)
      : join(defaultCacheDir(), "mmu-index");
  // A remote tree is keyed by its URL without credentials or query (never written to disk).
  const key = remote ? redactUrl(tree) : tree;
  const hash = createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16);
  const last = remote
    ? (new URL(key).pathname.split("/").filter(Boolean).pop() ?? "")
    : basename(tree);
  const name = last.replace(/[^A-Za-z0-9._-]/g, "_") || "root";
  return join(base, `${name}-${hash}`);
}

/**
 * True when `dir` looks like an MMU survey directory: no astropile.json, and at least one
 * `<config>/healpix=N/` directory.
 */
export async function isMmuTree(dir: string): Promise<boolean> {
  const tree = treeOf(dir);
  return mmuTreeCheck(tree, onceLister(tree), false);
}

/**
 * isMmuTree with the open's lister and, when the caller already knows there is no astropile.json
 * (a 404, a failed stat), without asking again.
 */
async function mmuTreeCheck(
  tree: string,
  listLevel: TreeLister,
  manifestAbsent: boolean,
): Promise<boolean> {
  if (manifestAbsent) {
    // Known: no manifest.
  } else if (isRemoteUrl(tree)) {
    try {
      await readWholeRemote(`${tree}/astropile.json`);
      return false;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  } else {
    try {
      await stat(join(tree, "astropile.json"));
      return false;
    } catch {}
  }
  let configs: string[];
  try {
    configs = (await listLevel("", false))
      .filter((e) => e.directory && !e.name.startsWith("."))
      .map((e) => e.name);
  } catch (err) {
    // A remote tree that cannot be listed is an error worth seeing; a local one is "not a tree".
    if (isRemoteUrl(tree) && !(err instanceof NotFoundError)) throw err;
    return false;
  }
  for (const c of configs) {
    const inner = await listLevel(c, false).catch(() => [] as TreeEntry[]);
    if (inner.some((e) => e.directory && PIXEL_DIR.test(e.name))) return true;
  }
  return false;
}

/** Lists the tree's partition files (sorted by config, pixel, name) and empty pixel directories. */
async function listTree(
  tree: string,
  listLevel: TreeLister,
): Promise<{ files: Listed[]; empty: string[]; odd: string[] }> {
  const files: Listed[] = [];
  const empty: string[] = [];
  // healpix=... directories that are no order-4 pixel (healpix=abc, healpix=99999): their files
  // would be dropped without a word, or adopted under a pixel no reader can plan.
  const odd: string[] = [];
  const configs = (await listLevel("", false))
    .filter((e) => e.directory && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
  for (const config of configs) {
    const pixels: Array<{ name: string; pixel: number }> = [];
    for (const e of await listLevel(config, false)) {
      if (!e.directory || !e.name.startsWith("healpix=")) continue;
      const m = PIXEL_DIR.exec(e.name);
      const pixel = m ? Number(m[1]) : -1;
      if (pixel >= 0 && pixel < PIXELS) pixels.push({ name: e.name, pixel });
      else odd.push(nameOf(tree, posix.join(config, e.name)));
    }
    pixels.sort((a, b) => a.pixel - b.pixel);
    for (const { name, pixel } of pixels) {
      const entries = (await listLevel(posix.join(config, name), true))
        .filter((e) => !e.directory && e.name.endsWith(".hdf5") && !e.name.startsWith("."))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (entries.length === 0) empty.push(nameOf(tree, posix.join(config, name)));
      for (const e of entries) {
        const listed: Listed = {
          config,
          pixel,
          path: posix.join(config, name, e.name),
          bytes: e.bytes ?? -1,
          mtimeMs: e.mtimeMs ?? 0,
        };
        if (e.stamp !== undefined) listed.stamp = e.stamp;
        files.push(listed);
      }
    }
  }
  return { files, empty, odd };
}

/** What scanFile tells the caller: the file's columns (which may refuse it), then its rows. */
interface ScanHooks {
  /** Throws (a SchemaError) to refuse the file before any row is read. */
  accept(columns: ColumnEntry[]): void;
  /** ra, dec and object_id of a block of rows, in file order. */
  rows(batch: ColumnBatch): Promise<void>;
}

/**
 * A config's sidecars written during the scan (each file is opened once). Falls back to copying
 * from the files after the scan (`broken`) when a file failed half-way, or when object_id strings
 * turn out longer than the first file's (the sidecar's column is fixed-length).
 */
interface StreamedSidecars {
  spec: ColumnSpec;
  positions: PositionsWriter;
  sorter: ExternalSorter;
  key: (values: ColumnValues, i: number) => bigint;
  scratch: string;
  /** Ordinal of the file being scanned in the config's file list. */
  ordinal: number;
  row: number;
  broken: boolean;
}

/** What one file holds, as adopt reads it. */
interface Scanned {
  listed: Listed;
  columns: ColumnEntry[];
  rows: number;
  keyMin: bigint;
  keyMax: bigint;
  /** Rows sorted by a `_healpix_29` column equal to the keys computed from ra/dec. */
  sorted: boolean;
  attrs: Record<string, unknown>;
  /**
   * A group-per-object (MaNGA) file: its objects' scalars as catalog rows, written into the index
   * as a derived catalog file (the tree's file stays where it is; MmuIfuFile reads its IFU data).
   */
  catalog?: ColumnBatch;
}

function fail(message: string, options: ErrorPlace): never {
  throw new SchemaError(message, options);
}

/** Reads one file's columns, rows and key range (ra/dec in blocks). */
async function scanFile(tree: string, listed: Listed, hooks: ScanHooks): Promise<Scanned> {
  const path = fileOf(tree, listed.path);
  const file = await PartitionFile.open(path);
  try {
    const infos = file.columns();
    if (infos.length === 0) {
      const scanned = await scanGroupFile(path, listed);
      hooks.accept(scanned.columns);
      await hooks.rows(scanned.catalog!);
      return scanned;
    }
    for (const c of ["ra", "dec", "object_id"]) {
      if (!infos.some((i) => i.name === c))
        fail(`no "${c}" column: an MMU file needs object_id, ra and dec`, {
          file: path,
          column: c,
        });
    }
    // A column of a type AstroPile does not read (float16, complex): the file is reported as
    // bad input naming it (it would otherwise reach the manifest as no type at all).
    for (const i of infos)
      if ((i.dtype as string) === "unsupported")
        fail(`column "${i.name}" is stored as ${i.storedAs}, a type AstroPile does not read`, {
          file: path,
          column: i.name,
        });
    for (const c of ["ra", "dec"]) {
      const info = infos.find((i) => i.name === c)!;
      if ((info.dtype !== "float64" && info.dtype !== "float32") || info.shape.length !== 0)
        fail(`"${c}" is ${info.dtype}[${info.shape.join(", ")}], not a float per row`, {
          file: path,
          column: c,
        });
    }
    const columns: ColumnEntry[] = infos.map((i) => {
      const entry: ColumnEntry = { name: i.name, dtype: i.dtype as Dtype, shape: i.shape };
      if (i.stringLength !== undefined) entry.stringLength = i.stringLength;
      return entry;
    });
    hooks.accept(columns);
    const hasKeys = infos.some(
      (i) => i.name === "_healpix_29" && i.dtype === "int64" && i.shape.length === 0,
    );
    let keyMin = 0n;
    let keyMax = -1n;
    let sorted = hasKeys;
    let last = -1n;
    for (let at = 0; at < file.length; at += READ_ROWS) {
      const end = Math.min(file.length, at + READ_ROWS);
      const names = hasKeys
        ? ["ra", "dec", "object_id", "_healpix_29"]
        : ["ra", "dec", "object_id"];
      const batch = file.readRange(names, at, end);
      await hooks.rows(batch);
      const ra = batch.ra as Float64Array;
      const dec = batch.dec as Float64Array;
      for (let i = 0; i < ra.length; i++) {
        if (!(Number.isFinite(ra[i]) && Number.isFinite(dec[i]) && Math.abs(dec[i]) <= 90))
          fail(`row ${at + i} has ra ${ra[i]}, dec ${dec[i]}: not a position on the sky`, {
            file: path,
            column: "ra",
          });
      }
      const keys = ang2pixOrder29(ra, dec);
      const stored = hasKeys ? (batch._healpix_29 as BigInt64Array) : null;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        if (at + i === 0) {
          keyMin = k;
          keyMax = k;
        } else {
          if (k < keyMin) keyMin = k;
          if (k > keyMax) keyMax = k;
        }
        if (sorted && (stored![i] !== k || k < last)) sorted = false;
        last = k;
      }
    }
    return { listed, columns, rows: file.length, keyMin, keyMax, sorted, attrs: file.attrs() };
  } finally {
    file.close();
  }
}

/** Members every object of a MaNGA file must have (checked on adopt, cheaply: names only). */
const IFU_MEMBERS = ["object_id", "ra", "dec", "spaxels", "images", "maps"];

/** Columns of the catalog derived from a MaNGA file: the scalars of each object. */
const IFU_CATALOG: ColumnEntry[] = [
  { name: "object_id", dtype: "string", shape: [], stringLength: 64 },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
  { name: "healpix", dtype: "int64", shape: [] },
  { name: "z", dtype: "float32", shape: [] },
  { name: "spaxel_size", dtype: "float32", shape: [] },
  /** Where the object's IFU data is: the tree file (relative path) and the group's place in it. */
  { name: "mmu_file", dtype: "string", shape: [], stringLength: 255 },
  { name: "mmu_object", dtype: "int32", shape: [] },
];

/** A group-per-object (MaNGA) file: its objects' scalars and key range. */
async function scanGroupFile(path: string, listed: Listed): Promise<Scanned> {
  const ifu = await MmuIfuFile.open(path);
  try {
    for (const object of ifu.objects) {
      const members = ifu.members(object);
      for (const m of IFU_MEMBERS)
        if (!members.includes(m))
          fail(`object "${object}" has no member "${m}"`, { file: path, column: `${object}/${m}` });
    }
    const { ra, dec, objectId } = ifu.positions();
    const n = ra.length;
    const healpix = new BigInt64Array(n);
    const z = new Float32Array(n).fill(Number.NaN);
    const spaxelSize = new Float32Array(n).fill(Number.NaN);
    for (let i = 0; i < n; i++) {
      if (!(Number.isFinite(ra[i]) && Number.isFinite(dec[i]) && Math.abs(dec[i]) <= 90))
        fail(
          `object "${ifu.objects[i]}" has ra ${ra[i]}, dec ${dec[i]}: not a position on the sky`,
          {
            file: path,
            column: `${ifu.objects[i]}/ra`,
          },
        );
      const members = ifu.members(ifu.objects[i]!);
      if (members.includes("z")) z[i] = Number(ifu.scalar(ifu.objects[i]!, "z"));
      if (members.includes("spaxel_size"))
        spaxelSize[i] = Number(ifu.scalar(ifu.objects[i]!, "spaxel_size"));
    }
    const keys = ang2pixOrder29(ra, dec);
    let keyMin = keys[0] ?? 0n;
    let keyMax = keys[0] ?? -1n;
    for (let i = 0; i < n; i++) {
      healpix[i] = keys[i]! >> PARTITION_SHIFT;
      if (keys[i]! < keyMin) keyMin = keys[i]!;
      if (keys[i]! > keyMax) keyMax = keys[i]!;
    }
    if (Buffer.byteLength(listed.path) > 255)
      fail(`a path of more than 255 bytes inside the tree`, { file: path });
    const longest = objectId.reduce((a, id) => Math.max(a, Buffer.byteLength(id)), 1);
    if (longest > 64)
      fail(`an object_id of ${longest} bytes is longer than 64`, {
        file: path,
        column: "object_id",
      });
    const attrs: Record<string, unknown> = { ...ifu.provenance };
    return {
      listed,
      columns: IFU_CATALOG,
      rows: n,
      keyMin,
      keyMax,
      sorted: false,
      attrs,
      catalog: {
        object_id: objectId,
        ra,
        dec,
        healpix,
        z,
        spaxel_size: spaxelSize,
        mmu_file: new Array<string>(n).fill(listed.path),
        mmu_object: Int32Array.from({ length: n }, (_, i) => i),
      },
    };
  } finally {
    ifu.close();
  }
}

/** A file's columns against its config's (the first good file's): same names and dtypes; spectra may differ in length. */
function schemaProblem(
  config: ColumnEntry[],
  file: ColumnEntry[],
): { message: string; column: string } | null {
  const mine = new Map(file.map((c) => [c.name, c]));
  for (const c of config) {
    const f = mine.get(c.name);
    if (!f)
      return {
        message: `lacks column "${c.name}" that other files of its config have`,
        column: c.name,
      };
    if (f.dtype !== c.dtype)
      return {
        message: `column "${c.name}" is ${f.dtype} here, ${c.dtype} in other files of its config`,
        column: c.name,
      };
    const sameShape = f.shape.join("x") === c.shape.join("x");
    if (!sameShape && !(padRuleOf(c.name) && f.shape.length === 1 && c.shape.length === 1))
      return {
        message: `column "${c.name}" is [${f.shape.join(", ")}] per row here, [${c.shape.join(", ")}] in other files of its config`,
        column: c.name,
      };
  }
  for (const f of file)
    if (!config.some((c) => c.name === f.name))
      return {
        message: `has column "${f.name}" that other files of its config lack`,
        column: f.name,
      };
  return null;
}

/** The SHA-256 field of an adopted file: a digest of its path, size and mtime (the data is not hashed). */
function statDigest(l: Listed): string {
  const version = l.version ? (l.version.etag ?? l.version.lastModified ?? "") : l.mtimeMs;
  return createHash("sha256")
    .update(`mmu-stat ${l.path} ${l.bytes} ${version}`, "utf8")
    .digest("hex");
}

/**
 * Registers the versions an adopted remote tree's files had when read: each file is opened with
 * If-Match and checked, so a file replaced on the server is refused (RemoteChangedError).
 */
function expectVersions(tree: string, record: TreeRecord): void {
  const versions: Record<string, Validator> = {};
  for (const f of record.files) if (f.version) versions[`${tree}/${f.path}`] = f.version;
  configureRemote(tree, { ...optionsFor(`${tree}/`), versions });
}

function badOf(err: unknown, file: string): BadMmuFile {
  if (isAstroPileError(err)) {
    const e = err as AstroPileError & { column?: string };
    // The message without its "(file ..., column ...)" place: the report (and the error made
    // from it) names the place itself.
    const place = / \(file [^()]*(\([^()]*\)[^()]*)*\)$/;
    const message = e.file ? e.message.replace(place, "") : e.message;
    const bad: BadMmuFile = { file: e.file ?? file, code: e.code, message };
    if (e.column) bad.column = e.column;
    return bad;
  }
  throw err;
}

/**
 * Adopts an MMU survey directory (see the module comment): scans it with progress, writes the
 * derived manifest, positions sidecar and object_id index into its index directory (see
 * {@link mmuIndexRoot}), and returns where. A fresh index is reused unless `force`. Never
 * writes into `dir` unless `inPlace`.
 * @throws NotFoundError / SchemaError / CorruptFileError naming the file (and column) of the
 * first bad file, unless `skipBad`; UsageError when `dir` is not an MMU tree.
 */
export async function adoptMmuTree(dir: string, options: AdoptOptions = {}): Promise<AdoptResult> {
  const tree = treeOf(dir);
  const remote = isRemoteUrl(tree);
  // A remote tree's files are read by byte ranges with the caller's options (checked against
  // no earlier versions: adopt reads what the server has now).
  if (remote)
    configureRemote(tree, { ...(options.remote ?? optionsFor(`${tree}/`)), versions: {} });
  const lister = onceLister(tree);
  if (!(await mmuTreeCheck(tree, lister, false)))
    throw new UsageError(
      `${remote ? redactUrl(tree) : tree} is not a Multimodal Universe survey directory (<config>/healpix=N/*.hdf5, no astropile.json)`,
    );
  const indexRoot = mmuIndexRoot(tree, options);
  const report = (p: AdoptProgress) => options.onProgress?.(p);
  report({ phase: "scan", done: 0, total: 1 });
  const { files: listed, empty, odd } = await listTree(tree, lister);
  report({ phase: "scan", done: 1, total: 1 });
  if (!options.force) {
    const record = await readRecord(indexRoot);
    if (
      record &&
      record.tree === recordedTree(tree) &&
      staleReason(record, listed, tree) === null
    ) {
      if (remote) expectVersions(tree, record);
      return {
        dir: remote ? redactUrl(tree) : tree,
        indexRoot,
        reused: true,
        configs: [...new Set(record.files.map((f) => f.path.split("/")[0]!))],
        files: record.files.length,
        rows: (await readManifest(indexRoot)).files.reduce((a, f) => a + f.rows, 0),
        skipped: record.skipped,
      };
    }
  }
  const skipped: BadMmuFile[] = [];
  const bad = (b: BadMmuFile) => {
    if (!options.skipBad)
      throw new SchemaError(`${b.message} (adopt with --skip-bad to leave it out)`, {
        file: b.file,
        ...(b.column ? { column: b.column } : {}),
      });
    skipped.push(b);
  };
  for (const e of empty)
    bad({ file: e, code: SchemaError.code, message: "empty pixel directory: no .hdf5 file in it" });
  for (const e of odd)
    bad({
      file: e,
      code: SchemaError.code,
      message: `not a pixel directory: Multimodal Universe names them healpix=N with N an order-${PARTITION_ORDER} pixel (0 to ${PIXELS - 1}); its files are not adopted`,
    });
  // A remote file is read by its URL, which these characters would change.
  const readable = remote
    ? listed.filter((l) => {
        if (!/[%#?\\]/.test(l.path)) return true;
        bad({
          file: nameOf(tree, l.path),
          code: SchemaError.code,
          message: "a file name with %, #, ? or \\ cannot be read by URL",
        });
        return false;
      })
    : listed;
  const scanned: Scanned[] = [];
  const schemas = new Map<string, ColumnEntry[]>();
  // Built beside the final place and swapped in: a reader never sees half an index.
  const temp = `${indexRoot}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  const streams = new Map<string, StreamedSidecars>();
  try {
    for (const [i, l] of readable.entries()) {
      report({ phase: "files", done: i, total: readable.length, file: l.path });
      let stream = streams.get(l.config);
      let s: Scanned;
      let started = false;
      try {
        s = await scanFile(tree, l, {
          accept: (columns) => {
            const schema = schemas.get(l.config);
            if (schema) {
              const problem = schemaProblem(schema, columns);
              if (problem)
                fail(problem.message, { file: nameOf(tree, l.path), column: problem.column });
            }
          },
          rows: async (batch) => {
            if (!stream) return;
            started = true;
            if (stream.broken) return;
            const ids = batch.object_id!;
            if (
              stream.spec.dtype === "string" &&
              (ids as string[]).some((id) => Buffer.byteLength(id) > stream!.spec.stringLength!)
            ) {
              stream.broken = true;
              return;
            }
            stream.positions.append(batch);
            const n = ids.length;
            const id_key = new BigInt64Array(n);
            for (let k = 0; k < n; k++) id_key[k] = stream.key(ids, k);
            const row = Uint32Array.from({ length: n }, (_, k) => stream!.row + k);
            stream.row += n;
            await stream.sorter.add(
              { id_key, file: new Uint32Array(n).fill(stream.ordinal), row },
              n,
            );
          },
        });
      } catch (err) {
        if (stream && started) stream.broken = true;
        // The server failing (network, credentials, a file changing) is not a bad file.
        if (isAstroPileError(err) && (err as AstroPileError).code.startsWith("ASTROPILE_REMOTE"))
          throw err;
        bad(badOf(err, nameOf(tree, l.path)));
        continue;
      }
      if (remote) {
        // The version read is the one recorded: a later change is refused, never mixed in.
        const { version } = openRemoteFile(`${tree}/${l.path}`);
        l.version = { size: version.size, etag: version.etag, lastModified: version.lastModified };
        l.bytes = version.size;
      }
      if (!schemas.has(l.config)) {
        schemas.set(l.config, s.columns);
        // The first good file of a config: its sidecars start now, from its rows (read again
        // below, once, since the stream did not exist while it was scanned).
        stream = await startSidecars(temp, l.config, s.columns);
        streams.set(l.config, stream);
        await feedFromFile(stream, s.catalog ? null : fileOf(tree, l.path), s);
      }
      if (stream) {
        stream.ordinal++;
        stream.row = 0;
      }
      scanned.push(s);
    }
    report({ phase: "files", done: readable.length, total: readable.length });
    if (scanned.length === 0)
      throw new SchemaError("no adoptable file in the tree", { file: tree });
    const derived = new Map<string, { bytes: number; sha256: string }>();
    for (const s of scanned) {
      if (!s.catalog) continue;
      const path = join(temp, s.listed.path);
      await mkdir(dirname(path), { recursive: true });
      const writer = await PartitionWriter.create(path, s.columns, {
        compression: "gzip",
        contentDigest: false,
      });
      writer.append(s.catalog);
      const written = await writer.close();
      derived.set(s.listed.path, { bytes: written.bytes, sha256: written.sha256 });
    }
    const manifest = deriveManifest(tree, scanned, derived);
    for (const f of manifest.files) {
      if (derived.has(f.path)) continue;
      const link = join(temp, f.path);
      await mkdir(dirname(link), { recursive: true });
      // Relative links keep an in-place index valid when the tree moves; absolute otherwise. A
      // remote file's link points at its virtual path (storage/remote-hook.ts followRemoteLink).
      const target = fileOf(tree, f.path);
      await symlink(
        options.inPlace ? relative(dirname(join(indexRoot, f.path)), target) : target,
        link,
      );
    }
    await writeManifest(temp, manifest);
    const configs = Object.keys(manifest.configs);
    for (const [k, config] of configs.entries()) {
      report({ phase: "sidecars", done: k, total: configs.length });
      const stream = streams.get(config)!;
      streams.delete(config);
      await finishSidecars(temp, manifest, config, stream);
    }
    report({ phase: "sidecars", done: configs.length, total: configs.length });
    await writeManifest(temp, manifest);
    const used = new Set(manifest.files.map((f) => f.path));
    const record: TreeRecord = {
      format: "astropile-mmu-index",
      version: 1,
      tree: recordedTree(tree),
      adopted: new Date().toISOString(),
      files: listed
        .filter((l) => used.has(l.path))
        .map((l) => ({
          path: l.path,
          bytes: l.bytes,
          mtimeMs: l.mtimeMs,
          ...(l.stamp !== undefined ? { stamp: l.stamp } : {}),
          ...(l.version ? { version: l.version } : {}),
        })),
      skipped,
    };
    await writeFileAtomic(join(temp, TREE_RECORD_NAME), `${JSON.stringify(record, null, 1)}\n`);
    await mkdir(dirname(indexRoot), { recursive: true });
    await rm(indexRoot, { recursive: true, force: true });
    await rename(temp, indexRoot);
  } catch (err) {
    for (const st of streams.values()) {
      await st.positions.abort().catch(() => {});
      await st.sorter.close().catch(() => {});
    }
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  if (remote) expectVersions(tree, (await readRecord(indexRoot))!);
  return {
    dir: remote ? redactUrl(tree) : tree,
    indexRoot,
    reused: false,
    configs: [...new Set(scanned.map((s) => s.listed.config))],
    files: scanned.length,
    rows: scanned.reduce((a, s) => a + s.rows, 0),
    skipped,
  };
}

/** A config's streamed sidecars, started at its first good file. */
async function startSidecars(
  root: string,
  config: string,
  columns: ColumnEntry[],
): Promise<StreamedSidecars> {
  const id = columns.find((c) => c.name === "object_id")!;
  const spec: ColumnSpec = { name: "object_id", dtype: id.dtype, shape: id.shape };
  if (id.stringLength !== undefined) spec.stringLength = id.stringLength;
  const scratch = join(root, `.scratch-${config}`);
  return {
    spec,
    positions: await PositionsWriter.create(root, config, spec),
    sorter: new ExternalSorter(ID_INDEX_COLUMNS, "id_key", scratch, SORT_MEMORY_BYTES),
    key: idKeyFunction(spec),
    scratch,
    ordinal: 0,
    row: 0,
    broken: false,
  };
}

/** Feeds the first file of a config (scanned before its stream existed). */
async function feedFromFile(
  stream: StreamedSidecars,
  path: string | null,
  s: Scanned,
): Promise<void> {
  const add = async (batch: ColumnBatch) => {
    stream.positions.append(batch);
    const ids = batch.object_id!;
    const n = ids.length;
    const id_key = new BigInt64Array(n);
    for (let k = 0; k < n; k++) id_key[k] = stream.key(ids, k);
    const row = Uint32Array.from({ length: n }, (_, k) => stream.row + k);
    stream.row += n;
    await stream.sorter.add({ id_key, file: new Uint32Array(n).fill(stream.ordinal), row }, n);
  };
  if (!path) return add(s.catalog!);
  const file = await PartitionFile.open(path, { expectRows: s.rows });
  try {
    for (let at = 0; at < s.rows; at += READ_ROWS)
      await add(file.readRange(["ra", "dec", "object_id"], at, Math.min(s.rows, at + READ_ROWS)));
  } finally {
    file.close();
  }
}

/** Closes a config's streamed sidecars into the manifest, or rebuilds them from the files. */
async function finishSidecars(
  root: string,
  manifest: Manifest,
  config: string,
  stream: StreamedSidecars,
): Promise<void> {
  const files = manifest.files.filter((f) => f.config === config);
  const fileList = fileListIdentity(config, files);
  const column = manifest.configs[config]!.columns.find((c) => c.name === "object_id")!;
  try {
    if (stream.broken || column.stringLength !== stream.spec.stringLength) {
      await stream.positions.abort();
      return await writeSidecars(root, manifest, config);
    }
    const positions = await stream.positions.close(fileList);
    const idIndex = await writeIdIndex(root, config, stream.sorter, fileList);
    manifest.configs[config] = { ...manifest.configs[config]!, positions, idIndex };
  } finally {
    await stream.sorter.close();
    await rm(stream.scratch, { recursive: true, force: true });
  }
}

/** Positions sidecar and object_id index of one config, recorded in the manifest. */
async function writeSidecars(root: string, manifest: Manifest, config: string): Promise<void> {
  const files = manifest.files.filter((f) => f.config === config);
  const fileList = fileListIdentity(config, files);
  const positions = await copyPositions(
    root,
    config,
    objectIdSpecOf(manifest, config),
    files.map((f) => ({ path: join(root, f.path), fileRows: f.rows, start: 0, end: f.rows })),
    fileList,
  );
  const idIndex = await buildIdIndex(root, config, manifest, files, fileList, {}, () => {});
  manifest.configs[config] = { ...manifest.configs[config]!, positions, idIndex };
}

/** The derived manifest: one config per config directory, files in pixel order. */
function deriveManifest(
  tree: string,
  scanned: Scanned[],
  derived: Map<string, { bytes: number; sha256: string }>,
): Manifest {
  const attrs = scanned[0]!.attrs;
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const provenance: Manifest["provenance"] = { survey: text(attrs.survey) ?? basename(tree) };
  if (text(attrs.project)) provenance.project = text(attrs.project)!;
  if (text(attrs.release)) provenance.release = text(attrs.release)!;
  // A URL is recorded without credentials (they are never written to disk).
  provenance.adoptedFrom = isRemoteUrl(tree) ? redactUrl(tree) : tree;
  const manifest = emptyManifest(basename(tree), provenance, "mmu");
  const configs = [...new Set(scanned.map((s) => s.listed.config))];
  for (const config of configs) {
    const mine = scanned.filter((s) => s.listed.config === config);
    // The config's shape of each column: the longest of its files (shorter ones padded on read).
    const columns: ColumnEntry[] = mine[0]!.columns.map((c) => {
      const out = { ...c, shape: [...c.shape] };
      for (const s of mine) {
        const f = s.columns.find((x) => x.name === c.name)!;
        if (f.shape.length === 1 && f.shape[0]! > out.shape[0]!) out.shape = [f.shape[0]!];
        if (f.stringLength !== undefined && f.stringLength > (out.stringLength ?? 0))
          out.stringLength = f.stringLength;
      }
      return out;
    });
    manifest.configs[config] = {
      columns,
      rows: mine.reduce((a, s) => a + s.rows, 0),
    };
    for (const s of mine) {
      const entry: FileEntry = {
        path: s.listed.path,
        config,
        order: PARTITION_ORDER,
        pixel: s.listed.pixel,
        keyMin: (s.rows > 0 ? s.keyMin : 0n).toString(),
        keyMax: (s.rows > 0 ? s.keyMax : 0n).toString(),
        rows: s.rows,
        bytes: derived.get(s.listed.path)?.bytes ?? s.listed.bytes,
        sha256: derived.get(s.listed.path)?.sha256 ?? statDigest(s.listed),
      };
      // A sorted file whose keys stay in its pixel reads like an AstroPile file; any other is "any".
      const inPixel =
        s.rows === 0 ||
        (s.keyMin >> PARTITION_SHIFT === BigInt(s.listed.pixel) &&
          s.keyMax >> PARTITION_SHIFT === BigInt(s.listed.pixel));
      if (!(s.sorted && inPixel)) entry.rowOrder = "any";
      const shapes = emptyRecord<number[]>();
      const lengths = emptyRecord<number>();
      for (const c of columns) {
        const f = s.columns.find((x) => x.name === c.name)!;
        if (f.shape.join("x") !== c.shape.join("x")) shapes[c.name] = f.shape;
        if (f.stringLength !== c.stringLength && f.stringLength !== undefined)
          lengths[c.name] = f.stringLength;
      }
      if (Object.keys(shapes).length > 0) entry.shapes = shapes;
      if (Object.keys(lengths).length > 0) entry.stringLengths = lengths;
      manifest.files.push(entry);
    }
  }
  return manifest;
}

async function readRecord(indexRoot: string): Promise<TreeRecord | null> {
  try {
    const record = JSON.parse(
      await readFile(join(indexRoot, TREE_RECORD_NAME), "utf8"),
    ) as TreeRecord;
    return record.format === "astropile-mmu-index" && record.version === 1 ? record : null;
  } catch {
    return null;
  }
}

/** Why the record no longer describes the tree (a file changed, added or removed), or null. */
function staleReason(record: TreeRecord, listed: Listed[], tree: string): string | null {
  const now = new Map(listed.map((l) => [l.path, l]));
  for (const f of record.files) {
    const l = now.get(f.path);
    const name = nameOf(tree, f.path);
    if (!l) return `${name} was removed since the tree was adopted`;
    if (isRemoteUrl(tree)) {
      // A listing says what it can: S3 an ETag and the size, nginx a date and the size, Apache a
      // date and a rounded size. The version check on opening the file catches the rest.
      if (l.stamp !== f.stamp || (l.bytes >= 0 && l.bytes !== f.bytes))
        return `${name} changed since the tree was adopted (listed as ${f.stamp ?? "?"}, ${f.bytes} bytes; now ${l.stamp ?? "?"}${l.bytes >= 0 ? `, ${l.bytes} bytes` : ""})`;
    } else if (l.bytes !== f.bytes || l.mtimeMs !== f.mtimeMs)
      return `${name} changed since the tree was adopted (size ${f.bytes} -> ${l.bytes} bytes, mtime ${new Date(f.mtimeMs).toISOString()} -> ${new Date(l.mtimeMs).toISOString()})`;
    now.delete(f.path);
  }
  const skipped = new Set(record.skipped.map((s) => s.file));
  for (const l of now.values())
    if (!skipped.has(nameOf(tree, l.path)))
      return `${nameOf(tree, l.path)} was added since the tree was adopted`;
  return null;
}

export interface OpenMmuOptions extends Pick<AdoptOptions, "indexDir" | "onProgress" | "remote"> {
  /** Adopt small trees on the fly (see ADOPT_ON_THE_FLY_MAX_FILES); default true. */
  adoptSmall?: boolean;
}

/**
 * The dataset root to read for an MMU tree: its fresh index (in the tree with `inPlace`, else
 * under `indexDir`); a small tree without one is adopted on the fly into `indexDir`; else a
 * NotAdoptedError says which command to run. Returns null when `dir` is not an MMU tree.
 */
export async function mmuDatasetRoot(
  dir: string,
  options: OpenMmuOptions = {},
): Promise<string | null> {
  return mmuRootOf(dir, options, false);
}

/** mmuDatasetRoot, told whether `dir` is already known to have no astropile.json. */
async function mmuRootOf(
  dir: string,
  options: OpenMmuOptions,
  manifestAbsent: boolean,
): Promise<string | null> {
  const tree = treeOf(dir);
  const remote = isRemoteUrl(tree);
  if (remote && options.remote) configureRemote(tree, options.remote);
  const lister = onceLister(tree);
  if (!(await mmuTreeCheck(tree, lister, manifestAbsent))) return null;
  const { files: listed } = await listTree(tree, lister);
  let reason = "it has not been adopted";
  const roots = remote
    ? [mmuIndexRoot(tree, options)]
    : [mmuIndexRoot(tree, { inPlace: true }), mmuIndexRoot(tree, options)];
  for (const root of roots) {
    const record = await readRecord(root);
    if (!record || record.tree !== recordedTree(tree)) continue;
    const why = staleReason(record, listed, tree);
    if (why === null) {
      if (remote) expectVersions(tree, record);
      return root;
    }
    reason = why;
  }
  const bytes = listed.reduce((a, l) => a + Math.max(0, l.bytes), 0);
  const small = listed.length <= ADOPT_ON_THE_FLY_MAX_FILES && bytes <= ADOPT_ON_THE_FLY_MAX_BYTES;
  const shown = remote ? redactUrl(tree) : tree;
  const command = `astropile adopt ${JSON.stringify(shown)}${options.indexDir ? ` --index-dir ${JSON.stringify(resolve(options.indexDir))}` : ""}`;
  if (small && options.adoptSmall !== false) {
    // A changed tree is adopted again in full; a bad file fails here as it would in adopt.
    return (
      await adoptMmuTree(tree, {
        indexDir: options.indexDir,
        force: true,
        onProgress: options.onProgress,
        ...(options.remote ? { remote: options.remote } : {}),
      })
    ).indexRoot;
  }
  throw new NotAdoptedError(
    `${shown} is a Multimodal Universe tree without a current index: ${reason}. Run \`${command}\` (${listed.length} files${bytes > 0 ? `, ${bytes} bytes` : ""}; trees up to ${ADOPT_ON_THE_FLY_MAX_FILES} files and ${ADOPT_ON_THE_FLY_MAX_BYTES / 2 ** 20} MiB are adopted on the fly)`,
    { file: shown },
  );
}

// openDataset (and everything built on Source.open) reads MMU trees through their index.
// Resolvers are asked only for a location without a manifest (a failed stat, a 404).
registerRootResolver((dir) => mmuRootOf(dir, {}, true));

/** @internal For tests: whether `path` inside an index is a link (never a copy of data). */
export async function isLink(path: string): Promise<boolean> {
  return (await lstat(path)).isSymbolicLink();
}

/**
 * The dataset root to read for `dir`: an MMU tree's index (see {@link mmuDatasetRoot}), else
 * `dir` itself (an AstroPile dataset); a HATS catalog directory is a UsageError naming
 * openHatsCatalog. What every CLI command calls before opening.
 */
export async function datasetRootOf(dir: string, options: OpenMmuOptions = {}): Promise<string> {
  // A URL (http(s)://, s3://): an AstroPile dataset (its root is the remote layer's path), or
  // an MMU tree on a server when it has no manifest.
  if (isRemoteUrl(dir)) {
    const root = datasetRoot(dir, options.remote);
    try {
      await readManifest(root);
      return root;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      return (await mmuRootOf(root, options, true)) ?? root;
    }
  }
  const mmu = await mmuDatasetRoot(dir, options);
  if (mmu !== null) return mmu;
  // A HATS catalog: a UsageError saying what reads it, not "no manifest" later.
  const hats = await hatsCatalogError(dir);
  if (hats) throw hats;
  return resolve(dir);
}
