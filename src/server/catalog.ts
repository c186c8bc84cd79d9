// The dataset catalog: named datasets (local directories, URLs, adopted MMU trees) in a DuckDB
// database file, updated in place by SQL statements (never rewritten whole), searchable by text,
// survey, modality and sky position.
//
// DuckDB lets one process at a time open a file for writing (and readers only while no process
// writes it). So the catalog holds no connection between calls: each call opens the file, runs
// its statements in one transaction and closes it, and a call that meets another process's lock
// retries until `lockTimeoutMs`, then fails with a LockedError naming the file. Two processes
// adding at once both land; a server keeps serving while `astropile catalog add` runs. Within
// one process the calls on a file are queued (DuckDB's file lock is per process, so two open
// instances in one process would not exclude each other).
//
// DuckDB (@duckdb/node-api) is an optional dependency, as for `sqlQuery`: a native package with
// prebuilt binaries per platform; without it, a DependencyError names it.
import { randomBytes } from "node:crypto";
import { link, mkdir, realpath, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type * as DuckDB from "@duckdb/node-api";
import { defaultCacheDir } from "../cache/config.ts";
import {
  AstroPileError,
  DependencyError,
  isAstroPileError,
  LockedError,
  NotFoundError,
  UsageError,
} from "../core/errors.ts";
import type { RemoteOptions } from "../remote/index.ts";
import { queryDisc } from "../sky/index.ts";
import { CATALOG_COVERAGE_ORDER, describeDataset } from "./describe.ts";
import {
  type CatalogEntry,
  type CatalogQuery,
  DATASET_NAME,
  type DatasetDirectory,
} from "./directory.ts";

/** A catalog file that is not a DuckDB database, not an AstroPile catalog, corrupt, or of a newer version. */
export class CatalogFileError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_BAD_CATALOG";
}

/** `add` of a name the catalog already has (without `replace`). */
export class DatasetExistsError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_DATASET_EXISTS";
}

/** Options of {@link DatasetCatalog.open}. */
export interface CatalogOptions {
  /** Create the file (and its directory) when missing (default true); false: NotFoundError. */
  create?: boolean;
  /**
   * How long a call waits for another process that has the file open before it fails with a
   * LockedError, in milliseconds (default 15 000).
   */
  lockTimeoutMs?: number;
  /** Remote datasets: transport and credentials used when describing them (add, refresh). */
  remote?: RemoteOptions;
  /** Order of the coverage maps of datasets added (default {@link CATALOG_COVERAGE_ORDER}, 5). */
  coverageOrder?: number;
}

/** Options of {@link DatasetCatalog.add}. */
export interface AddDatasetOptions {
  /** Free text shown in listings and searched by `q`. */
  description?: string;
  /** Replace an entry of the same name instead of failing with a DatasetExistsError. */
  replace?: boolean;
}

/** The `format` recorded in the catalog's version table. */
export const CATALOG_FORMAT = "astropile-catalog";
/** The schema version this code writes and reads. */
export const CATALOG_VERSION = 1;

const VERSION_TABLE = "astropile_catalog";
const SCHEMA = [
  `CREATE TABLE ${VERSION_TABLE} (format VARCHAR NOT NULL, version INTEGER NOT NULL, created_at VARCHAR NOT NULL)`,
  `CREATE TABLE datasets (
    name VARCHAR PRIMARY KEY,
    location VARCHAR NOT NULL,
    survey VARCHAR,
    project VARCHAR,
    release VARCHAR,
    modality VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    byte_count BIGINT NOT NULL,
    configs VARCHAR[] NOT NULL,
    columns VARCHAR[] NOT NULL,
    coverage_order INTEGER NOT NULL,
    coverage INTEGER[] NOT NULL,
    description VARCHAR,
    added_at VARCHAR NOT NULL
  )`,
];
/** Searches whose results a catalog object keeps while the file is unchanged. */
const MAX_CACHED_QUERIES = 64;
/** Longest q, survey or modality a search takes (characters). */
const MAX_QUERY_TEXT = 1024;
const ENTRY_COLUMNS =
  "name, location, survey, project, release, modality, row_count, byte_count, configs, columns, coverage_order, coverage, description, added_at";

/**
 * The catalog file used when none is named: `$ASTROPILE_CATALOG`, else `catalog.duckdb` in the
 * cache directory (`$ASTROPILE_CACHE_DIR` or the XDG cache directory).
 */
export function defaultCatalogFile(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.ASTROPILE_CATALOG;
  return named ? resolve(named) : join(defaultCacheDir(env), "catalog.duckdb");
}

type DuckDBModule = typeof DuckDB;
let duckdbModule: Promise<DuckDBModule> | undefined;

/** The DuckDB module, loaded once; a DependencyError naming the package when it is not installed. */
async function loadDuckDB(): Promise<DuckDBModule> {
  duckdbModule ??= import("@duckdb/node-api").catch((e: unknown) => {
    duckdbModule = undefined;
    throw new DependencyError(
      `the dataset catalog needs the optional package @duckdb/node-api (DuckDB), which is not installed or has no native build for this platform (${process.platform}-${process.arch}): npm install @duckdb/node-api`,
      {},
      { cause: e },
    );
  });
  return duckdbModule;
}

// Calls on one file within this process, one after the other (see the top of the file).
const queues = new Map<string, Promise<unknown>>();

function queued<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(file) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  queues.set(file, tail);
  void tail.then(() => {
    if (queues.get(file) === tail) queues.delete(file);
  });
  return run;
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const isLockConflict = (e: unknown) =>
  /Could not set lock on file|Conflicting lock/i.test(messageOf(e));

type Connection = DuckDB.DuckDBConnection;

/**
 * The dataset catalog of a data service: a DuckDB database file of named datasets, with what
 * their manifests say (provenance, modality, rows, bytes, configs, columns, sky coverage at
 * HEALPix order 5). Implements {@link DatasetDirectory}, the interface the server reads.
 *
 * Safe to share between processes: each call opens the file, runs one transaction and closes
 * it; calls that meet another process's lock wait (see {@link CatalogOptions.lockTimeoutMs}).
 *
 * ```ts
 * const catalog = await DatasetCatalog.open("catalog.duckdb");
 * await catalog.add("hsc", "data/hsc", { description: "HSC PDR3 cutouts" });
 * const near = await catalog.list({ cone: { raDeg: 150.1, decDeg: 2.2, radiusDeg: 1 } });
 * catalog.close();
 * ```
 */
export class DatasetCatalog implements DatasetDirectory {
  /** Absolute path of the database file. */
  readonly file: string;
  private readonly options: CatalogOptions;
  private closed = false;
  // get() answers from a snapshot of every entry, reloaded when the file (or its WAL) changes.
  private snapshot: { signature: string; entries: Map<string, CatalogEntry> } | undefined;
  // list() results of recent queries, dropped as a whole when the file changes.
  private results: { signature: string; byQuery: Map<string, CatalogEntry[]> } | undefined;

  private constructor(file: string, options: CatalogOptions) {
    this.file = file;
    this.options = options;
  }

  /**
   * Opens the catalog in `file`, creating it (with its directory) when it does not exist.
   * Throws CatalogFileError when the file is not a DuckDB database, is one without the catalog's
   * version table, is corrupt or was written by a newer AstroPile; LockedError when another
   * process keeps it open past `lockTimeoutMs`; DependencyError without DuckDB.
   */
  static async open(file: string, options: CatalogOptions = {}): Promise<DatasetCatalog> {
    if (typeof file !== "string" || file === "")
      throw new UsageError("a catalog file path is needed");
    if (options.coverageOrder !== undefined) {
      const o = options.coverageOrder;
      if (!Number.isInteger(o) || o < 0 || o > 13)
        throw new UsageError(`coverageOrder must be an integer in 0..13, got ${o}`);
    }
    await loadDuckDB(); // without DuckDB, fail before creating anything
    let path = resolve(file);
    const exists = await stat(path).then(
      (s) => {
        if (s.isDirectory())
          throw new CatalogFileError("a catalog must be a file, this is a directory", {
            file: path,
          });
        return true;
      },
      (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return false;
        throw new CatalogFileError(
          `cannot read the catalog: ${e.message}`,
          { file: path },
          { cause: e },
        );
      },
    );
    if (!exists) {
      if (options.create === false)
        throw new NotFoundError("no catalog there (create it with `astropile catalog add`)", {
          file: path,
        });
      await mkdir(dirname(path), { recursive: true });
    }
    // One key per file for the in-process queue, whatever path led to it.
    path = join(await realpath(dirname(path)), basename(path));
    if (!exists) await DatasetCatalog.createFile(path, options);
    const catalog = new DatasetCatalog(path, options);
    await catalog.session("write", (c) => catalog.checkSchema(c));
    return catalog;
  }

  /**
   * A new catalog file, made whole under a temporary name and then linked into place. DuckDB
   * writes a new database's headers after creating its file, so a process opening the path in
   * between met "not a valid DuckDB database file" (three processes starting on one new catalog
   * did, now and then). When another process linked its file first, that one is kept.
   */
  private static async createFile(path: string, options: CatalogOptions): Promise<void> {
    const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.new`;
    try {
      const fresh = new DatasetCatalog(temp, options);
      // Closing the database checkpoints it: everything is in the file, no WAL is left.
      await fresh.session("write", (c) => fresh.checkSchema(c));
      await link(temp, path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST")
          throw new CatalogFileError(
            `cannot create the catalog: ${e.message}`,
            { file: path },
            { cause: e },
          );
      });
    } finally {
      await rm(temp, { force: true });
      await rm(`${temp}.wal`, { force: true });
    }
  }

  /**
   * Adds a dataset under `name` (letters, digits, `.`, `_`, `-`; at most 128; see
   * DATASET_NAME), described from its manifest by {@link describeDataset} before the catalog is
   * touched. Throws UsageError for a bad name, DatasetExistsError when the name is taken (unless
   * `replace`), and describeDataset's errors when `location` is not a readable dataset.
   */
  async add(
    name: string,
    location: string,
    options: AddDatasetOptions = {},
  ): Promise<CatalogEntry> {
    this.checkOpen();
    checkName(name);
    if (options.description !== undefined && typeof options.description !== "string")
      throw new UsageError("description must be a string");
    const described = await describeDataset(location, {
      coverageOrder: this.options.coverageOrder,
      remote: this.options.remote,
    });
    const entry: CatalogEntry = {
      name,
      ...described,
      ...(options.description ? { description: options.description } : {}),
      addedAt: new Date().toISOString(),
    };
    await this.session("write", async (c) => {
      try {
        await insert(c, entry, options.replace === true);
      } catch (e) {
        if (/duplicate key|constraint/i.test(messageOf(e)))
          throw new DatasetExistsError(
            `the catalog already has a dataset "${name}" (remove it first, or add with replace)`,
            { file: this.file },
          );
        throw e;
      }
    });
    return entry;
  }

  /** Removes the dataset `name` from the catalog (its files are not touched). NotFoundError when absent. */
  async remove(name: string): Promise<void> {
    this.checkOpen();
    checkName(name);
    await this.session("write", async (c) => {
      const r = await c.runAndReadAll("DELETE FROM datasets WHERE name = $name RETURNING name", {
        name,
      });
      if (r.currentRowCount === 0) throw this.notFound(name);
    });
  }

  /**
   * Describes the dataset `name` again from its location (after it was rebuilt or grew) and
   * updates its entry; its description and addedAt stay. NotFoundError when absent.
   */
  async refresh(name: string): Promise<CatalogEntry> {
    this.checkOpen();
    checkName(name);
    const old = await this.read(name);
    if (!old) throw this.notFound(name);
    const described = await describeDataset(old.location, {
      coverageOrder: this.options.coverageOrder,
      remote: this.options.remote,
    });
    const entry: CatalogEntry = {
      name,
      ...described,
      // The location as first given: an MMU tree stays the tree, a relative path its absolute form.
      location: old.location,
      ...(old.description !== undefined ? { description: old.description } : {}),
      addedAt: old.addedAt,
    };
    await this.session("write", async (c) => {
      const r = await c.runAndReadAll("SELECT 1 FROM datasets WHERE name = $name", { name });
      if (r.currentRowCount === 0) throw this.notFound(name); // removed meanwhile
      await insert(c, entry, true);
    });
    return entry;
  }

  /** The entry of `name`, or undefined. A name that could never be valid is undefined too. */
  async get(name: string): Promise<CatalogEntry | undefined> {
    this.checkOpen();
    if (typeof name !== "string" || !DATASET_NAME.test(name)) return undefined;
    const signature = await this.signature();
    if (this.snapshot?.signature !== signature) {
      const entries = await this.session("read", async (c) => {
        const r = await c.runAndReadAll(`SELECT ${ENTRY_COLUMNS} FROM datasets`);
        return r.getRowObjectsJS().map(toEntry);
      });
      this.snapshot = { signature, entries: new Map(entries.map((e) => [e.name, e])) };
    }
    const entry = this.snapshot.entries.get(name);
    // A copy: the caller may change it, the snapshot must not change.
    return entry && structuredClone(entry);
  }

  /**
   * The entries matching `query`, by name. Every field narrows the result: `q` is a
   * case-insensitive substring of the name, survey, project, release, description or a column
   * name; `survey` and `modality` match case-insensitively; `cone` keeps datasets whose coverage
   * pixels meet the disc (inclusive: a dataset with a row inside is always kept; one whose rows
   * are only near the disc, within a coverage pixel of about 1.8°, may be kept too).
   */
  async list(query: CatalogQuery = {}): Promise<CatalogEntry[]> {
    this.checkOpen();
    const where: string[] = [];
    const values: Record<string, DuckDB.DuckDBValue> = {};
    const types: Record<string, DuckDB.DuckDBType> = {};
    const duckdb = await loadDuckDB();
    if (query.q !== undefined && query.q !== "") {
      if (typeof query.q !== "string") throw new UsageError("q must be a string");
      if (query.q.length > MAX_QUERY_TEXT)
        throw new UsageError(`q is longer than ${MAX_QUERY_TEXT} characters`);
      values.q = query.q.toLowerCase();
      types.q = duckdb.VARCHAR;
      where.push(
        `(contains(lower(name), $q) OR contains(lower(coalesce(survey, '')), $q)
          OR contains(lower(coalesce(project, '')), $q) OR contains(lower(coalesce(release, '')), $q)
          OR contains(lower(coalesce(description, '')), $q)
          OR len(list_filter(columns, lambda c: contains(lower(c), $q))) > 0)`,
      );
    }
    for (const key of ["survey", "modality"] as const) {
      const v = query[key];
      if (v === undefined || v === "") continue;
      if (typeof v !== "string") throw new UsageError(`${key} must be a string`);
      if (v.length > MAX_QUERY_TEXT)
        throw new UsageError(`${key} is longer than ${MAX_QUERY_TEXT} characters`);
      values[key] = v.toLowerCase();
      types[key] = duckdb.VARCHAR;
      where.push(`lower(${key}) = $${key}`);
    }
    const cone = query.cone;
    if (cone !== undefined) checkCone(cone);
    // Repeated searches (a viewer's listing) are answered from memory while the file is unchanged.
    const signature = await this.signature();
    if (this.results?.signature !== signature) this.results = { signature, byQuery: new Map() };
    const key = JSON.stringify([
      values.q,
      values.survey,
      values.modality,
      cone && [cone.raDeg, cone.decDeg, cone.radiusDeg],
    ]);
    const known = this.results.byQuery.get(key);
    if (known) return structuredClone(known);
    const found = await this.session("read", async (c) => {
      if (cone) {
        // A disc query at each coverage order present (one, unless coverageOrder was changed).
        const orders = (
          await c.runAndReadAll("SELECT DISTINCT coverage_order AS o FROM datasets ORDER BY o")
        )
          .getRowObjectsJS()
          .map((r) => Number(r.o));
        const parts: string[] = [];
        for (const [k, order] of orders.entries()) {
          const pixels = queryDisc(order, cone.raDeg, cone.decDeg, cone.radiusDeg).map(Number);
          values[`p${k}`] = duckdb.listValue(pixels);
          types[`p${k}`] = duckdb.LIST(duckdb.INTEGER);
          parts.push(`(coverage_order = ${order} AND list_has_any(coverage, $p${k}))`);
        }
        where.push(parts.length > 0 ? `(${parts.join(" OR ")})` : "false");
      }
      const sql = `SELECT ${ENTRY_COLUMNS} FROM datasets${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY name`;
      const r = await c.runAndReadAll(sql, values, types);
      return r.getRowObjectsJS().map(toEntry);
    });
    const cache = this.results;
    if (cache.signature === signature) {
      if (cache.byQuery.size >= MAX_CACHED_QUERIES) cache.byQuery.clear();
      cache.byQuery.set(key, structuredClone(found));
    }
    return found;
  }

  /** Ends the use of this catalog object (it holds no connection between calls). */
  close(): void {
    this.closed = true;
    this.snapshot = undefined;
    this.results = undefined;
  }

  // ---- internals -------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new UsageError(`the catalog ${this.file} is closed`);
  }

  private notFound(name: string): NotFoundError {
    return new NotFoundError(`the catalog has no dataset "${name}"`, { file: this.file });
  }

  private async read(name: string): Promise<CatalogEntry | undefined> {
    return this.session("read", async (c) => {
      const r = await c.runAndReadAll(`SELECT ${ENTRY_COLUMNS} FROM datasets WHERE name = $name`, {
        name,
      });
      const rows = r.getRowObjectsJS();
      return rows.length > 0 ? toEntry(rows[0]) : undefined;
    });
  }

  /** Identity of the file's current content: any committed change moves its size or mtime (or its WAL's). */
  private async signature(): Promise<string> {
    const part = async (p: string) =>
      stat(p, { bigint: true }).then(
        (s) => `${s.ino}:${s.size}:${s.mtimeNs}`,
        () => "-",
      );
    return `${await part(this.file)}|${await part(`${this.file}.wal`)}`;
  }

  /** Creates the schema in an empty database; refuses a database that is not a catalog of this version. */
  private async checkSchema(c: Connection): Promise<void> {
    const tables = (
      await c.runAndReadAll(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'main'",
      )
    )
      .getRowObjectsJS()
      .map((r) => String(r.t));
    if (tables.length === 0) {
      // A new file (or an empty database): the session's transaction makes this all or nothing.
      for (const statement of SCHEMA) await c.run(statement);
      await c.run(`INSERT INTO ${VERSION_TABLE} VALUES ($f, $v, $t)`, {
        f: CATALOG_FORMAT,
        v: CATALOG_VERSION,
        t: new Date().toISOString(),
      });
      return;
    }
    if (!tables.includes(VERSION_TABLE) || !tables.includes("datasets"))
      throw new CatalogFileError(
        `a DuckDB database but not an AstroPile catalog (it has tables ${tables.join(", ")}, not ${VERSION_TABLE})`,
        { file: this.file },
      );
    const rows = (
      await c.runAndReadAll(`SELECT format, version FROM ${VERSION_TABLE}`)
    ).getRowObjectsJS();
    if (rows.length !== 1 || rows[0].format !== CATALOG_FORMAT)
      throw new CatalogFileError(
        `not an AstroPile catalog (its ${VERSION_TABLE} table is not one)`,
        {
          file: this.file,
        },
      );
    const version = Number(rows[0].version);
    if (version !== CATALOG_VERSION)
      throw new CatalogFileError(
        version > CATALOG_VERSION
          ? `catalog version ${version} was written by a newer AstroPile (this one reads version ${CATALOG_VERSION}): upgrade AstroPile`
          : `catalog version ${version} is not one this AstroPile reads (version ${CATALOG_VERSION})`,
        { file: this.file },
      );
  }

  /**
   * Opens the file (retrying while another process holds it), runs `fn` in one transaction
   * (write) or read-only, and closes the file. DuckDB's own errors become CatalogFileErrors
   * naming the file; errors AstroPile throws pass unchanged.
   */
  private session<T>(mode: "read" | "write", fn: (c: Connection) => Promise<T>): Promise<T> {
    return queued(this.file, async () => {
      const duckdb = await loadDuckDB();
      const instance = await this.openInstance(duckdb, mode);
      let connection: Connection | undefined;
      try {
        connection = await instance.connect();
        if (mode === "read") return await fn(connection);
        await connection.run("BEGIN TRANSACTION");
        try {
          const result = await fn(connection);
          await connection.run("COMMIT");
          return result;
        } catch (e) {
          await connection.run("ROLLBACK").catch(() => undefined);
          throw e;
        }
      } catch (e) {
        throw this.wrap(e);
      } finally {
        connection?.closeSync();
        instance.closeSync();
      }
    });
  }

  private async openInstance(
    duckdb: DuckDBModule,
    mode: "read" | "write",
  ): Promise<DuckDB.DuckDBInstance> {
    const timeout = this.options.lockTimeoutMs ?? 15_000;
    const started = Date.now();
    let wait = 5;
    for (;;) {
      try {
        // A read opens read-only when the file exists (several readers at once, never a change).
        const readOnly = mode === "read";
        return await duckdb.DuckDBInstance.create(this.file, {
          ...(readOnly ? { access_mode: "READ_ONLY" } : {}),
          // The catalog is small: no thread pool, little memory, no extensions from the network.
          threads: "1",
          memory_limit: "256MB",
          autoinstall_known_extensions: "false",
          autoload_known_extensions: "false",
        });
      } catch (e) {
        if (!isLockConflict(e)) throw this.wrap(e);
        if (Date.now() - started >= timeout)
          throw new LockedError(
            `another process has kept the catalog open for ${timeout} ms: ${messageOf(e)}`,
            { file: this.file },
            { cause: e },
          );
        // Jittered backoff, so two waiting processes do not retry in step.
        await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
        wait = Math.min(100, wait * 2);
      }
    }
  }

  private wrap(e: unknown): unknown {
    if (isAstroPileError(e)) return e;
    const message = messageOf(e);
    if (/not a valid DuckDB database file/i.test(message))
      return new CatalogFileError(
        "not a catalog: the file is not a DuckDB database",
        { file: this.file },
        { cause: e },
      );
    return new CatalogFileError(
      `the catalog database failed: ${message}`,
      { file: this.file },
      { cause: e },
    );
  }
}

function checkName(name: string): void {
  if (typeof name !== "string" || !DATASET_NAME.test(name))
    throw new UsageError(
      `dataset name ${JSON.stringify(name)} is not valid: 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
}

function checkCone(cone: NonNullable<CatalogQuery["cone"]>): void {
  if (typeof cone !== "object" || cone === null)
    throw new UsageError("cone must be {raDeg, decDeg, radiusDeg} (degrees)");
  const { raDeg, decDeg, radiusDeg } = cone;
  for (const [k, v] of Object.entries({ raDeg, decDeg, radiusDeg }))
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new UsageError(`cone.${k} must be a finite number (degrees), got ${String(v)}`);
  if (decDeg < -90 || decDeg > 90)
    throw new UsageError(`cone.decDeg must be in -90..90, got ${decDeg}`);
  if (!(radiusDeg > 0) || radiusDeg > 180)
    throw new UsageError(`cone.radiusDeg must be in (0, 180] degrees, got ${radiusDeg}`);
}

async function insert(c: Connection, e: CatalogEntry, replace: boolean): Promise<void> {
  const duckdb = await loadDuckDB();
  const { VARCHAR, BIGINT, INTEGER, LIST, listValue } = duckdb;
  await c.run(
    `INSERT ${replace ? "OR REPLACE " : ""}INTO datasets (${ENTRY_COLUMNS})
     VALUES ($name, $location, $survey, $project, $release, $modality, $rows, $bytes, $configs, $columns, $order, $coverage, $description, $added)`,
    {
      name: e.name,
      location: e.location,
      survey: e.survey ?? null,
      project: e.project ?? null,
      release: e.release ?? null,
      modality: e.modality,
      rows: BigInt(e.rows),
      bytes: BigInt(e.bytes),
      configs: listValue(e.configs),
      columns: listValue(e.columns),
      order: e.coverage.order,
      coverage: listValue(e.coverage.pixels),
      description: e.description ?? null,
      added: e.addedAt,
    },
    {
      name: VARCHAR,
      location: VARCHAR,
      survey: VARCHAR,
      project: VARCHAR,
      release: VARCHAR,
      modality: VARCHAR,
      rows: BIGINT,
      bytes: BIGINT,
      configs: LIST(VARCHAR),
      columns: LIST(VARCHAR),
      order: INTEGER,
      coverage: LIST(INTEGER),
      description: VARCHAR,
      added: VARCHAR,
    },
  );
}

function toEntry(r: Record<string, unknown>): CatalogEntry {
  const text = (v: unknown) => (v === null || v === undefined ? undefined : String(v));
  const entry: CatalogEntry = {
    name: String(r.name),
    location: String(r.location),
    modality: String(r.modality),
    rows: Number(r.row_count),
    bytes: Number(r.byte_count),
    configs: (r.configs as unknown[]).map(String),
    columns: (r.columns as unknown[]).map(String),
    coverage: { order: Number(r.coverage_order), pixels: (r.coverage as unknown[]).map(Number) },
    addedAt: String(r.added_at),
  };
  for (const key of ["survey", "project", "release", "description"] as const) {
    const v = text(r[key]);
    if (v !== undefined) entry[key] = v;
  }
  return entry;
}
