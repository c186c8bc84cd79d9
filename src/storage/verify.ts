// verifyDataset: every check the readers rely on, over a whole dataset, collecting the problems
// instead of stopping at the first. Two levels:
//   - default: the manifest's own consistency (file order, pixels, row totals), every file's size,
//     structure, rows, columns, identity and `_healpix_29` values (read in full: 8 bytes a row,
//     sorted and spanning the manifest's range), the sidecars' file lists, and the object_id
//     index in full (sorted, fences, pointers into the file list). Reads metadata, the key
//     column and the index: minutes for a large dataset.
//   - checksums: also the SHA-256 of every byte of every file against the manifest (hours for
//     tens of TB: it reads everything).
// The dataset is never modified.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { AstroPileError, ColumnLengthError, CorruptFileError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { ID_INDEX_COLUMNS } from "./id-index.ts";
import {
  CONTENT_ATTRIBUTE,
  FILE_LIST_ATTRIBUTE,
  fileIdentity,
  IDENTITY_ATTRIBUTE,
  identityMismatchText,
} from "./identity.ts";
import {
  configFileList,
  fileListProblems,
  type ProblemKind,
  type VerifyProblem,
} from "./integrity.ts";
import type { ColumnEntry, ConfigEntry, FileEntry, Manifest } from "./manifest.ts";
import { readManifest } from "./manifest.ts";
import { type ColumnInfo, PartitionFile } from "./partition-file.ts";
import { positionsColumns } from "./positions.ts";

export type { ProblemKind, VerifyProblem };

export interface VerifyOptions {
  /** Also recompute every file's SHA-256 (reads every byte: hours for tens of TB). */
  checksums?: boolean;
  /** Called as files are checked (and, with checksums, as bytes are hashed). */
  onProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyProgress {
  /** "files": structure, identity, keys; "checksums": SHA-256 of every byte. */
  phase: "files" | "checksums";
  done: number;
  total: number;
  /** What done and total count. */
  unit: "files" | "bytes";
  /** The file being checked. */
  file?: string;
}

/** Rows of the key column and the id index read per call. */
const READ_ROWS = 1 << 18;

/** How to add identities or rebuild sidecars. */
const fix = (root: string) => `\`astropile index ${root} --force\``;

/**
 * Checks a dataset against its manifest and returns the problems found (an empty list: all
 * good). See the module comment for what each level reads. A manifest that cannot be read at all
 * is thrown (ManifestError, NotFoundError), not listed.
 */
export async function verifyDataset(
  root: string,
  options: VerifyOptions = {},
): Promise<VerifyProblem[]> {
  const manifest = await readManifest(root);
  const problems: VerifyProblem[] = [];
  for (const config of Object.keys(manifest.configs))
    problems.push(...fileListProblems(root, manifest, config));

  const sidecars: Array<{ path: string; bytes: number; sha256: string }> = [];
  for (const config of Object.values(manifest.configs)) {
    if (config.positions) sidecars.push(config.positions);
    if (config.idIndex) sidecars.push(config.idIndex);
  }
  const total = manifest.files.length + sidecars.length;
  let done = 0;
  const progress = (file: string) =>
    options.onProgress?.({ phase: "files", done, total, unit: "files", file });
  progress("");

  // Files whose size is right: only those are worth hashing.
  const present: Array<{ path: string; bytes: number; sha256: string }> = [];
  for (const entry of manifest.files) {
    const path = join(root, entry.path);
    progress(path);
    const found = await checkFile(root, manifest.configs[entry.config], entry, problems);
    if (found) present.push(entry);
    done++;
  }
  for (const [name, config] of Object.entries(manifest.configs)) {
    const list = configFileList(manifest, name);
    if (config.positions) {
      progress(join(root, config.positions.path));
      if (await checkPositions(root, name, config, list, problems)) present.push(config.positions);
      done++;
    }
    if (config.idIndex) {
      progress(join(root, config.idIndex.path));
      if (await checkIdIndex(root, name, manifest, config, list, problems))
        present.push(config.idIndex);
      done++;
    }
  }
  progress("");

  if (options.checksums) {
    const bytes = present.reduce((s, f) => s + f.bytes, 0);
    let hashed = 0;
    const report = (file: string) =>
      options.onProgress?.({ phase: "checksums", done: hashed, total: bytes, unit: "bytes", file });
    report("");
    for (const f of present) {
      const path = join(root, f.path);
      report(path);
      try {
        if ((await sha256File(path)) !== f.sha256)
          problems.push({
            file: path,
            kind: "sha256",
            detail: "SHA-256 differs from the manifest",
          });
      } catch (err) {
        problems.push({ file: path, kind: "unreadable", detail: (err as Error).message });
      }
      hashed += f.bytes;
    }
    report("");
  }
  return problems;
}

/** Size first: a missing or resized file is reported as such, not as what it breaks further on. */
async function checkSize(
  path: string,
  bytes: number,
  what: string,
  problems: VerifyProblem[],
): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    problems.push({
      file: path,
      kind: "missing",
      detail:
        (err as NodeJS.ErrnoException).code === "ENOENT"
          ? `${what} listed in the manifest does not exist`
          : `cannot read ${what}: ${(err as Error).message}`,
    });
    return false;
  }
  if (size !== bytes) {
    problems.push({
      file: path,
      kind: "size",
      detail: `${what} has ${size} bytes but the manifest says ${bytes}`,
    });
    return false;
  }
  return true;
}

/** Opens a file reading every column's metadata; a failure is listed and null returned. */
async function openAll(path: string, problems: VerifyProblem[]): Promise<PartitionFile | null> {
  try {
    return await PartitionFile.open(path);
  } catch (err) {
    problems.push(asProblem(err, path));
    return null;
  }
}

function asProblem(
  err: unknown,
  path: string,
  fallback: ProblemKind = "unreadable",
): VerifyProblem {
  if (!(err instanceof AstroPileError)) throw err;
  const kind: ProblemKind =
    err instanceof ColumnLengthError
      ? "rows"
      : err instanceof CorruptFileError && /damaged/.test(err.message)
        ? "checksum"
        : fallback;
  const problem: VerifyProblem = { file: err.file ?? path, kind, detail: err.message };
  if (err.column) problem.column = err.column;
  return problem;
}

function typeText(c: Pick<ColumnEntry, "dtype" | "shape" | "stringLength">): string {
  return `${c.dtype}${c.dtype === "string" ? `(${c.stringLength ?? "variable"})` : ""}[${c.shape.join(", ")}]`;
}

/** Rows and the manifest's columns (dtype, shape) of an open file. */
function checkColumns(
  file: PartitionFile,
  rows: number,
  columns: ReadonlyArray<Pick<ColumnEntry, "name" | "dtype" | "shape" | "stringLength">>,
  problems: VerifyProblem[],
  exact = false,
): void {
  if (file.length !== rows)
    problems.push({
      file: file.path,
      kind: "rows",
      detail: `file has ${file.length} rows but the manifest says ${rows}`,
    });
  const have = new Map<string, ColumnInfo>(file.columns().map((c) => [c.name, c]));
  for (const col of columns) {
    const info = have.get(col.name);
    if (!info)
      problems.push({
        file: file.path,
        kind: "column",
        column: col.name,
        detail: "column listed in the manifest is missing from the file",
      });
    else if (typeText(info) !== typeText(col))
      problems.push({
        file: file.path,
        kind: "column",
        column: col.name,
        detail: `column is ${typeText(info)} in the file but ${typeText(col)} in the manifest`,
      });
  }
  if (!exact) return;
  // A partition file holds exactly its config's columns: one the manifest does not list is a
  // column readers cannot see (a manifest that lost it).
  const listed = new Set(columns.map((c) => c.name));
  for (const name of have.keys())
    if (!listed.has(name))
      problems.push({
        file: file.path,
        kind: "column",
        column: name,
        detail: "file holds a column the manifest does not list",
      });
}

/** A root attribute as a string, or undefined. */
function attr(file: PartitionFile, name: string): string | undefined {
  const v = file.attrs()[name];
  return typeof v === "string" ? v : undefined;
}

async function checkFile(
  root: string,
  config: ConfigEntry,
  entry: FileEntry,
  problems: VerifyProblem[],
): Promise<boolean> {
  const path = join(root, entry.path);
  if (!(await checkSize(path, entry.bytes, "file", problems))) return false;
  const file = await openAll(path, problems);
  if (!file) return true;
  try {
    checkColumns(file, entry.rows, config.columns, problems, true);
    const identity = attr(file, IDENTITY_ATTRIBUTE);
    if (entry.identity === undefined)
      problems.push({
        file: path,
        kind: "no-identity",
        detail: `the manifest records no identity for this file (written before identities existed), so a swapped file goes unnoticed: ${fix(root)} checks the files and adds them`,
      });
    else if (identity !== entry.identity)
      problems.push({
        file: path,
        kind: "identity",
        detail:
          identity === undefined
            ? "file has no astropile_identity attribute but the manifest records one: not the file the manifest lists"
            : `file identity ${identity.slice(0, 12)}… differs from the manifest's ${entry.identity.slice(0, 12)}…: not the file the manifest lists`,
      });
    else {
      const content = attr(file, CONTENT_ATTRIBUTE);
      if (content === undefined || fileIdentity({ ...entry, content }) !== entry.identity)
        problems.push({
          file: path,
          kind: "identity",
          detail: identityMismatchText(entry),
        });
    }
    if (file.length === entry.rows && file.hasColumn("_healpix_29"))
      checkKeys(file, entry, problems);
  } catch (err) {
    problems.push(asProblem(err, path));
  } finally {
    file.close();
  }
  return true;
}

/** The whole `_healpix_29` column: sorted, first and last equal to the manifest's range. */
function checkKeys(file: PartitionFile, entry: FileEntry, problems: VerifyProblem[]): void {
  const n = file.length;
  if (n === 0) return;
  let first: bigint | null = null;
  let previous: bigint | null = null;
  for (let at = 0; at < n; at += READ_ROWS) {
    const keys = file.readRange(["_healpix_29"], at, Math.min(n, at + READ_ROWS))
      ._healpix_29 as BigInt64Array;
    first ??= keys[0];
    for (let i = 0; i < keys.length; i++) {
      if (previous !== null && keys[i] < previous) {
        problems.push({
          file: file.path,
          kind: "key-range",
          column: "_healpix_29",
          detail: `rows are not sorted by _healpix_29 at row ${at + i}`,
        });
        return;
      }
      previous = keys[i];
    }
  }
  if (String(first) !== entry.keyMin || String(previous) !== entry.keyMax)
    problems.push({
      file: file.path,
      kind: "key-range",
      column: "_healpix_29",
      detail: `rows span _healpix_29 ${first}..${previous} but the manifest says ${entry.keyMin}..${entry.keyMax}`,
    });
}

/** A sidecar's file-list identity: recorded in the manifest, carried by the file, current. */
function checkList(
  root: string,
  file: PartitionFile,
  what: string,
  recorded: string | undefined,
  current: string,
  problems: VerifyProblem[],
): void {
  const carried = attr(file, FILE_LIST_ATTRIBUTE);
  if (recorded === undefined) {
    problems.push({
      file: file.path,
      kind: "no-identity",
      detail: `the ${what} records no file-list identity (written before they existed), so a reordered or replaced file list goes unnoticed: ${fix(root)} rebuilds it`,
    });
  } else if (recorded !== current) {
    problems.push({
      file: file.path,
      kind: "sidecar-list",
      detail: `the ${what} was built from another file list than the manifest's (files reordered, replaced or changed since): ${fix(root)} rebuilds it`,
    });
  } else if (carried !== recorded) {
    problems.push({
      file: file.path,
      kind: "sidecar-list",
      detail: `the ${what} carries ${carried === undefined ? "no file-list identity" : `file list ${carried.slice(0, 12)}…`} but the manifest records ${recorded.slice(0, 12)}…: not the file the manifest lists`,
    });
  }
}

async function checkPositions(
  root: string,
  name: string,
  config: ConfigEntry,
  current: string,
  problems: VerifyProblem[],
): Promise<boolean> {
  const entry = config.positions!;
  const path = join(root, entry.path);
  if (entry.rows !== config.rows)
    problems.push({
      file: path,
      kind: "rows",
      detail: `positions file has ${entry.rows} rows but config "${name}" has ${config.rows}`,
    });
  if (!(await checkSize(path, entry.bytes, "positions file", problems))) return false;
  const file = await openAll(path, problems);
  if (!file) return true;
  try {
    const id = config.columns.find((c) => c.name === "object_id");
    checkColumns(file, entry.rows, id ? positionsColumns(id) : [], problems);
    checkList(root, file, "positions sidecar", entry.fileList, current, problems);
  } catch (err) {
    problems.push(asProblem(err, path));
  } finally {
    file.close();
  }
  return true;
}

async function checkIdIndex(
  root: string,
  name: string,
  manifest: Manifest,
  config: ConfigEntry,
  current: string,
  problems: VerifyProblem[],
): Promise<boolean> {
  const entry = config.idIndex!;
  const path = join(root, entry.path);
  if (entry.rows !== config.rows)
    problems.push({
      file: path,
      kind: "rows",
      detail: `object_id index has ${entry.rows} rows but config "${name}" has ${config.rows}`,
    });
  if (!(await checkSize(path, entry.bytes, "object_id index", problems))) return false;
  const file = await openAll(path, problems);
  if (!file) return true;
  try {
    checkColumns(file, entry.rows, ID_INDEX_COLUMNS, problems);
    checkList(root, file, "object_id index", entry.fileList, current, problems);
    if (file.length !== entry.rows) return true;
    const blockRows = entry.blockRows;
    const blocks = Math.ceil(entry.rows / blockRows);
    const issue = (detail: string) =>
      problems.push({ file: path, kind: "id-index", column: "id_key", detail });
    if (entry.fence.length !== blocks) {
      issue(
        `the manifest has ${entry.fence.length} fences for ${entry.rows} rows in blocks of ${blockRows} (${blocks} expected)`,
      );
    }
    const fileRows = manifest.files.filter((f) => f.config === name).map((f) => f.rows);
    let previous: bigint | null = null;
    let fenceIssues = 0;
    for (let at = 0; at < entry.rows; at += READ_ROWS) {
      const b = file.readRange(["id_key", "file", "row"], at, Math.min(entry.rows, at + READ_ROWS));
      const keys = b.id_key as BigInt64Array;
      const files = b.file as Uint32Array;
      const rows = b.row as Uint32Array;
      for (let i = 0; i < keys.length; i++) {
        const row = at + i;
        if (row % blockRows === 0) {
          const fence = entry.fence[row / blockRows];
          if (fence !== undefined && BigInt(fence) !== keys[i] && fenceIssues++ < 3)
            issue(
              `the manifest's fence of block ${row / blockRows} is ${fence} but the index's key at row ${row} is ${keys[i]}`,
            );
        }
        if (previous !== null && keys[i] < previous) {
          issue(`index keys are not sorted at row ${row}`);
          return true;
        }
        previous = keys[i];
        if (!(files[i] < fileRows.length && rows[i] < fileRows[files[i]])) {
          issue(
            `index row ${row} points at file ${files[i]}, row ${rows[i]}, which the manifest's file list does not have`,
          );
          return true;
        }
      }
    }
  } catch (err) {
    problems.push(asProblem(err, path));
  } finally {
    file.close();
  }
  return true;
}
