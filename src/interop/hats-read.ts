// Read-only access to a HATS catalog (the layout LSDB reads): its properties, its partitions
// (from partition_info.csv, else from the dataset/Norder=K/Dir=D/Npix=N files), its schema, and
// exact cone searches that open only the partitions whose pixel the cone touches.

import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  arrayClass,
  type ColumnBatch,
  type ColumnSpec,
  concatValues,
  gatherRows,
  valuesPerRow,
} from "../core/columns.ts";
import { FormatError, NotFoundError, SchemaError, UsageError } from "../core/errors.ts";
import { registerRootResolver } from "../dataset/source.ts";
import { ParquetReader } from "../formats/parquet.ts";
import { angularSeparationDeg, coneKeyRanges, keyRange } from "../sky/index.ts";
import { isRemoteUrl, remoteUrl } from "../storage/remote-hook.ts";

/** One partition of a HATS catalog: a HEALPix NESTED pixel and its Parquet file(s). */
export interface HatsPartition {
  order: number;
  pixel: number;
  /** Parquet files of the partition (one, or several when `hats_npix_suffix` is "/"). */
  files: string[];
}

/** Rows of a cone search: columns of the rows within the radius, and their distances. */
export interface HatsConeResult {
  length: number;
  columns: ColumnBatch;
  /** Great-circle distance of each row from the centre, arcsec. */
  distArcsec: Float64Array;
  /** Partitions read. */
  partitionsRead: number;
}

/** A HATS catalog opened read-only: see {@link openHatsCatalog}. */
export class HatsCatalog {
  readonly root: string;
  /** `hats.properties` (or the older `properties`) as key/value strings. */
  readonly properties: Record<string, string>;
  readonly partitions: HatsPartition[];
  /** Columns of the catalog (from `dataset/_common_metadata`, else the first partition). */
  readonly specs: ColumnSpec[];

  private constructor(
    root: string,
    properties: Record<string, string>,
    partitions: HatsPartition[],
    specs: ColumnSpec[],
  ) {
    this.root = root;
    this.properties = properties;
    this.partitions = partitions;
    this.specs = specs;
  }

  /** Catalog name (`obs_collection`). */
  get name(): string {
    return this.properties.obs_collection ?? "";
  }
  /** Rows as the properties state them (`hats_nrows`), or NaN. */
  get rows(): number {
    return Number(this.properties.hats_nrows ?? Number.NaN);
  }
  get raColumn(): string {
    return this.properties.hats_col_ra ?? "ra";
  }
  get decColumn(): string {
    return this.properties.hats_col_dec ?? "dec";
  }
  get columns(): string[] {
    return this.specs.map((s) => s.name);
  }

  static async open(dir: string): Promise<HatsCatalog> {
    const dirStat = await stat(dir).catch(() => null);
    if (!dirStat?.isDirectory())
      throw new NotFoundError(`no such directory: ${dir}`, { file: dir });
    let text: string | null = null;
    let propsFile = join(dir, "hats.properties");
    for (const name of ["hats.properties", "properties"]) {
      propsFile = join(dir, name);
      text = await readFile(propsFile, "utf8").catch(() => null);
      if (text !== null) break;
    }
    if (text === null)
      throw new NotFoundError("not a HATS catalog: no hats.properties or properties file", {
        file: dir,
      });
    const properties = parseProperties(text);
    if (properties.dataproduct_type && !["object", "source"].includes(properties.dataproduct_type))
      throw new FormatError(
        `dataproduct_type "${properties.dataproduct_type}" is not a catalog of rows with positions (object or source)`,
        { file: propsFile },
      );
    const suffix = properties.hats_npix_suffix ?? ".parquet";
    const listed = await readPartitionInfo(join(dir, "partition_info.csv"));
    const pixels = listed ?? (await listPartitions(join(dir, "dataset"), suffix));
    const partitions: HatsPartition[] = [];
    for (const { order, pixel } of pixels) {
      const base = join(
        dir,
        "dataset",
        `Norder=${order}`,
        `Dir=${Math.floor(pixel / 10000) * 10000}`,
      );
      if (suffix === "/") {
        const d = join(base, `Npix=${pixel}`);
        const files = (await readdir(d).catch(() => null))?.filter((f) => f.endsWith(".parquet"));
        if (!files || files.length === 0)
          throw new NotFoundError("partition directory missing or empty", { file: d });
        partitions.push({ order, pixel, files: files.sort().map((f) => join(d, f)) });
      } else {
        const f = join(base, `Npix=${pixel}${suffix}`);
        if (!(await stat(f).catch(() => null))?.isFile())
          throw new NotFoundError("partition file listed in partition_info.csv is missing", {
            file: f,
          });
        partitions.push({ order, pixel, files: [f] });
      }
    }
    partitions.sort((a, b) =>
      keyRange(a.order, a.pixel)[0] < keyRange(b.order, b.pixel)[0] ? -1 : 1,
    );
    const common = join(dir, "dataset", "_common_metadata");
    const schemaFile = (await stat(common).catch(() => null)) ? common : partitions[0]?.files[0];
    let specs: ColumnSpec[] = [];
    if (schemaFile) {
      const r = await ParquetReader.open(schemaFile);
      specs = r.specs;
      r.close();
    }
    const cat = new HatsCatalog(dir, properties, partitions, specs);
    for (const c of [cat.raColumn, cat.decColumn])
      if (specs.length > 0 && !specs.some((s) => s.name === c))
        throw new SchemaError(`the catalog's position column is not in its schema`, {
          file: schemaFile,
          column: c,
        });
    return cat;
  }

  /**
   * Rows within `radiusArcsec` of (ra, dec) (degrees, ICRS; exact great-circle distance), in
   * partition order then file order. Only partitions whose pixel the cone touches are read;
   * `columns` (default all) are read for them, plus the position columns.
   */
  async coneSearch(
    raDeg: number,
    decDeg: number,
    radiusArcsec: number,
    options: { columns?: string[] } = {},
  ): Promise<HatsConeResult> {
    if (!(Number.isFinite(raDeg) && Number.isFinite(decDeg) && decDeg >= -90 && decDeg <= 90))
      throw new UsageError(`cone centre ra=${raDeg} dec=${decDeg} is not a sky position (degrees)`);
    if (!(radiusArcsec > 0 && radiusArcsec <= 180 * 3600))
      throw new UsageError(`cone radius ${radiusArcsec} arcsec must be in (0, 648000]`);
    const names = options.columns ?? this.columns;
    const specs = names.map((n) => {
      const s = this.specs.find((x) => x.name === n);
      if (!s)
        throw new SchemaError(`no such column; the catalog has: ${this.columns.join(", ")}`, {
          file: this.root,
          column: n,
        });
      return s;
    });
    const radiusDeg = radiusArcsec / 3600;
    const ranges = coneKeyRanges(raDeg, decDeg, radiusDeg);
    const touched = this.partitions.filter((p) => {
      const [lo, hi] = keyRange(p.order, p.pixel);
      return ranges.some(([a, b]) => a < hi && b > lo);
    });
    const read = [...new Set([this.raColumn, this.decColumn, ...names])];
    const pieces: Record<string, ColumnBatch[string][]> = Object.fromEntries(
      names.map((n) => [n, []]),
    );
    const dists: Float64Array[] = [];
    for (const p of touched) {
      for (const f of p.files) {
        const r = await ParquetReader.open(f);
        try {
          const { length, columns } = await r.read(read);
          const ra = columns[this.raColumn] as Float64Array;
          const dec = columns[this.decColumn] as Float64Array;
          const keep: number[] = [];
          const d: number[] = [];
          for (let i = 0; i < length; i++) {
            const sep = angularSeparationDeg(raDeg, decDeg, ra[i], dec[i]);
            if (sep <= radiusDeg) {
              keep.push(i);
              d.push(sep * 3600);
            }
          }
          if (keep.length === 0) continue;
          for (const s of specs)
            pieces[s.name].push(gatherRows(columns[s.name], valuesPerRow(s), keep));
          dists.push(Float64Array.from(d));
        } finally {
          r.close();
        }
      }
    }
    const out: ColumnBatch = {};
    for (const n of names)
      out[n] = pieces[n].length
        ? concatValues(pieces[n])
        : emptyTyped(specs.find((s) => s.name === n)!);
    const distArcsec = concatValues(dists.length ? dists : [new Float64Array(0)]) as Float64Array;
    return { length: distArcsec.length, columns: out, distArcsec, partitionsRead: touched.length };
  }

  /** Every row, partition by partition (one partition file's asked-for columns at a time). */
  async *batches(
    options: { columns?: string[] } = {},
  ): AsyncGenerator<{ length: number; columns: ColumnBatch; partition: HatsPartition }> {
    for (const p of this.partitions) {
      for (const f of p.files) {
        const r = await ParquetReader.open(f);
        try {
          const { length, columns } = await r.read(options.columns);
          yield { length, columns, partition: p };
        } finally {
          r.close();
        }
      }
    }
  }
}

function emptyTyped(spec: ColumnSpec): ColumnBatch[string] {
  return spec.dtype === "string" ? [] : new (arrayClass(spec.dtype))(0);
}

/** Java-style properties as HATS writes them: `key=value` lines, `#` comments. */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

async function readPartitionInfo(
  path: string,
): Promise<Array<{ order: number; pixel: number }> | null> {
  const text = await readFile(path, "utf8").catch(() => null);
  if (text === null) return null;
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (lines[0] ?? "").split(",").map((h) => h.trim());
  const io = header.indexOf("Norder");
  const ip = header.indexOf("Npix");
  if (io < 0 || ip < 0)
    throw new FormatError("partition_info.csv lacks the Norder,Npix header", { file: path });
  return lines.slice(1).map((l, i) => {
    const cells = l.split(",");
    const order = Number(cells[io]);
    const pixel = Number(cells[ip]);
    if (
      !(
        Number.isInteger(order) &&
        order >= 0 &&
        order <= 29 &&
        Number.isSafeInteger(pixel) &&
        pixel >= 0 &&
        pixel < 12 * 4 ** order
      )
    )
      throw new FormatError(`bad partition "${l}"`, { file: path, detail: `line ${i + 2}` });
    return { order, pixel };
  });
}

async function listPartitions(
  dataset: string,
  suffix: string,
): Promise<Array<{ order: number; pixel: number }>> {
  const out: Array<{ order: number; pixel: number }> = [];
  const orders = await readdir(dataset).catch(() => {
    throw new NotFoundError("not a HATS catalog: no partition_info.csv and no dataset directory", {
      file: dataset,
    });
  });
  for (const o of orders) {
    const mo = /^Norder=(\d+)$/.exec(o);
    if (!mo) continue;
    for (const d of await readdir(join(dataset, o))) {
      if (!/^Dir=\d+$/.test(d)) continue;
      for (const f of await readdir(join(dataset, o, d))) {
        const mp =
          suffix === "/"
            ? /^Npix=(\d+)$/.exec(f)
            : new RegExp(`^Npix=(\\d+)${suffix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`).exec(f);
        if (mp) out.push({ order: Number(mo[1]), pixel: Number(mp[1]) });
      }
    }
  }
  return out;
}

/**
 * Opens a HATS catalog (the directory holding `hats.properties` / `properties`,
 * `partition_info.csv` and `dataset/`) read-only: reads its properties, partition list and
 * schema; rows are read by {@link HatsCatalog.coneSearch} and {@link HatsCatalog.batches}.
 * (`openDataset` on such a directory is a UsageError pointing here: a HATS catalog is not a
 * Dataset source.)
 */
export async function openHatsCatalog(dir: string): Promise<HatsCatalog> {
  return HatsCatalog.open(dir);
}

/**
 * True when `dir` is a local HATS catalog directory: a `hats.properties` (or the older
 * `properties`) file beside a `partition_info.csv` file or a `dataset/` directory. Reads
 * nothing but directory entries.
 */
export async function isHatsCatalog(dir: string): Promise<boolean> {
  if (isRemoteUrl(dir) || remoteUrl(dir) !== null) return false;
  const is = async (name: string, kind: "file" | "directory") => {
    const s = await stat(join(dir, name)).catch(() => null);
    return kind === "file" ? s?.isFile() === true : s?.isDirectory() === true;
  };
  return (
    ((await is("hats.properties", "file")) || (await is("properties", "file"))) &&
    ((await is("partition_info.csv", "file")) || (await is("dataset", "directory")))
  );
}

/**
 * The UsageError for opening a HATS catalog directory (without astropile.json) as a dataset, or
 * null when `dir` is not one. A HATS catalog is not a Dataset source: its partitions are Parquet
 * files, which the Dataset API's readers (HDF5 partition files, their manifest, position
 * sidecars and id index) do not read; the error says what does.
 * @internal
 */
export async function hatsCatalogError(dir: string): Promise<UsageError | null> {
  if (!(await isHatsCatalog(dir))) return null;
  if (await stat(join(dir, "astropile.json")).catch(() => null)) return null;
  const shown = resolve(dir);
  return new UsageError(
    `${shown} is a HATS catalog (hats.properties, partition_info.csv, dataset/Norder=K/Dir=D/Npix=N.parquet), not an AstroPile dataset: openDataset and the astropile commands read HDF5 datasets with an astropile.json manifest, or Multimodal Universe trees. Read it with openHatsCatalog(${JSON.stringify(shown)}) from "astropile" (its properties, schema, coneSearch and batches), or with LSDB (lsdb.open_catalog)`,
    { file: shown },
  );
}

// openDataset given a HATS catalog: that UsageError instead of "no manifest" (resolvers are
// asked only for a directory without astropile.json). The CLI and the server open through
// datasetRootOf (mmu-adopt.ts), which asks hatsCatalogError too.
registerRootResolver(async (dir) => {
  const error = await hatsCatalogError(dir);
  if (error) throw error;
  return null;
});
