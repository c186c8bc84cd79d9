// One parent dataset config opened for reading: its manifest entries, the mapping of its columns
// to view names, and a small pool of open partition files. Opening reads the manifest only.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import {
  type ColumnSpec,
  type ColumnValues,
  copyRow,
  type NumericArray,
  valuesPerRow,
} from "../core/columns.ts";
import { MissingColumnError, NotFoundError, UsageError } from "../core/errors.ts";
import { emptyRecord, own } from "../core/records.ts";
import { padRows, padRuleOf } from "../schema/padding.ts";
import {
  type ColumnMapping,
  columnModality,
  GROUPS,
  type Modality,
  mapColumns,
  modalityOf,
  sigmaToIvar,
} from "../schema/standard.ts";
import { openIdIndex } from "../storage/id-index.ts";
import { checkFileList, configFileList, openListed } from "../storage/integrity.ts";
import { MANIFEST_NAME } from "../storage/layout.ts";
import type {
  ColumnEntry,
  ConfigEntry,
  FileEntry,
  Manifest,
  Provenance,
} from "../storage/manifest.ts";
import { readManifest } from "../storage/manifest.ts";
import type { PartitionFile } from "../storage/partition-file.ts";
import { remoteUrl } from "../storage/remote-hook.ts";
import type { Example } from "./example.ts";

export interface Feature {
  name: string;
  /** Column in the files (differs from `name` when an alias maps it to a standard name). */
  source: string;
  dtype: ColumnEntry["dtype"];
  /** Shape of one row. */
  shape: number[];
  /** Fixed length in bytes of a string column. */
  stringLength?: number;
  unit?: string;
  description?: string;
  standardName?: string;
  modality: Modality | "core";
  /** A conversion applied on read (e.g. sigma to inverse variance). */
  conversion?: string;
  /**
   * Set when some files of the config hold this column at a shorter length (Multimodal Universe
   * SDSS: each file padded to its own longest spectrum): how rows of those files are padded on
   * read to `shape`, by MMU's rules (see padRows).
   */
  padding?: string;
}

/**
 * Finds the dataset root to read for a directory that has no astropile.json (an adopted
 * Multimodal Universe tree: the interop layer registers one). Returns null when it does not
 * handle the directory.
 * @internal
 */
export type RootResolver = (dir: string) => Promise<string | null>;

const rootResolvers: RootResolver[] = [];

/** @internal Registers a RootResolver (the interop layer does, for Multimodal Universe trees). */
export function registerRootResolver(resolver: RootResolver): void {
  if (!rootResolvers.includes(resolver)) rootResolvers.push(resolver);
}

/**
 * What an {@link ExampleExtender} adds to the examples of one opened source.
 * @internal
 */
export interface ExampleExtension {
  /**
   * Completes examples read from the source as whole rows (every column, an unselected view),
   * given in view order; resolves to the completed examples in the same order.
   */
  extend(examples: Example[]): Promise<Example[]>;
  /** Releases what it keeps open (called by Source.close). */
  close(): void;
}

/**
 * Gives the extension of a source whose examples hold more than its rows (the IFU data of an
 * adopted Multimodal Universe MaNGA tree, which its catalog rows only point at: the interop
 * layer registers one), or null when it does not apply. Asked once per opened source, the first
 * time examples are built from it; it decides from the manifest alone (no file is read), so a
 * dataset it does not apply to does no more work than that.
 * @internal
 */
export type ExampleExtender = (source: Source) => ExampleExtension | null;

const exampleExtenders: ExampleExtender[] = [];

/** @internal Registers an ExampleExtender (the interop layer does, for adopted MaNGA trees). */
export function registerExampleExtender(extender: ExampleExtender): void {
  if (!exampleExtenders.includes(extender)) exampleExtenders.push(extender);
}

/**
 * The root whose manifest describes `dir`: `dir` itself when it has astropile.json, else what a
 * registered resolver gives (e.g. the index of an adopted MMU tree); the ManifestError of
 * readManifest when none does.
 */
export async function resolveDatasetRoot(dir: string): Promise<string> {
  // A remote root is asked for its manifest first (Source.open); resolvers only when it has none.
  if (remoteUrl(dir) !== null) return dir;
  // A stat, not a parse: Source.open reads the manifest right after.
  const hasManifest = await stat(join(dir, MANIFEST_NAME)).then(
    () => true,
    () => false,
  );
  if (hasManifest) return dir;
  return (await resolveByResolvers(dir)) ?? dir; // readManifest then says what is wrong with it
}

async function resolveByResolvers(dir: string): Promise<string | null> {
  for (const resolver of rootResolvers) {
    const root = await resolver(dir);
    if (root !== null) return root;
  }
  return null;
}

/**
 * The manifest of `dir` and the root it is in. A remote location without astropile.json may be
 * a tree a resolver knows (an MMU tree on a server): its index is read instead.
 */
async function manifestOf(dir: string): Promise<{ root: string; manifest: Manifest }> {
  const root = await resolveDatasetRoot(dir);
  try {
    return { root, manifest: await readManifest(root) };
  } catch (err) {
    if (!(remoteUrl(root) !== null && err instanceof NotFoundError)) throw err;
    const adopted = await resolveByResolvers(root);
    if (adopted === null) throw err;
    return { root: adopted, manifest: await readManifest(adopted) };
  }
}

const MAX_OPEN_FILES = 16;
/**
 * Rows smaller than this, wanted out of order, are read by readRows (nearby rows coalesced into
 * one read) and copied, rather than one read each.
 */
const SMALL_ROW_BYTES = 4096;

export class Source {
  readonly root: string;
  readonly config: string;
  readonly manifest: Manifest;
  readonly entry: ConfigEntry;
  readonly files: FileEntry[];
  /** starts[f] is the first row of file f within this source; starts[files.length] = rows. */
  readonly starts: Float64Array;
  readonly features: Feature[];
  readonly modality: Modality;
  private readonly byName = new Map<string, Feature>();
  private readonly open = new Map<number, PartitionFile>();
  private idIndex: PartitionFile | undefined;
  private list: string | undefined;
  /** undefined until asked (see exampleExtension). */
  private extension: ExampleExtension | null | undefined;

  private constructor(root: string, manifest: Manifest, config: string) {
    this.root = root;
    this.manifest = manifest;
    this.config = config;
    this.entry = manifest.configs[config];
    // Files out of key order, pixels that disagree with key ranges, wrong row totals: refused
    // before any row is numbered (rows, sidecars and the id index count in this order).
    checkFileList(root, manifest, config);
    this.files = manifest.files.filter((f) => f.config === config);
    this.starts = new Float64Array(this.files.length + 1);
    for (let i = 0; i < this.files.length; i++)
      this.starts[i + 1] = this.starts[i] + this.files[i].rows;
    const mapping = mapColumns(this.entry.columns, manifest.provenance.survey);
    this.features = this.entry.columns.map((c, i) => feature(c, mapping[i], this.files));
    for (const f of this.features) this.byName.set(f.name, f);
    this.modality = modalityOf(this.byName.keys());
  }

  static async open(dir: string, config?: string): Promise<Source> {
    const { root, manifest } = await manifestOf(dir);
    const configs = Object.keys(manifest.configs);
    if (config === undefined) {
      if (configs.length !== 1) {
        throw new UsageError(
          `${root} has configs ${configs.join(", ")}: say which one ({ config })`,
        );
      }
      config = configs[0];
    }
    if (!manifest.configs[config]) {
      throw new UsageError(
        `unknown config "${config}" in ${root}; it has: ${configs.join(", ") || "none"}`,
      );
    }
    return new Source(root, manifest, config);
  }

  get rows(): number {
    return this.starts[this.files.length];
  }

  get provenance(): Provenance {
    return this.manifest.provenance;
  }

  get configs(): string[] {
    return Object.keys(this.manifest.configs);
  }

  feature(name: string): Feature {
    const f = this.byName.get(name);
    if (!f) {
      throw new MissingColumnError(
        `no such column; available: ${[...this.byName.keys()].join(", ")}`,
        { file: join(this.root, "astropile.json"), column: name },
      );
    }
    return f;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** View names for a selection: column names, standard names or groups ("image", "spectrum"). */
  resolve(names: string[]): string[] {
    const out: string[] = [];
    for (const name of names) {
      const group = own(GROUPS, name);
      const expanded = group ? group.filter((c) => this.byName.has(c)) : [name];
      if (group && name === "ifu")
        expanded.push(
          ...this.features.filter((f) => f.name.startsWith("ifu_map_")).map((f) => f.name),
        );
      if (group && expanded.length === 0) {
        throw new MissingColumnError(`this dataset has no ${name} columns`, {
          file: join(this.root, "astropile.json"),
          column: name,
        });
      }
      for (const c of expanded) {
        this.feature(c);
        if (!out.includes(c)) out.push(c);
      }
    }
    return out;
  }

  /** Locates a row of this source: [file index, row in file]. */
  locate(row: number): [number, number] {
    let lo = 0;
    let hi = this.files.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return [lo, row - this.starts[lo]];
  }

  async file(index: number): Promise<PartitionFile> {
    let f = this.openFile(index);
    if (f) return f;
    // Checked against its manifest entry: size, rows, columns, key range, identity.
    f = await openListed(this.root, this.entry, this.files[index]);
    this.open.set(index, f);
    if (this.open.size > MAX_OPEN_FILES) {
      const [oldest, file] = this.open.entries().next().value as [number, PartitionFile];
      file.close();
      this.open.delete(oldest);
    }
    return f;
  }

  /**
   * File `index` if it is open (its place in the LRU order refreshed), else undefined: the
   * readers below take an open file without an await (a get(i) is otherwise synchronous).
   */
  private openFile(index: number): PartitionFile | undefined {
    const f = this.open.get(index);
    if (f && this.open.size > 1) {
      // Refresh its place in the LRU order.
      this.open.delete(index);
      this.open.set(index, f);
    }
    return f;
  }

  /** Reads view columns for rows [start, end) of a file, conversions applied. */
  async readRange(
    fileIndex: number,
    names: string[],
    start: number,
    end: number,
  ): Promise<Record<string, ColumnValues>> {
    const file = this.openFile(fileIndex) ?? (await this.file(fileIndex));
    const raw = file.readRange(
      names.map((n) => this.feature(n).source),
      start,
      end,
    );
    return this.convert(names, raw, fileIndex, end - start);
  }

  /** Reads view columns for the given rows of a file (any order), conversions applied. */
  async readRows(
    fileIndex: number,
    names: string[],
    rows: ArrayLike<number>,
  ): Promise<Record<string, ColumnValues>> {
    const file = this.openFile(fileIndex) ?? (await this.file(fileIndex));
    const raw = file.readRows(
      names.map((n) => this.feature(n).source),
      rows,
    );
    return this.convert(names, raw, fileIndex, rows.length);
  }

  /**
   * The rows `rows` of a file (`rows[i]` is batch row `at[i]`) of numeric and bool columns,
   * written into the batch's arrays `out[name]` (row-major). Runs of rows consecutive in both
   * are read straight into place by the fast path; a column with a conversion, a layout that
   * path leaves to h5wasm, or small rows out of order (where reading a whole stretch once is
   * cheaper) goes through readRows and is copied.
   */
  async readRowsInto(
    fileIndex: number,
    names: string[],
    rows: Float64Array,
    at: Uint32Array,
    out: Record<string, NumericArray>,
  ): Promise<void> {
    const file = this.openFile(fileIndex) ?? (await this.file(fileIndex));
    const rest: string[] = [];
    for (const name of names) {
      const f = this.feature(name);
      const v = out[name];
      const rowBytes = valuesPerRow(f) * v.BYTES_PER_ELEMENT;
      let direct =
        f.conversion === undefined &&
        !this.files[fileIndex].shapes?.[f.source] &&
        file.column(f.source).dtype === f.dtype;
      const runs: number[] = [];
      for (let i = 0; direct && i < rows.length; ) {
        let j = i + 1;
        while (j < rows.length && rows[j] === rows[j - 1] + 1 && at[j] === at[j - 1] + 1) j++;
        runs.push(i, j);
        i = j;
      }
      if (runs.length > 2 && rowBytes < SMALL_ROW_BYTES) direct = false;
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      for (let r = 0; direct && r < runs.length; r += 2) {
        const [i, j] = [runs[r], runs[r + 1]];
        direct = file.readColumnInto(f.source, rows[i], rows[i] + j - i, bytes, at[i] * rowBytes);
      }
      if (!direct) rest.push(name);
    }
    if (rest.length === 0) return;
    const data = await this.readRows(fileIndex, rest, rows);
    for (const name of rest) {
      const per = this.perRow(name);
      for (let j = 0; j < at.length; j++) copyRow(data[name], j * per, out[name], at[j] * per, per);
    }
  }

  private convert(
    names: string[],
    raw: Record<string, ColumnValues>,
    fileIndex: number,
    rows: number,
  ): Record<string, ColumnValues> {
    const out: Record<string, ColumnValues> = emptyRecord();
    const own = this.files[fileIndex].shapes;
    for (const name of names) {
      const f = this.feature(name);
      let v = raw[f.source];
      const shape = own?.[f.source];
      if (shape) {
        // A file padded to a shorter length than the config's (see Feature.padding).
        const rule = padRuleOf(f.source);
        const from = shape.reduce((a, b) => a * b, 1);
        if (!rule || shape.length !== 1 || f.shape.length !== 1)
          throw new MissingColumnError(
            `column is [${shape.join(", ")}] in this file, [${f.shape.join(", ")}] in the config, and has no padding rule`,
            { file: join(this.root, this.files[fileIndex].path), column: f.source },
          );
        v = padRows(v, rows, from, f.shape[0], rule, f.source);
      }
      out[name] = f.conversion === "sigma_to_ivar" ? sigmaToIvar(v as Float32Array) : v;
    }
    return out;
  }

  spec(name: string): ColumnSpec {
    const f = this.feature(name);
    const spec: ColumnSpec = { name, dtype: f.dtype, shape: f.shape };
    if (f.stringLength !== undefined) spec.stringLength = f.stringLength;
    if (f.unit) spec.unit = f.unit;
    if (f.description) spec.description = f.description;
    return spec;
  }

  perRow(name: string): number {
    return valuesPerRow(this.feature(name));
  }

  /**
   * What completes this source's whole-row examples (see ExampleExtender), or null: asked of the
   * registered extenders once, on first use.
   * @internal
   */
  get exampleExtension(): ExampleExtension | null {
    if (this.extension === undefined) {
      this.extension = null;
      for (const extender of exampleExtenders) {
        const x = extender(this);
        if (x) {
          this.extension = x;
          break;
        }
      }
    }
    return this.extension;
  }

  /** Identity of this config's file list in the manifest: what its sidecars must carry. */
  get fileList(): string {
    this.list ??= configFileList(this.manifest, this.config);
    return this.list;
  }

  /** Rows of each file, in manifest order. */
  fileRows(): number[] {
    return this.files.map((f) => f.rows);
  }

  /** The object_id index file, checked against the manifest, kept open for repeated lookups. */
  async idIndexFile(): Promise<PartitionFile | undefined> {
    const entry = this.entry.idIndex;
    if (!entry) return undefined;
    this.idIndex ??= await openIdIndex(this.root, entry, this.fileList);
    return this.idIndex;
  }

  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
    this.idIndex?.close();
    this.idIndex = undefined;
    this.extension?.close();
  }
}

function feature(c: ColumnEntry, m: ColumnMapping, files: FileEntry[]): Feature {
  const f: Feature = {
    name: m.name,
    source: c.name,
    dtype: c.dtype,
    shape: c.shape,
    modality: columnModality(m.name),
  };
  if (c.stringLength !== undefined) f.stringLength = c.stringLength;
  if (c.unit) f.unit = c.unit;
  if (c.description) f.description = c.description;
  if (m.name !== c.name || c.standardName) f.standardName = m.name;
  const lengths = new Set<number>();
  for (const file of files) {
    const own = file.shapes?.[c.name];
    if (own) lengths.add(own[0]);
  }
  if (lengths.size > 0) {
    const rule = padRuleOf(c.name);
    f.padding = `files hold ${[...lengths].sort((a, b) => a - b).join(", ")} or ${c.shape[0]} values per row; shorter rows are padded on read to ${c.shape[0]} by Multimodal Universe's rule: ${rule?.kind === "edge" ? "the last value repeated" : `the constant ${rule?.kind === "constant" ? rule.value : "?"}`}`;
  }
  if (m.convert) {
    f.conversion = m.convert;
    f.unit = undefined;
    f.description = `inverse variance, converted on read from ${c.name} (a sigma)`;
  }
  return f;
}
