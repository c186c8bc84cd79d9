// astropile.json: the only thing a reader needs to plan a query. It lists the columns of each
// config and every file with its pixel, `_healpix_29` key range, rows, bytes, sha256 and
// identity (see identity.ts; checked on every open, integrity.ts), and the sidecars with the
// identity of the file list they were built from. verifyDataset is in verify.ts.
// It is replaced atomically (temp file, fsync, rename) and always last, after the files.

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod/v3"; // the v3 API loads in a sixth of the time: see core/record-schema.ts
import { writeFileAtomic } from "../core/atomic-file.ts";
import { DTYPES } from "../core/columns.ts";
import { AstroPileError, InternalError, ManifestError, NotFoundError } from "../core/errors.ts";
import { ownRecordSchema } from "../core/record-schema.ts";
import { emptyRecord } from "../core/records.ts";
import {
  isSafeConfigName,
  LAYOUTS,
  type Layout,
  MANIFEST_NAME,
  MAX_PARTITION_ORDER,
  PARTITION_ORDER,
} from "./layout.ts";
import { remoteAccess, remoteUrl } from "./remote-hook.ts";

/**
 * The newest manifest format this code reads and writes. Version 2 adds files covering runs of
 * pixels (`files[].pixels`); a manifest without one is written as version 1, which AstroPile
 * before runs reads (it refuses version 2 by name rather than misread such a file).
 */
export const FORMAT_VERSION = 2;
/** The version a manifest with these files needs (see {@link FORMAT_VERSION}). */
function formatVersionFor(files: ReadonlyArray<{ pixels?: number }>): 1 | 2 {
  return files.some((f) => f.pixels !== undefined) ? 2 : 1;
}

const decimalInt64 = z.string().regex(/^-?\d{1,20}$/, "an int64 as a decimal string");

export const ColumnEntrySchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(DTYPES),
  shape: z.array(z.number().int().positive()),
  stringLength: z.number().int().positive().optional(),
  unit: z.string().optional(),
  description: z.string().optional(),
  /** The standard name this column maps to (ra, dec, image_array ...), if any. */
  standardName: z.string().optional(),
});

export const FileEntrySchema = z.object({
  /** Path relative to the dataset root, with forward slashes. */
  path: z
    .string()
    .min(1)
    .refine(
      (p) => !p.startsWith("/") && !p.split("/").includes(".."),
      "a relative path inside the dataset",
    ),
  config: z.string(),
  /**
   * HEALPix order of the file's partition pixel (NESTED). Absent in manifests written before the
   * adaptive layout: order 4, the Multimodal Universe layout (see {@link fileOrder}).
   */
  order: z.number().int().min(0).max(MAX_PARTITION_ORDER).optional(),
  /**
   * The partition pixel (NESTED, at `order`); every row's `_healpix_29 >> 2*(29-order)` is it,
   * or, with `pixels`, the first of the run the file covers.
   */
  pixel: z.number().int().nonnegative(),
  /**
   * Consecutive pixels at `order` the file covers, from `pixel` (sparse neighbours sharing one
   * file, adaptive layout only; see {@link filePixels}). Absent: the one pixel.
   */
  pixels: z.number().int().min(2).optional(),
  /** Smallest and largest `_healpix_29` key in the file (inclusive). */
  keyMin: decimalInt64,
  keyMax: decimalInt64,
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /**
   * The file's identity, also stored in the file (root attribute `astropile_identity`) and
   * compared on open. Absent in datasets written before it existed (`astropile index --force`).
   */
  identity: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * "any": the file's rows are in no particular order and it may lack `_healpix_29` (a
   * Multimodal Universe file adopted in place, see `adoptMmuTree`): keyMin/keyMax were computed
   * from its ra/dec, files of a config may overlap in key range, and readers filter its rows by
   * position. Absent: rows sorted by `_healpix_29`, files disjoint (every file AstroPile writes).
   */
  rowOrder: z.literal("any").optional(),
  /**
   * Row shapes of columns whose shape in this file differs from the config's (a Multimodal
   * Universe SDSS file whose spectra were padded to a shorter length than another file's):
   * readers pad them on read to the config's shape (see `padToShape`).
   */
  shapes: z.record(z.string(), z.array(z.number().int().positive())).optional(),
  /** Fixed string lengths of columns whose length in this file differs from the config's. */
  stringLengths: z.record(z.string(), z.number().int().positive()).optional(),
});

/** Identity of the ordered file list a sidecar was built from (see identity.ts). */
const fileListField = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .optional();

export const IdIndexSchema = z.object({
  path: FileEntrySchema.shape.path,
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Rows per index block; `fence[i]` is the first id key of block i. */
  blockRows: z.number().int().positive(),
  fence: z.array(decimalInt64),
  /** The config's file list (ordinals in the index refer to it); absent in older datasets. */
  fileList: fileListField,
  /**
   * Rows whose object_id another row of the config has already (3 rows of one id count 2); a
   * string id is compared by its 64-bit key. Absent in datasets written before it was counted.
   */
  repeatedIds: z.number().int().nonnegative().optional(),
});

/** The positions sidecar: ra, dec, object_id of every row of a config, in row order. */
export const PositionsSchema = z.object({
  path: FileEntrySchema.shape.path,
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The config's file list (its row order is theirs); absent in older datasets. */
  fileList: fileListField,
});

export const ConfigEntrySchema = z.object({
  columns: z.array(ColumnEntrySchema),
  rows: z.number().int().nonnegative(),
  compression: z.string().optional(),
  /** object_id → (file, row) index, for getById without scanning. */
  idIndex: IdIndexSchema.optional(),
  /** Absent in datasets written before it existed (see buildPositions). */
  positions: PositionsSchema.optional(),
});

export const ManifestSchema = z.object({
  format: z.literal("astropile"),
  formatVersion: z.union([z.literal(1), z.literal(2)]),
  name: z.string().min(1),
  provenance: z
    .object({ project: z.string().optional(), survey: z.string(), release: z.string().optional() })
    .catchall(z.string()),
  /**
   * The directory scheme: "adaptive" (partition pixels of any order, chosen by the data; each
   * file's order in `files[].order`) or "mmu" (Multimodal Universe v1: every file at order 4).
   * Absent in manifests written before it existed: "mmu" (see {@link manifestLayout}).
   */
  layout: z.enum(LAYOUTS).optional(),
  /**
   * HEALPix order of the `healpix` column (4, nside 16, in every layout) and of files whose entry
   * has no `order`.
   */
  partitionOrder: z.literal(PARTITION_ORDER),
  /** Keyed by config name; every name is an own key (a config may be called "constructor"). */
  configs: ownRecordSchema(
    z.string().refine(isSafeConfigName, "a config name usable as a directory"),
    ConfigEntrySchema,
  ),
  files: z.array(FileEntrySchema),
  updated: z.string().optional(),
});

export type ColumnEntry = z.infer<typeof ColumnEntrySchema>;
export type FileEntry = z.infer<typeof FileEntrySchema>;
export type ConfigEntry = z.infer<typeof ConfigEntrySchema>;
export type IdIndexEntry = z.infer<typeof IdIndexSchema>;
export type PositionsEntry = z.infer<typeof PositionsSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
export type Provenance = Manifest["provenance"];

/** Manifest larger than this is refused before parsing (a hostile or corrupt file). */
const MAX_MANIFEST_BYTES = 1 << 30;

/** HEALPix order of a file's partition pixel: its `order`, else 4 (manifests of the mmu era). */
export function fileOrder(file: { order?: number }): number {
  return file.order ?? PARTITION_ORDER;
}

/** Consecutive partition pixels a file covers from its `pixel` (at its order): `pixels`, else 1. */
export function filePixels(file: { pixels?: number }): number {
  return file.pixels ?? 1;
}

/**
 * A file's partition as a key: its order, pixel and the pixels of its run (`4/1703+1`). The files
 * of one partition share it.
 */
export function partitionKey(file: { order?: number; pixel: number; pixels?: number }): string {
  return `${fileOrder(file)}/${file.pixel}+${filePixels(file)}`;
}

/** A dataset's layout: its `layout`, else "mmu" (manifests written before the field existed). */
export function manifestLayout(manifest: Pick<Manifest, "layout">): Layout {
  return manifest.layout ?? "mmu";
}

export function emptyManifest(
  name: string,
  provenance: Provenance,
  layout: Layout = "adaptive",
): Manifest {
  return {
    format: "astropile",
    formatVersion: 1,
    name,
    provenance,
    layout,
    partitionOrder: PARTITION_ORDER,
    configs: emptyRecord(),
    files: [],
  };
}

/**
 * Reads and validates `<root>/astropile.json`. A root that does not exist is a NotFoundError
 * ("no such directory"); a directory without a manifest, or a bad one, a ManifestError.
 */
export async function readManifest(root: string): Promise<Manifest> {
  const path = join(root, MANIFEST_NAME);
  let text: string;
  if (remoteUrl(path) !== null) {
    const url = remoteUrl(path) as string;
    const bytes = await remoteAccess(path).readWhole(url);
    if (bytes.length > MAX_MANIFEST_BYTES)
      throw new ManifestError(
        `manifest of ${bytes.length} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`,
        { file: path },
      );
    return parseManifest(new TextDecoder().decode(bytes), path);
  }
  try {
    const { size } = await stat(path);
    if (size > MAX_MANIFEST_BYTES)
      throw new ManifestError(
        `manifest of ${size} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`,
        { file: path },
      );
    text = await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof AstroPileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") await checkDirectory(root);
    throw new ManifestError(
      code === "ENOENT"
        ? "no manifest: not an AstroPile dataset"
        : `cannot read manifest: ${(err as Error).message}`,
      { file: path },
    );
  }
  return parseManifest(text, path);
}

/** A dataset root that is not there, or not a directory, is a NotFoundError naming it. */
async function checkDirectory(root: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch {
    throw new NotFoundError(`no such directory: ${root}`);
  }
  if (!isDir) throw new NotFoundError(`not a directory: ${root}`);
}

export function parseManifest(text: string, path: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`manifest is not valid JSON: ${(err as Error).message}`, {
      file: path,
    });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(`manifest field "${issue.path.join(".")}": ${issue.message}`, {
      file: path,
    });
  }
  const manifest = parsed.data;
  checkSizes(manifest, path);
  for (const [i, f] of manifest.files.entries()) {
    if (!manifest.configs[f.config]) {
      throw new ManifestError(
        `files.${i} belongs to config "${f.config}", which the manifest does not declare`,
        { file: path },
      );
    }
    if (BigInt(f.keyMin) > BigInt(f.keyMax) && f.rows > 0) {
      throw new ManifestError(`files.${i} has keyMin > keyMax`, { file: path });
    }
    if (manifestLayout(manifest) === "mmu" && fileOrder(f) !== PARTITION_ORDER)
      throw new ManifestError(
        `files.${i} is at order ${f.order} but the dataset's layout is "mmu" (every file at order ${PARTITION_ORDER})`,
        { file: path },
      );
    if (f.pixel + filePixels(f) > 12 * 4 ** fileOrder(f))
      throw new ManifestError(
        f.pixels === undefined
          ? `files.${i} has pixel ${f.pixel}, which order ${fileOrder(f)} does not have (${12 * 4 ** fileOrder(f)} pixels)`
          : `files.${i} covers pixels ${f.pixel} to ${f.pixel + f.pixels - 1}, which order ${fileOrder(f)} does not all have (${12 * 4 ** fileOrder(f)} pixels)`,
        { file: path },
      );
    if (f.pixels !== undefined && manifest.formatVersion < 2)
      throw new ManifestError(
        `files.${i} covers ${f.pixels} pixels, which format version ${manifest.formatVersion} does not have (runs of pixels came with version 2)`,
        { file: path },
      );
    if (f.pixels !== undefined && manifestLayout(manifest) === "mmu")
      throw new ManifestError(
        `files.${i} covers ${f.pixels} pixels but the dataset's layout is "mmu" (one pixel per file)`,
        { file: path },
      );
  }
  return manifest;
}

/** Most rows one file may hold (the writer's maxRowsPerFile cap). */
export const MAX_FILE_ROWS = 2 ** 31;
/** Most bytes one row of one column may take (an HDF5 chunk holds at least one row). */
export const MAX_COLUMN_ROW_BYTES = 2 ** 31;

/**
 * Row counts and shapes are sizes readers allocate from: absurd ones are refused before anything
 * is, naming the field. A file holds at most MAX_FILE_ROWS rows; one row of a column is at most
 * MAX_COLUMN_ROW_BYTES. (Counts that are possible but wrong are found when the files are opened:
 * each is checked against its manifest entry.)
 */
function checkSizes(manifest: Manifest, path: string): void {
  for (const [i, f] of manifest.files.entries()) {
    if (f.rows > MAX_FILE_ROWS)
      throw new ManifestError(
        `manifest field "files.${i}.rows": ${f.rows} rows in one file is more than ${MAX_FILE_ROWS}`,
        { file: path },
      );
  }
  for (const [name, config] of Object.entries(manifest.configs)) {
    for (const [k, c] of config.columns.entries()) {
      let bytes = BigInt(c.dtype === "string" ? (c.stringLength ?? 16) : dtypeBytes(c.dtype));
      for (const d of c.shape) bytes *= BigInt(d);
      if (bytes > BigInt(MAX_COLUMN_ROW_BYTES))
        throw new ManifestError(
          `manifest field "configs.${name}.columns.${k}": one row of column "${c.name}" (${c.dtype}[${c.shape.join(", ")}]) is ${bytes} bytes, more than ${MAX_COLUMN_ROW_BYTES}`,
          { file: path, column: c.name },
        );
    }
  }
}

/** Bytes of one value of a numeric or bool dtype. */
function dtypeBytes(dtype: string): number {
  const m = /(\d+)$/.exec(dtype);
  return m ? Number(m[1]) / 8 : 1;
}

/** Replaces astropile.json atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeManifest(root: string, manifest: Manifest): Promise<void> {
  const parsed = ManifestSchema.safeParse({
    ...manifest,
    formatVersion: formatVersionFor(manifest.files),
    updated: new Date().toISOString(),
  });
  if (!parsed.success) {
    // What we were about to write does not follow our own schema: a bug, said in one line.
    const issue = parsed.error.issues[0];
    throw new InternalError(
      `manifest to write has field "${issue.path.join(".")}": ${issue.message}`,
      { file: join(root, MANIFEST_NAME) },
    );
  }
  const checked = parsed.data;
  await writeFileAtomic(join(root, MANIFEST_NAME), `${JSON.stringify(checked, null, 1)}\n`);
}
