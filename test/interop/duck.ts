// DuckDB (an independent Parquet reader) for the export tests.
import { DuckDBInstance } from "@duckdb/node-api";

export async function duck(): Promise<(sql: string) => Promise<Record<string, unknown>[]>> {
  const conn = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
  return async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJS();
}

/** A column of the dataset's values, row by row: scalars as numbers/bigints/strings, arrays flat. */
export function rowValues(
  values: ArrayLike<unknown>,
  per: number,
  i: number,
  dtype: string,
): unknown {
  const conv = (v: unknown) => (dtype === "bool" ? v === 1 : v);
  if (per === 1 && !isArrayColumn(dtype)) return conv(values[i]);
  return Array.from({ length: per }, (_, j) => conv(values[i * per + j]));
}

function isArrayColumn(_dtype: string): boolean {
  return false;
}
