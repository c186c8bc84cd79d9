// The object_id index of a config: `<config>/object_id_index.hdf5`, rows (id_key, file, row)
// sorted by id_key, written with the dataset. id_key is the id itself for integer ids and a
// 64-bit FNV-1a hash of the UTF-8 bytes for string ids (candidates are checked against the real
// id, so a hash collision costs a read, never a wrong answer). The manifest keeps the first key of
// every block of FENCE_ROWS rows, so a lookup reads one block of the index, never the whole file.
import { join, posix } from "node:path";
import type { ColumnSpec, ColumnValues } from "../core/columns.ts";
import { ManifestMismatchError, SchemaError } from "../core/errors.ts";
import { integerText } from "../core/number-text.ts";
import { int64Words } from "../core/words.ts";
import type { ExternalSorter } from "./external-sort.ts";
import { FILE_LIST_ATTRIBUTE } from "./identity.ts";
import { sidecarExpectation } from "./integrity.ts";
import type { IdIndexEntry } from "./manifest.ts";
import { PartitionFile } from "./partition-file.ts";
import { PartitionWriter } from "./partition-writer.ts";

export const ID_INDEX_NAME = "object_id_index.hdf5";
export const FENCE_ROWS = 65536;

export const ID_INDEX_COLUMNS: ColumnSpec[] = [
  { name: "id_key", dtype: "int64", shape: [] },
  { name: "file", dtype: "uint32", shape: [] },
  { name: "row", dtype: "uint32", shape: [] },
];

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a of the UTF-8 bytes, as a signed int64. */
export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(s, "utf8")) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK64;
  }
  return BigInt.asIntN(64, h);
}

/** How to turn the object_id column's value at a position into its index key. */
export function idKeyFunction(spec: ColumnSpec): (values: ColumnValues, i: number) => bigint {
  if (spec.shape.length !== 0)
    throw new SchemaError("object_id must be a scalar column", { column: spec.name });
  switch (spec.dtype) {
    case "string":
      return (v, i) => fnv1a64((v as string[])[i]);
    case "int64":
      return (v, i) => (v as BigInt64Array)[i];
    case "uint64":
      return (v, i) => BigInt.asIntN(64, (v as BigUint64Array)[i]);
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32":
      return (v, i) => BigInt((v as Int32Array)[i]);
    default:
      throw new SchemaError(`object_id must be an integer or string column, found ${spec.dtype}`, {
        column: spec.name,
      });
  }
}

/** The key of an id given by a user: by value, whatever JS type it came in. */
export function idKeyOf(spec: ColumnSpec, id: string | number | bigint): bigint {
  if (spec.dtype === "string") return fnv1a64(String(id));
  if (typeof id === "number" && !Number.isSafeInteger(id)) {
    throw new SchemaError(
      `id ${id} is not an exact integer (pass ids beyond 2^53 as bigint or string)`,
      { column: spec.name },
    );
  }
  // Text is decimal digits only: BigInt("") is 0n and BigInt("0x10") 16n.
  const text = typeof id === "string" ? integerText(id) : null;
  if (typeof id === "string" && text === null)
    throw new SchemaError(`"${id}" is not an integer id (decimal digits)`, { column: spec.name });
  let big: bigint;
  try {
    big = text ?? BigInt(id);
  } catch {
    throw new SchemaError(`"${id}" is not an integer id`, { column: spec.name });
  }
  return BigInt.asIntN(64, big);
}

/**
 * Drains the sorter into the index file; returns its manifest entry. `fileList` is the identity of
 * the file list its file ordinals refer to (see identity.ts).
 */
export async function writeIdIndex(
  root: string,
  config: string,
  ids: ExternalSorter,
  fileList: string,
  blockRows = FENCE_ROWS,
  compression: "gzip" | "none" = "gzip",
): Promise<IdIndexEntry> {
  const rel = posix.join(config, ID_INDEX_NAME);
  // Files and rows in id order have no repeated strings for the full search to find: Z_RLE
  // deflates them twice as fast and a little smaller. The sorted ids keep the search, at level
  // 1: half the time of level 4 for ~0.08 byte per row more (a 1e7-row index 1.07 -> 1.88 MB of
  // ~31 MB); the index's thread is the longest part of a large build's assembly.
  const writer = await PartitionWriter.create(join(root, rel), ID_INDEX_COLUMNS, {
    compression,
    gzipLevel: 1,
    runLengthColumns: ["file", "row"],
    contentDigest: false,
  });
  const fence: string[] = [];
  let rows = 0;
  // Rows whose key equals the key before them: an id given to several rows.
  let repeated = 0;
  let last: bigint | null = null;
  try {
    for await (const batch of ids.sorted()) {
      const keys = batch.id_key as BigInt64Array;
      for (let i = 0; i < keys.length; i++) {
        if ((rows + i) % blockRows === 0) fence.push(keys[i].toString());
      }
      if (keys.length > 0) {
        if (keys[0] === last) repeated++;
        repeated += repeatsIn(keys);
        last = keys[keys.length - 1]!;
      }
      writer.append(batch);
      rows += keys.length;
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const written = await writer.close({ attrs: { [FILE_LIST_ATTRIBUTE]: fileList } });
  return {
    path: rel,
    rows,
    bytes: written.bytes,
    sha256: written.sha256,
    blockRows,
    fence,
    fileList,
    repeatedIds: repeated,
  };
}

/** Keys equal to the key before them in a sorted run (compared as 32-bit words: no BigInts). */
function repeatsIn(keys: BigInt64Array): number {
  const w = int64Words(keys);
  let n = 0;
  for (let i = 1; i < keys.length; i++)
    if (w[2 * i] === w[2 * i - 2] && w[2 * i + 1] === w[2 * i - 1]) n++;
  return n;
}

/**
 * Opens a config's index checked against its manifest entry: size, rows, columns, and the file
 * list it was built from, which must be `fileList` (the manifest's current one).
 */
export function openIdIndex(
  root: string,
  entry: IdIndexEntry,
  fileList?: string,
): Promise<PartitionFile> {
  return PartitionFile.open(join(root, entry.path), {
    expectRows: entry.rows,
    expect: {
      ...sidecarExpectation(root, "object_id index", entry, fileList),
      columns: ID_INDEX_COLUMNS,
    },
  });
}

/**
 * Every (file ordinal, row) whose id key equals `key`. Reads one index block (more when equal
 * keys cross a block border) and the first key of the block after, so every fence the answer
 * depends on is checked against the index data (a wrong fence is a ManifestMismatchError, never
 * a silent "not found"). With `fileRows` (rows of each file of the config, in manifest order),
 * every answer is checked to point at a row that exists.
 */
export async function lookupIdKey(
  root: string,
  entry: IdIndexEntry,
  key: bigint,
  /** An already open index file (kept by a reader doing many lookups); else opened and closed here. */
  opened?: PartitionFile,
  fileRows?: ArrayLike<number>,
): Promise<Array<{ file: number; row: number }>> {
  if (entry.rows === 0) return [];
  const path = join(root, entry.path);
  const blocks = Math.ceil(entry.rows / entry.blockRows);
  if (entry.fence.length !== blocks)
    throw new ManifestMismatchError(
      `the manifest has ${entry.fence.length} fences for ${entry.rows} rows in blocks of ${entry.blockRows} (${blocks} expected)`,
      { file: path },
    );
  // Last block whose first key is < key (equal keys may begin in the block before), else 0.
  let lo = 0;
  let hi = entry.fence.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (BigInt(entry.fence[mid]) < key) lo = mid;
    else hi = mid - 1;
  }
  const file = opened ?? (await openIdIndex(root, entry));
  const fenceCheck = (block: number, first: bigint) => {
    if (BigInt(entry.fence[block]) !== first)
      throw new ManifestMismatchError(
        `the manifest's fence of block ${block} is ${entry.fence[block]} but the index's key at row ${block * entry.blockRows} is ${first}`,
        { file: path, column: "id_key" },
      );
  };
  try {
    const out: Array<{ file: number; row: number }> = [];
    // Rows before block lo hold smaller keys: its fence is checked below, and the index is sorted.
    for (let block = lo; block < blocks; block++) {
      const start = block * entry.blockRows;
      if (block > lo && BigInt(entry.fence[block]) > key) {
        // Stopping on a fence: check it, or a wrong fence would hide the key.
        fenceCheck(
          block,
          (file.readRange(["id_key"], start, start + 1).id_key as BigInt64Array)[0],
        );
        break;
      }
      const end = Math.min(entry.rows, start + entry.blockRows);
      const b = file.readRange(["id_key", "file", "row"], start, end);
      const keys = b.id_key as BigInt64Array;
      fenceCheck(block, keys[0]);
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && keys[i] < keys[i - 1])
          throw new ManifestMismatchError(`index keys are not sorted at row ${start + i}`, {
            file: path,
            column: "id_key",
          });
        if (keys[i] !== key) continue;
        const f = (b.file as Uint32Array)[i];
        const row = (b.row as Uint32Array)[i];
        if (fileRows && !(f < fileRows.length && row < fileRows[f]))
          throw new ManifestMismatchError(
            `index row ${start + i} points at file ${f}, row ${row}, which the manifest's file list does not have`,
            { file: path },
          );
        out.push({ file: f, row });
      }
      if (keys[keys.length - 1] > key) break;
    }
    return out;
  } finally {
    if (!opened) file.close();
  }
}
