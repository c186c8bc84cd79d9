// What every reader checks before it trusts a file: the manifest's own consistency for a config
// (files in key order, pixels that agree with key ranges and paths, row totals), and each file
// against its entry on open (size, rows, columns, key range, identity), without reading data.
// verify.ts runs the same checks over a whole dataset and collects the problems.
import { join } from "node:path";
import { ManifestMismatchError } from "../core/errors.ts";
import { fileListIdentity } from "./identity.ts";
import { MANIFEST_NAME, orderShift, parsePartitionPath, pixelKeyRange } from "./layout.ts";
import {
  type ConfigEntry,
  type FileEntry,
  fileOrder,
  filePixels,
  type Manifest,
  manifestLayout,
} from "./manifest.ts";
import { type FileExpectation, PartitionFile } from "./partition-file.ts";

/** What kind of problem verifyDataset found (stable strings; see {@link VerifyProblem}). */
export type ProblemKind =
  /** A listed file is not there. */
  | "missing"
  /** Size on disk differs from the manifest's. */
  | "size"
  /** Not HDF5, truncated, or its structure cannot be read. */
  | "unreadable"
  /** Row count differs (a file's, or a config's total). */
  | "rows"
  /**
   * A column the manifest lists is missing or has another dtype or shape, or the file holds a
   * column the manifest does not list.
   */
  | "column"
  /** The `_healpix_29` values in the file do not span the manifest's key range, or are unsorted. */
  | "key-range"
  /** The manifest's pixel disagrees with the file's key range or its path. */
  | "pixel"
  /** The config's files are not listed in key order (a reordered or overlapping file list). */
  | "order"
  /** The file carries another identity than its manifest entry: not the file the manifest lists. */
  | "identity"
  /** Written before identities existed: readers cannot tell a swapped file. Fix: `astropile index DIR --force`. */
  | "no-identity"
  /** A sidecar built from another file list than the manifest's. Fix: `astropile index DIR --force`. */
  | "sidecar-list"
  /** The object_id index disagrees with its fences, the file list or itself. */
  | "id-index"
  /** Stored bytes fail their checksum (Fletcher32, zlib) on read. */
  | "checksum"
  /** The file's SHA-256 differs from the manifest's (`checksums: true` only). */
  | "sha256";

/** One problem verifyDataset found. */
export interface VerifyProblem {
  /** The file (absolute path), or the manifest for problems of the manifest itself. */
  file: string;
  kind: ProblemKind;
  /** What differs, in words. */
  detail: string;
  column?: string;
}

/** A listed file as a reader knows it (a FileEntry, or a cross-match worker's copy of one). */
export interface ListedFileEntry {
  config: string;
  /** Absent: order 4 (manifests of the mmu era). */
  order?: number;
  pixel: number;
  /** Absent: one pixel. */
  pixels?: number;
  keyMin: string | bigint;
  keyMax: string | bigint;
  rows: number;
  bytes: number;
  identity?: string | null;
  /** "any": rows unsorted, key range computed from ra/dec (see FileEntry.rowOrder). */
  rowOrder?: "any";
  /** Per-file row shapes and string lengths that differ from the config's (see FileEntry). */
  shapes?: Record<string, number[]>;
  stringLengths?: Record<string, number>;
}

/** The config's columns as this file holds them (its own shapes and string lengths, if any). */
export function fileColumns(
  columns: ConfigEntry["columns"],
  entry: Pick<ListedFileEntry, "shapes" | "stringLengths">,
): ConfigEntry["columns"] {
  if (!entry.shapes && !entry.stringLengths) return columns;
  return columns.map((c) => {
    const shape = entry.shapes?.[c.name];
    const stringLength = entry.stringLengths?.[c.name];
    return {
      ...c,
      ...(shape ? { shape } : {}),
      ...(stringLength ? { stringLength } : {}),
    };
  });
}

/**
 * What the manifest says about a listed partition file, as PartitionFile.open checks it: size,
 * rows, columns, and its identity bound to the entry's pixel, key range and rows (attributes
 * only); a file without identity (written before they existed) has its first and last
 * `_healpix_29` read instead (two chunk reads).
 */
export function expectationOf(
  columns: ConfigEntry["columns"],
  entry: ListedFileEntry,
): FileExpectation {
  const { config, order, pixel, pixels, keyMin, keyMax, rows } = entry;
  return {
    bytes: entry.bytes,
    columns: fileColumns(columns, entry),
    ...(entry.identity
      ? {
          identity: {
            value: entry.identity,
            entry: { config, order, pixel, pixels, keyMin, keyMax, rows },
          },
        }
      : {
          identity: null,
          // Unsorted rows (an adopted Multimodal Universe file): the range came from ra/dec.
          keyRange:
            rows > 0 && entry.rowOrder !== "any"
              ? { min: BigInt(keyMin), max: BigInt(keyMax) }
              : undefined,
        }),
  };
}

/** Opens a listed partition file, checked against its manifest entry (see FileExpectation). */
export function openListed(
  root: string,
  config: ConfigEntry,
  entry: FileEntry,
): Promise<PartitionFile> {
  return PartitionFile.open(join(root, entry.path), {
    expectRows: entry.rows,
    expect: expectationOf(config.columns, entry),
  });
}

/** The identity of a config's file list as the manifest has it now (what its sidecars must carry). */
export function configFileList(manifest: Manifest, config: string): string {
  return fileListIdentity(
    config,
    manifest.files.filter((f) => f.config === config),
  );
}

/**
 * The manifest's own consistency for one config: each file's pixel agrees with its key range and
 * its path, files are listed in increasing, disjoint key order (the order every writer lists them
 * in; the sidecars and the id index number rows in that order), and the config's row count is the
 * sum of its files'. Costs nothing but the manifest.
 */
export function fileListProblems(
  root: string,
  manifest: Manifest,
  config: string,
): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const entry = manifest.configs[config];
  if (!entry) return problems;
  const files = manifest.files.filter((f) => f.config === config);
  const layout = manifestLayout(manifest);
  let previous: FileEntry | null = null;
  let rows = 0;
  for (const f of files) {
    rows += f.rows;
    const file = join(root, f.path);
    const order = fileOrder(f);
    const pixels = filePixels(f);
    const parsed = parsePartitionPath(f.path);
    const say = (p: number, n: number) => (n === 1 ? `pixel ${p}` : `pixels ${p} to ${p + n - 1}`);
    if (
      parsed &&
      (parsed.config !== config ||
        parsed.pixel !== f.pixel ||
        parsed.pixels !== pixels ||
        parsed.order !== order ||
        parsed.layout !== layout)
    )
      problems.push({
        file,
        kind: "pixel",
        detail: `the manifest says config "${config}", order ${order}, ${say(f.pixel, pixels)} (layout ${layout}) but the path says config "${parsed.config}", order ${parsed.order}, ${say(parsed.pixel, parsed.pixels)} (layout ${parsed.layout})`,
      });
    if (f.rows === 0) continue;
    // Adopted Multimodal Universe files: rows in any order, key ranges computed from ra/dec that
    // may overlap (and stray across the pixel border where healpy and this code round apart).
    if (f.rowOrder === "any") continue;
    const lo = BigInt(f.keyMin);
    const hi = BigInt(f.keyMax);
    const shift = orderShift(order);
    const [first, last] = pixelKeyRange(order, f.pixel, pixels);
    if (lo < first || hi > last)
      problems.push({
        file,
        kind: "pixel",
        detail: `the manifest says ${say(f.pixel, pixels)} (order ${order}) but its _healpix_29 range ${lo}..${hi} lies in pixel ${lo >> shift}${hi >> shift !== lo >> shift ? `..${hi >> shift}` : ""}`,
      });
    if (previous && lo <= BigInt(previous.keyMax))
      problems.push({
        file,
        kind: "order",
        detail: `listed after ${previous.path} (keys ..${previous.keyMax}) but its keys start at ${lo}: the manifest's file list is not in _healpix_29 order (reordered or overlapping files)`,
      });
    previous = f;
  }
  if (rows !== entry.rows)
    problems.push({
      file: join(root, MANIFEST_NAME),
      kind: "rows",
      detail: `config "${config}" says ${entry.rows} rows but its files hold ${rows}`,
    });
  return problems;
}

/** Throws the first problem of fileListProblems as a ManifestMismatchError. */
export function checkFileList(root: string, manifest: Manifest, config: string): void {
  const [first] = fileListProblems(root, manifest, config);
  if (first) throw new ManifestMismatchError(first.detail, { file: first.file });
}

/**
 * Before opening a sidecar (positions, object_id index): the file list its manifest entry was
 * built from must be the manifest's current one. Returns what to expect of the file itself.
 */
export function sidecarExpectation(
  root: string,
  what: "positions sidecar" | "object_id index",
  entry: { path: string; bytes: number; fileList?: string },
  currentList: string | undefined,
): FileExpectation {
  if (entry.fileList !== undefined && currentList !== undefined && entry.fileList !== currentList)
    throw new ManifestMismatchError(
      `the ${what} was built from another file list than the manifest's (files reordered, replaced or changed since); run \`astropile index ${root} --force\` to rebuild it`,
      { file: join(root, entry.path) },
    );
  return { bytes: entry.bytes, fileList: entry.fileList ?? null };
}
