// SQL over a dataset's catalog (scalar) columns, through DuckDB: the escape hatch for queries
// the filter language cannot express (joins, aggregates, window functions). The view's rows are
// appended in batches into a DuckDB table in a temporary on-disk database, so DuckDB's buffer
// manager keeps memory under `memoryLimit` and spills the rest; only the columns the query names
// are loaded (DuckDB's own parser says which). The database is deleted on close.
//
// DuckDB (@duckdb/node-api) is an optional dependency: a native package, installed where its
// binary exists. It is loaded on first use; without it, a DependencyError names it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as DuckDB from "@duckdb/node-api";
import type { ColumnValues } from "../core/columns.ts";
import { DependencyError, SchemaError, UsageError } from "../core/errors.ts";
import type { Dataset, Feature } from "../dataset/index.ts";
import { type ExportBox, type ExportCone, filteredView } from "./export.ts";

type DuckDBModule = typeof DuckDB;

let duckdbModule: Promise<DuckDBModule> | undefined;

/** The DuckDB module, loaded once; a DependencyError naming the package when it is not installed. */
async function loadDuckDB(): Promise<DuckDBModule> {
  duckdbModule ??= import("@duckdb/node-api").catch((e: unknown) => {
    duckdbModule = undefined;
    throw new DependencyError(
      `SQL needs the optional package @duckdb/node-api (DuckDB), which is not installed or has no native build for this platform (${process.platform}-${process.arch}): npm install @duckdb/node-api`,
      {},
      { cause: e },
    );
  });
  return duckdbModule;
}

/** A value of a SQL result: DuckDB's JS conversion (BIGINT as bigint, DOUBLE as number, VARCHAR as string, NULL as null...). */
export type SqlValue = unknown;

/** A column of a SQL result. */
export interface SqlColumn {
  name: string;
  /** DuckDB type, e.g. "DOUBLE", "BIGINT", "VARCHAR". */
  type: string;
}

/** Some rows of a SQL result, with its columns. */
export interface SqlRows {
  columns: SqlColumn[];
  rows: SqlValue[][];
}

/** A whole SQL result. */
export interface SqlResult {
  columns: SqlColumn[];
  /** Rows as objects keyed by column name. */
  rows: Array<Record<string, SqlValue>>;
}

/** Progress of loading the catalog columns into DuckDB. */
export interface SqlProgress {
  phase: "load";
  /** Rows loaded so far. */
  rows: number;
  /** Rows to load, when known before reading (views without filter or region). */
  totalRows: number | null;
}

/** Options of {@link sqlQuery}, {@link sqlStream} and {@link openSql}. */
export interface SqlOptions {
  /**
   * Columns to load (scalar columns only). Default: for sqlQuery and sqlStream, the columns the
   * query names (all scalar columns for `*`); for openSql, all scalar columns.
   */
  columns?: string[];
  /** Load only the rows passing this filter (the filter language of `Dataset.filter`). */
  filter?: string;
  /** Load only the rows within this cone. */
  cone?: ExportCone;
  /** Load only the rows within this box. */
  box?: ExportBox;
  /** DuckDB's memory limit, e.g. "512MB" (default); beyond it DuckDB spills to disk. */
  memoryLimit?: string;
  /** Where the temporary database and DuckDB's spill files go (default: the OS temp directory). */
  tempDirectory?: string;
  /** sqlQuery only: refuse results of more rows than this (default 100000; use sqlStream for more). */
  maxRows?: number;
  /** Called while rows are loaded. */
  onProgress?: (progress: SqlProgress) => void;
}

const DUCKDB_TYPES: Record<string, string> = {
  float32: "FLOAT",
  float64: "DOUBLE",
  int8: "TINYINT",
  int16: "SMALLINT",
  int32: "INTEGER",
  int64: "BIGINT",
  uint8: "UTINYINT",
  uint16: "USMALLINT",
  uint32: "UINTEGER",
  uint64: "UBIGINT",
  bool: "BOOLEAN",
  string: "VARCHAR",
};

/** DuckDB's vector size: rows of one appended data chunk. */
const CHUNK_ROWS = 2048;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Tables, column references and whether `*` / COLUMNS(...) appear, from DuckDB's parse tree. */
interface QueryRefs {
  columns: Set<string>;
  star: boolean;
}

function collectRefs(node: unknown, refs: QueryRefs): void {
  if (Array.isArray(node)) {
    for (const x of node) collectRefs(x, refs);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const o = node as Record<string, unknown>;
  if (o.class === "STAR" || o.type === "COLUMNS") refs.star = true;
  if (o.class === "COLUMN_REF" && Array.isArray(o.column_names)) {
    for (const n of o.column_names) if (typeof n === "string") refs.columns.add(n.toLowerCase());
  }
  for (const v of Object.values(o)) collectRefs(v, refs);
}

/**
 * A DuckDB database holding a dataset view's catalog columns as a table named after the config
 * (and `data`). Query it with SELECT statements; close() deletes it.
 */
export class SqlSession {
  /** The table names the queries can use: the config, and "data". */
  readonly tables: string[];
  /** The columns loaded. */
  readonly columns: SqlColumn[];
  /** Rows loaded. */
  readonly rows: number;
  private readonly dir: string;
  private readonly instance: DuckDB.DuckDBInstance;
  private readonly connection: DuckDB.DuckDBConnection;
  private readonly duckdb: DuckDBModule;
  private closed = false;

  private constructor(init: {
    tables: string[];
    columns: SqlColumn[];
    rows: number;
    dir: string;
    instance: DuckDB.DuckDBInstance;
    connection: DuckDB.DuckDBConnection;
    duckdb: DuckDBModule;
  }) {
    this.tables = init.tables;
    this.columns = init.columns;
    this.rows = init.rows;
    this.dir = init.dir;
    this.instance = init.instance;
    this.connection = init.connection;
    this.duckdb = init.duckdb;
  }

  /** @internal Use {@link openSql}. */
  static async open(dataset: Dataset, options: SqlOptions, columns: string[]): Promise<SqlSession> {
    const duckdb = await loadDuckDB();
    const view = filteredView(dataset, options);
    const features = columns.map((c) => scalarFeature(view, c));
    const dir = await mkdtemp(join(options.tempDirectory ?? tmpdir(), "astropile-sql-"));
    let instance: DuckDB.DuckDBInstance | undefined;
    let connection: DuckDB.DuckDBConnection | undefined;
    try {
      instance = await duckdb.DuckDBInstance.create(join(dir, "catalog.duckdb"), {
        memory_limit: options.memoryLimit ?? "512MB",
        temp_directory: join(dir, "spill"),
      });
      connection = await instance.connect();
      const table = dataset.config;
      const columnsSql = features
        .map((f) => `${quoteIdent(f.name)} ${DUCKDB_TYPES[f.dtype]}`)
        .join(", ");
      await connection.run(`CREATE TABLE ${quoteIdent(table)} (${columnsSql})`);
      const tables = [table];
      if (table.toLowerCase() !== "data") {
        await connection.run(`CREATE VIEW data AS SELECT * FROM ${quoteIdent(table)}`);
        tables.push("data");
      }
      const rows = await load(duckdb, connection, table, view, features, options);
      // The data is in: from here on a query reads no file and writes none, whatever it says.
      await connection.run("SET enable_external_access = false");
      await connection.run("SET lock_configuration = true");
      return new SqlSession({
        tables,
        columns: features.map((f) => ({ name: f.name, type: DUCKDB_TYPES[f.dtype] })),
        rows,
        dir,
        instance,
        connection,
        duckdb,
      });
    } catch (e) {
      connection?.closeSync();
      instance?.closeSync();
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Runs one SELECT statement; yields its rows in chunks (memory: one chunk at a time). */
  async *stream(sql: string): AsyncGenerator<SqlRows> {
    if (this.closed) throw new UsageError("this SQL session is closed");
    await parseSelect(this.connection, sql);
    let result: DuckDB.DuckDBResult;
    try {
      result = await this.connection.stream(sql);
    } catch (e) {
      throw sqlError(e, sql);
    }
    const columns = result
      .columnNames()
      .map((name, i) => ({ name, type: result.columnTypes()[i].toString() }));
    let sent = false;
    while (true) {
      let chunk: DuckDB.DuckDBDataChunk | null;
      try {
        chunk = await result.fetchChunk();
      } catch (e) {
        throw sqlError(e, sql);
      }
      if (!chunk || chunk.rowCount === 0) break;
      sent = true;
      yield { columns, rows: chunk.convertRows(this.duckdb.JSDuckDBValueConverter) };
    }
    if (!sent) yield { columns, rows: [] };
  }

  /** Runs one SELECT statement and returns all its rows (at most `maxRows`, default 100000). */
  async query(sql: string, options: { maxRows?: number } = {}): Promise<SqlResult> {
    const maxRows = options.maxRows ?? 100_000;
    const rows: Array<Record<string, SqlValue>> = [];
    let columns: SqlColumn[] = [];
    for await (const part of this.stream(sql)) {
      columns = part.columns;
      for (const r of part.rows) {
        if (rows.length >= maxRows) {
          throw new UsageError(
            `the query returns more than maxRows = ${maxRows} rows; add a LIMIT, raise maxRows, or read it with sqlStream`,
          );
        }
        rows.push(Object.fromEntries(columns.map((c, i) => [c.name, r[i]])));
      }
    }
    return { columns, rows };
  }

  /** Closes DuckDB and deletes the temporary database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function scalarFeature(view: Dataset, name: string): Feature {
  const f = view.select([name]).features[0];
  if (f.shape.length > 0) {
    throw new SchemaError(
      `SQL sees catalog (scalar) columns; this one has [${f.shape.join(", ")}] values per row (export it to FITS or ECSV instead)`,
      { column: f.name },
    );
  }
  return f;
}

/** Appends the view's rows to the table, a DuckDB vector (2048 rows) at a time. */
async function load(
  duckdb: DuckDBModule,
  connection: DuckDB.DuckDBConnection,
  table: string,
  view: Dataset,
  features: Feature[],
  options: SqlOptions,
): Promise<number> {
  const names = features.map((f) => f.name);
  const types = features.map((f) => typeOf(duckdb, f.dtype));
  const totalRows = view.filtered ? null : view.length;
  const appender = await connection.createAppender(table);
  let rows = 0;
  try {
    for await (const batch of view.select(names).batches({ size: 16 * CHUNK_ROWS })) {
      for (let at = 0; at < batch.length; at += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, batch.length - at);
        const chunk = duckdb.DuckDBDataChunk.create(types, n);
        names.forEach((name, k) => {
          const values = batch.columns[name];
          // The appender takes any indexable values: typed arrays as they are (bool as 0/1).
          chunk.setColumnValues(k, slice(values, at, at + n) as unknown as DuckDB.DuckDBValue[]);
        });
        appender.appendDataChunk(chunk);
      }
      rows += batch.length;
      options.onProgress?.({ phase: "load", rows, totalRows });
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return rows;
}

function slice(values: ColumnValues, start: number, end: number): ColumnValues {
  return Array.isArray(values) ? values.slice(start, end) : values.subarray(start, end);
}

function typeOf(duckdb: DuckDBModule, dtype: string): DuckDB.DuckDBType {
  const t: Record<string, DuckDB.DuckDBType> = {
    float32: duckdb.FLOAT,
    float64: duckdb.DOUBLE,
    int8: duckdb.TINYINT,
    int16: duckdb.SMALLINT,
    int32: duckdb.INTEGER,
    int64: duckdb.BIGINT,
    uint8: duckdb.UTINYINT,
    uint16: duckdb.USMALLINT,
    uint32: duckdb.UINTEGER,
    uint64: duckdb.UBIGINT,
    bool: duckdb.BOOLEAN,
    string: duckdb.VARCHAR,
  };
  return t[dtype];
}

function sqlError(e: unknown, sql: string): UsageError {
  const message = (e as Error).message?.split("\n")[0] ?? String(e);
  return new UsageError(
    `SQL: ${message}`,
    { detail: `query ${JSON.stringify(sql.slice(0, 200))}` },
    { cause: e },
  );
}

/** Parses `sql` with DuckDB's parser: one SELECT statement, else a UsageError. */
async function parseSelect(connection: DuckDB.DuckDBConnection, sql: string): Promise<unknown> {
  if (typeof sql !== "string" || sql.trim() === "") throw new UsageError("SQL: the query is empty");
  let parsed: { error?: boolean; error_message?: string; statements?: unknown[] };
  try {
    const reader = await connection.runAndReadAll("SELECT json_serialize_sql($1::VARCHAR) AS j", [
      sql,
    ]);
    parsed = JSON.parse(String(reader.getRowObjectsJS()[0].j));
  } catch (e) {
    throw sqlError(e, sql);
  }
  if (parsed.error) {
    const why = parsed.error_message ?? "not a SELECT statement";
    throw new UsageError(
      `SQL: ${/only SELECT/i.test(why) ? "only SELECT statements can run here" : why}`,
      { detail: `query ${JSON.stringify(sql.slice(0, 200))}` },
    );
  }
  if ((parsed.statements ?? []).length !== 1)
    throw new UsageError("SQL: give exactly one SELECT statement", {
      detail: `query ${JSON.stringify(sql.slice(0, 200))}`,
    });
  return parsed.statements;
}

/** The dataset columns a query names (all scalar ones for `*` or COLUMNS(...)). */
async function queryColumns(dataset: Dataset, sql: string): Promise<string[]> {
  const duckdb = await loadDuckDB();
  const instance = await duckdb.DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const statements = await parseSelect(connection, sql);
    const refs: QueryRefs = { columns: new Set(), star: false };
    collectRefs(statements, refs);
    const features = dataset.features;
    const scalar = features.filter((f) => f.shape.length === 0);
    if (refs.star) return scalar.map((f) => f.name);
    const named = features.filter((f) => refs.columns.has(f.name.toLowerCase()));
    for (const f of named) scalarFeature(dataset, f.name);
    // A table needs a column; count(*) alone still counts rows.
    return named.length > 0 ? named.map((f) => f.name) : [scalar[0]?.name ?? features[0].name];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Opens a SQL session over a dataset view: its catalog (scalar) columns loaded, in batches, into
 * a DuckDB table named after the config (also reachable as `data`). Close it when done.
 *
 * ```ts
 * const sql = await openSql(ds, { columns: ["object_id", "z", "forced.g_cmodel_mag"] });
 * const { rows } = await sql.query('SELECT count(*) AS n, avg(z) FROM data WHERE "forced.g_cmodel_mag" < 22');
 * await sql.close();
 * ```
 */
export async function openSql(dataset: Dataset, options: SqlOptions = {}): Promise<SqlSession> {
  const columns =
    options.columns ?? dataset.features.filter((f) => f.shape.length === 0).map((f) => f.name);
  return SqlSession.open(dataset, options, columns);
}

/**
 * Runs one SELECT statement over a dataset view's catalog columns (table: the config's name, or
 * `data`) through DuckDB, and yields the result's rows in chunks. Loads only the columns the
 * query names (see {@link openSql}); the temporary database is deleted when the iteration ends.
 */
export async function* sqlStream(
  dataset: Dataset,
  sql: string,
  options: SqlOptions = {},
): AsyncGenerator<SqlRows> {
  const session = await SqlSession.open(
    dataset,
    options,
    options.columns ?? (await queryColumns(dataset, sql)),
  );
  try {
    yield* session.stream(sql);
  } finally {
    await session.close();
  }
}

/**
 * Runs one SELECT statement over a dataset view's catalog (scalar) columns through DuckDB, for
 * the queries the filter language cannot express; returns the rows (at most `maxRows`).
 *
 * ```ts
 * const { rows } = await sqlQuery(ds, "SELECT tract, count(*) AS n FROM data GROUP BY tract ORDER BY n DESC");
 * ```
 *
 * Errors: DuckDB missing (DependencyError), not one SELECT statement or a query DuckDB rejects
 * (UsageError with DuckDB's message), an array column named (SchemaError), a result longer than
 * maxRows (UsageError).
 */
export async function sqlQuery(
  dataset: Dataset,
  sql: string,
  options: SqlOptions = {},
): Promise<SqlResult> {
  const session = await SqlSession.open(
    dataset,
    options,
    options.columns ?? (await queryColumns(dataset, sql)),
  );
  try {
    return await session.query(sql, { maxRows: options.maxRows });
  } finally {
    await session.close();
  }
}
