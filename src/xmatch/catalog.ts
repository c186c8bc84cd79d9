// The pair catalog of a cross-match: a columnar table (typed arrays where the values allow),
// its rows as objects, its CSV file, and the count of matched left rows. Kept apart from
// crossmatch.ts so catalogs can be read and written without loading the matcher.
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { discardFile, publishFile } from "../core/atomic-file.ts";
import type { ColumnValues } from "../core/columns.ts";
import { WriteError } from "../core/errors.ts";

export type ObjectId = string | number | bigint;

/**
 * The pair catalog, one entry per column, one row per pair (and, with how "left", per left
 * row without a match: `matched` 0, right_object_id 0 or "", sep_arcsec NaN, right_file null,
 * right_row and right_index -1). ra, dec and healpix (the order-4 partition pixel) are the
 * left row's. left_file / left_row say where the left row is stored (file path, row in the
 * file), right_file / right_row the same for the right row; left_index / right_index are rows
 * of the parent datasets (the order `openDataset(dir).take()` uses). Rows come grouped by left
 * row in storage order, then nearest first ("nearest") or by right row ("all").
 */
export interface MatchCatalog {
  length: number;
  left_object_id: ColumnValues;
  right_object_id: ColumnValues;
  matched: Uint8Array;
  sep_arcsec: Float64Array;
  ra: Float64Array;
  dec: Float64Array;
  healpix: Int32Array;
  left_file: string[];
  left_row: Float64Array;
  left_index: Float64Array;
  right_file: Array<string | null>;
  right_row: Float64Array;
  right_index: Float64Array;
}

/** Catalog columns in their natural order (for tables, CSV, JSON). */
export const CATALOG_COLUMNS = [
  "left_object_id",
  "right_object_id",
  "sep_arcsec",
  "ra",
  "dec",
  "healpix",
  "matched",
  "left_file",
  "left_row",
  "left_index",
  "right_file",
  "right_row",
  "right_index",
] as const;

/** Row i of a catalog as a plain object; right fields are null for a left row without a match. */
export function catalogRow(c: MatchCatalog, i: number): Record<string, ObjectId | boolean | null> {
  const hit = c.matched[i] === 1;
  return {
    left_object_id: c.left_object_id[i] as ObjectId,
    right_object_id: hit ? (c.right_object_id[i] as ObjectId) : null,
    sep_arcsec: hit ? c.sep_arcsec[i]! : null,
    ra: c.ra[i]!,
    dec: c.dec[i]!,
    healpix: c.healpix[i]!,
    matched: hit,
    left_file: c.left_file[i]!,
    left_row: c.left_row[i]!,
    left_index: c.left_index[i]!,
    right_file: c.right_file[i] ?? null,
    right_row: hit ? c.right_row[i]! : null,
    right_index: hit ? c.right_index[i]! : null,
  };
}

/** Left rows with at least one match (rows of one left row are adjacent in a catalog). */
export function countLeftMatched(c: MatchCatalog): number {
  let n = 0;
  for (let i = 0; i < c.length; i++) {
    if (c.matched[i] === 1 && (i === 0 || c.left_index[i - 1] !== c.left_index[i])) n++;
  }
  return n;
}

/** A CSV cell: empty for null (and NaN), quoted when it holds a comma, a quote or a newline. */
function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && Number.isNaN(v)) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const CSV_BLOCK_ROWS = 10_000;

/**
 * Writes the catalog as CSV (a header of CATALOG_COLUMNS, one line per row as `catalogRow`
 * gives it: right fields empty for a left row without a match, matched true/false), streamed
 * in blocks of rows to a temporary file that is fsynced and renamed to `path` when complete.
 * On failure nothing is left under `path` or the temporary name.
 */
export async function writeCatalogCsv(catalog: MatchCatalog, path: string): Promise<void> {
  const tempPath = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(tempPath, "w");
  } catch (e) {
    throw new WriteError(
      `cannot create ${tempPath}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
  try {
    await handle.write(`${CATALOG_COLUMNS.join(",")}\n`);
    for (let s = 0; s < catalog.length; s += CSV_BLOCK_ROWS) {
      const lines: string[] = [];
      for (let i = s; i < Math.min(catalog.length, s + CSV_BLOCK_ROWS); i++) {
        const row = catalogRow(catalog, i);
        lines.push(CATALOG_COLUMNS.map((c) => csvCell(row[c])).join(","));
      }
      await handle.write(`${lines.join("\n")}\n`);
    }
  } catch (e) {
    await discardFile(handle, tempPath);
    throw new WriteError(`write failed: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  await publishFile(handle, tempPath, path);
}
