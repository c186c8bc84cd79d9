// The pair catalog of a cross-match: a columnar table (typed arrays where the values allow).
// Kept apart from crossmatch.ts so the CLI can format catalogs without loading the matcher.
import type { ColumnValues } from "../core/columns.ts";

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
