// Multimodal Universe MaNGA files, read in place: one HDF5 group per object (named by its
// plate-IFU), holding scalar datasets (object_id as a variable-length UTF-8 string, ra, dec,
// healpix, z, spaxel_size ...; the same values are also group attributes) and three compound
// tables with array members: `spaxels` (one row per spaxel: flux, ivar, mask, lsf_sigma, lambda
// [L], x, y, spaxel_idx, units ...), `images` (one row per band: image_band, image_array [H, W],
// image_psf, image_scale, units) and `maps` (one row per DAP map: group, label, array, ivar,
// mask [H, W], array_units). Written by scripts/manga/build_parent_sample.py of
// github:MultimodalUniverse/MultimodalUniverse. Members a reader needs that are missing are a
// SchemaError naming the file and the member (`<object>/spaxels`, `<object>/spaxels.flux`).

import { join } from "node:path";
import type { NumericArray } from "../core/columns.ts";
import { CorruptFileError, ManifestMismatchError, SchemaError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import type { Example, NDArray, Value } from "../dataset/example.ts";
import { type ExampleExtension, registerExampleExtender } from "../dataset/source.ts";
import { guard, type H5File, openHdf5 } from "../storage/hdf5.ts";
import type { Provenance } from "../storage/manifest.ts";
import { isRemoteUrl, remotePath } from "../storage/remote-hook.ts";

/** One spaxel of an IFU example read from an MMU MaNGA file. */
export interface MmuSpaxel {
  flux: NDArray<Float32Array>;
  ivar: NDArray<Float32Array>;
  lsf_sigma: NDArray<Float64Array | Float32Array>;
  lambda: NDArray<Float32Array | Float64Array>;
  /** 1 where the MaNGA bitmask is non-zero (bad; spectrum masks are true = bad). */
  mask: NDArray<Uint8Array>;
  x: number;
  y: number;
  /** Every other member (spaxel_idx, units, sky coordinates ...) and the raw `mask_bits`. */
  extra: Record<string, Value>;
}

/** One band image or one DAP map of an IFU example. */
export interface MmuIfuImage {
  /** The band (`images`) or the map's label (`maps`). */
  label: string;
  data: NDArray;
  ivar?: NDArray;
  mask?: NDArray;
  /** Every other member (psf, scale, units, group ...). */
  extra: Record<string, Value>;
}

/** An IFU example as the seed schema has it (DESIGN.md), from one MaNGA group. */
export interface MmuIfuExample extends Example {
  object_id: string;
  ra: number;
  dec: number;
  z?: number;
  spaxel_size?: number;
  spaxels: MmuSpaxel[];
  images: MmuIfuImage[];
  maps: MmuIfuImage[];
  /** Scalars of the group not named above (healpix, spaxel_size_unit ...). */
  extra: Record<string, Value>;
}

interface H5Like {
  keys(): string[];
  get(name: string): unknown;
}

interface H5DatasetLike {
  value: unknown;
  metadata: {
    type: number;
    shape: number[] | null;
    compound_type?: {
      members: Array<{
        name: string;
        type: number;
        size: number;
        signed?: boolean;
        array_type?: { shape: number[]; type: number; size: number };
      }>;
    };
  };
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;
const H5T_COMPOUND = 6;
const H5T_ARRAY = 10;

/** True when the file's root holds groups (objects), not datasets (columns). */
export function isGroupPerObject(file: H5File): boolean {
  const keys = file.keys();
  return keys.length > 0 && keys.every((k) => (file.get(k) as { type?: string })?.type === "Group");
}

/** A MaNGA file of an MMU tree opened for reading its objects. */
export class MmuIfuFile {
  private constructor(
    readonly path: string,
    private readonly file: H5File,
    /** Object (group) names in the file's link order, as h5py iterates them. */
    readonly objects: string[],
    readonly provenance: Provenance,
  ) {}

  /** Opens a group-per-object file; a file of flat columns is a SchemaError. */
  static async open(path: string): Promise<MmuIfuFile> {
    const file = await openHdf5(path);
    try {
      const objects = guard({ file: path }, "cannot list groups", CorruptFileError, () =>
        file.keys(),
      );
      if (!isGroupPerObject(file))
        throw new SchemaError("not a group-per-object (MaNGA) file: its root holds datasets", {
          file: path,
        });
      const attrs = file.attrs as Record<string, { value: unknown }>;
      const text = (k: string) =>
        typeof attrs[k]?.value === "string" ? (attrs[k].value as string) : undefined;
      const provenance: Provenance = { survey: text("survey") ?? "MaNGA" };
      if (text("project")) provenance.project = text("project")!;
      if (text("release")) provenance.release = text("release")!;
      return new MmuIfuFile(path, file, objects, provenance);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  get length(): number {
    return this.objects.length;
  }

  private member(object: string, name: string): H5DatasetLike {
    const group = this.file.get(object) as H5Like | null;
    const place = { file: this.path, column: `${object}/${name}` };
    if (!group) throw new SchemaError(`no object "${object}"`, place);
    const ds = guard(place, "cannot open member", CorruptFileError, () =>
      group.keys().includes(name) ? (group.get(name) as H5DatasetLike) : null,
    );
    if (!ds) throw new SchemaError(`object "${object}" has no member "${name}"`, place);
    return ds;
  }

  /** Names of an object's members (datasets), in link order. */
  members(object: string): string[] {
    const group = this.file.get(object) as H5Like | null;
    if (!group) throw new SchemaError(`no object "${object}"`, { file: this.path, column: object });
    return guard({ file: this.path, column: object }, "cannot list members", CorruptFileError, () =>
      group.keys(),
    );
  }

  /** A scalar dataset of an object (number, bigint or string). */
  scalar(object: string, name: string): Value {
    const ds = this.member(object, name);
    const v = guard(
      { file: this.path, column: `${object}/${name}` },
      "cannot read",
      CorruptFileError,
      () => ds.value,
    );
    return v as Value;
  }

  /** ra and dec of every object (degrees), in file order: what adopt and cone searches need. */
  positions(): { ra: Float64Array; dec: Float64Array; objectId: string[] } {
    const ra = new Float64Array(this.length);
    const dec = new Float64Array(this.length);
    const objectId: string[] = [];
    this.objects.forEach((o, i) => {
      ra[i] = Number(this.scalar(o, "ra"));
      dec[i] = Number(this.scalar(o, "dec"));
      objectId.push(String(this.scalar(o, "object_id")));
    });
    return { ra, dec, objectId };
  }

  /** The i-th object as an IFU example (see the module comment). */
  example(i: number): MmuIfuExample {
    const object = this.objects[i];
    if (object === undefined)
      throw new SchemaError(`no object ${i} (the file has ${this.length})`, { file: this.path });
    const group = this.file.get(object) as H5Like;
    const extra: Record<string, Value> = {};
    const ex: MmuIfuExample = {
      provenance: this.provenance,
      object_id: String(this.scalar(object, "object_id")),
      ra: Number(this.scalar(object, "ra")),
      dec: Number(this.scalar(object, "dec")),
      spaxels: [],
      images: [],
      maps: [],
      extra,
    };
    for (const name of group.keys()) {
      if (["object_id", "ra", "dec", "spaxels", "images", "maps"].includes(name)) continue;
      const ds = group.get(name) as H5DatasetLike;
      if (ds.metadata?.type === H5T_COMPOUND) continue;
      const v = this.scalar(object, name);
      if (name === "z" || name === "spaxel_size") ex[name] = Number(v);
      else extra[name] = v;
    }
    const spaxels = this.table(object, "spaxels", [
      "flux",
      "ivar",
      "mask",
      "lsf_sigma",
      "lambda",
      "x",
      "y",
    ]);
    for (const row of spaxels.rows) {
      const bits = row.mask as NDArray;
      const mask = new Uint8Array(bits.data.length);
      for (let k = 0; k < mask.length; k++) mask[k] = Number(bits.data[k]) !== 0 ? 1 : 0;
      const rest: Record<string, Value> = { mask_bits: bits };
      for (const [k, v] of Object.entries(row))
        if (!["flux", "ivar", "mask", "lsf_sigma", "lambda", "x", "y"].includes(k)) rest[k] = v;
      ex.spaxels.push({
        flux: row.flux as NDArray<Float32Array>,
        ivar: row.ivar as NDArray<Float32Array>,
        lsf_sigma: row.lsf_sigma as NDArray<Float64Array>,
        lambda: row.lambda as NDArray<Float32Array>,
        mask: { data: mask, shape: bits.shape },
        x: Number(row.x),
        y: Number(row.y),
        extra: rest,
      });
    }
    const images = this.table(object, "images", ["image_band", "image_array"]);
    for (const row of images.rows) {
      const rest: Record<string, Value> = {};
      for (const [k, v] of Object.entries(row))
        if (k !== "image_band" && k !== "image_array") rest[k] = v;
      ex.images.push({
        label: String(row.image_band),
        data: row.image_array as NDArray,
        extra: rest,
      });
    }
    const maps = this.table(object, "maps", ["label", "array", "ivar", "mask"]);
    for (const row of maps.rows) {
      const rest: Record<string, Value> = {};
      for (const [k, v] of Object.entries(row))
        if (!["label", "array", "ivar", "mask"].includes(k)) rest[k] = v;
      ex.maps.push({
        label: String(row.label),
        data: row.array as NDArray,
        ivar: row.ivar as NDArray,
        mask: row.mask as NDArray,
        extra: rest,
      });
    }
    return ex;
  }

  /** A compound table's rows, members as typed arrays with their shapes; `required` members checked. */
  private table(
    object: string,
    name: string,
    required: string[],
  ): { rows: Array<Record<string, Value>> } {
    const ds = this.member(object, name);
    const place = { file: this.path, column: `${object}/${name}` };
    const members = ds.metadata.compound_type?.members;
    if (ds.metadata.type !== H5T_COMPOUND || !members)
      throw new SchemaError(
        `member "${name}" of object "${object}" is not a compound table`,
        place,
      );
    for (const r of required)
      if (!members.some((m) => m.name === r))
        throw new SchemaError(`table "${name}" of object "${object}" has no member "${r}"`, {
          file: this.path,
          column: `${object}/${name}.${r}`,
        });
    const raw = guard(place, "cannot read table", CorruptFileError, () => ds.value) as unknown[][];
    const rows = raw.map((values) => {
      const row: Record<string, Value> = {};
      members.forEach((m, k) => {
        row[m.name] = memberValue(m, values[k]);
      });
      return row;
    });
    return { rows };
  }

  close(): void {
    this.file.close();
  }
}

type Member = NonNullable<H5DatasetLike["metadata"]["compound_type"]>["members"][number];

/** A compound member's value: arrays as typed NDArrays (float32/float64/int), scalars as numbers, bigints or strings. */
function memberValue(m: Member, v: unknown): Value {
  if (m.type === H5T_ARRAY && m.array_type) {
    const shape = m.array_type.shape;
    const flat = (v as unknown[]).flat(shape.length) as Array<number | bigint>;
    const t = m.array_type;
    let data: NumericArray;
    if (t.type === H5T_FLOAT)
      data =
        t.size === 4 ? Float32Array.from(flat as number[]) : Float64Array.from(flat as number[]);
    else if (t.type === H5T_INTEGER)
      data =
        t.size === 8
          ? BigInt64Array.from(flat.map((x) => BigInt(x)))
          : t.size === 4
            ? Int32Array.from(flat as number[])
            : Int16Array.from(flat as number[]);
    else throw new SchemaError(`unsupported array member type ${t.type}`, { column: m.name });
    return { data, shape };
  }
  if (m.type === H5T_STRING) return String(v).replace(/\0+$/, "");
  if (m.type === H5T_FLOAT || m.type === H5T_INTEGER) return v as number | bigint;
  return v as Value;
}

/** Files a tree's IFU reader keeps open (the least recently used is closed past this). */
const IFU_OPEN_FILES = 4;

/**
 * Reads the IFU examples that catalog rows of an adopted MaNGA tree point at (`mmu_file`: the
 * tree file, relative to the tree; `mmu_object`: the group's place in it), keeping a few files
 * open. The group's object_id must be the row's, else a ManifestMismatchError (the tree changed
 * since it was adopted).
 */
class IfuReader {
  private readonly open = new Map<string, MmuIfuFile>();

  constructor(private readonly tree: string) {}

  async example(row: { object_id?: unknown; mmu_file?: unknown; mmu_object?: unknown }) {
    const rel = String(row.mmu_file);
    let file = this.open.get(rel);
    if (file) {
      this.open.delete(rel); // most recently used last
    } else {
      // A tree on a server (adopted by URL) is read by byte ranges through its virtual path.
      file = await MmuIfuFile.open(
        isRemoteUrl(this.tree) ? remotePath(`${this.tree}/${rel}`) : join(this.tree, rel),
      );
      if (this.open.size >= IFU_OPEN_FILES) {
        const [oldest, f] = this.open.entries().next().value as [string, MmuIfuFile];
        f.close();
        this.open.delete(oldest);
      }
    }
    this.open.set(rel, file);
    const ex = file.example(Number(row.mmu_object));
    if (ex.object_id !== String(row.object_id))
      throw new ManifestMismatchError(
        `group ${row.mmu_object} is object "${ex.object_id}", but the index says "${row.object_id}": the tree changed since it was adopted`,
        { file: file.path },
      );
    return ex;
  }

  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
  }
}

/**
 * The IFU examples of rows of a dataset opened on an adopted MaNGA tree (any view: a cone, a
 * filter, a shuffle; `indices` as for `take`): each row's catalog says which tree file and
 * which group hold its data (`mmu_file`, `mmu_object`), read here as h5py reads it. The group's
 * object_id must be the row's (else a ManifestMismatchError: the tree changed since adopted).
 * The same data comes merged with the catalog rows from `get`, `take`, `getById` and
 * `examples` of a view without `select` (see {@link Dataset.take}).
 */
export async function readMmuIfuExamples(
  dataset: Dataset,
  indices: ArrayLike<number>,
): Promise<MmuIfuExample[]> {
  const tree = dataset.provenance.adoptedFrom;
  if (!tree || !dataset.columns.includes("mmu_file"))
    throw new SchemaError(
      "not a dataset of an adopted MaNGA tree (no mmu_file column, no provenance.adoptedFrom)",
      { file: dataset.root },
    );
  // A selected view: catalog rows only (the IFU data is read here, once).
  const rows = await dataset.select(["object_id", "mmu_file", "mmu_object"]).take(indices);
  const reader = new IfuReader(tree);
  try {
    const out: MmuIfuExample[] = [];
    for (const row of rows) out.push(await reader.example(row));
    return out;
  } finally {
    reader.close();
  }
}

/**
 * The examples of a dataset opened on an adopted MaNGA tree, through the Dataset API: the
 * catalog row (object_id, ra, dec, healpix, z, spaxel_size, mmu_file, mmu_object, and the
 * dataset's provenance) with the object's `spaxels`, `images`, `maps` and `extra` as
 * {@link MmuIfuFile.example} reads them.
 */
class MangaExamples implements ExampleExtension {
  private readonly reader: IfuReader;

  constructor(tree: string) {
    this.reader = new IfuReader(tree);
  }

  async extend(examples: Example[]): Promise<Example[]> {
    const out: Example[] = [];
    for (const row of examples) {
      const ifu = await this.reader.example(row);
      out.push({
        ...row,
        spaxels: ifu.spaxels,
        images: ifu.images,
        maps: ifu.maps,
        extra: ifu.extra,
      });
    }
    return out;
  }

  close(): void {
    this.reader.close();
  }
}

// get, take, getById and examples of an adopted MaNGA tree's dataset give IFU examples: a source
// whose manifest says it was adopted and whose catalog points into the tree (mmu_file,
// mmu_object). Any other source is answered null from its manifest, once.
registerExampleExtender((source) => {
  const tree = source.provenance.adoptedFrom;
  return tree && source.has("mmu_file") && source.has("mmu_object")
    ? new MangaExamples(tree)
    : null;
});
