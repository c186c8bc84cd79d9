// Reading back what a build wrote, for the build and CLI tests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkSpec, type ResolvedSpec } from "../../src/build/index.ts";
import type { ColumnValues } from "../../src/core/columns.ts";
import { type Manifest, readManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { PositionsFile } from "../../src/storage/positions.ts";

/**
 * The spec of a catalog-only build of `files` in `dir`, a CSV of id, ra, dec, mag (config
 * "main"), with `build` options when given.
 */
export function csvCatalogSpec(
  dir: string,
  survey: string,
  options: { files?: string; build?: Record<string, unknown> } = {},
): ResolvedSpec {
  return checkSpec(
    {
      config: "main",
      provenance: { survey },
      catalog: {
        files: options.files ?? "cat.csv",
        columns: {
          object_id: "id",
          ra: "ra",
          dec: "dec",
          mag: { from: "mag", dtype: "float32", unit: "mag" },
        },
      },
      ...(options.build ? { build: options.build } : {}),
    },
    dir,
  );
}

/** Every row of a config (all columns unless given), files in manifest order. */
export async function readAll(
  root: string,
  config: string,
  columns?: string[],
): Promise<{ manifest: Manifest; rows: number; columns: Record<string, ColumnValues> }> {
  const manifest = await readManifest(root);
  const names = columns ?? manifest.configs[config].columns.map((c) => c.name);
  const parts: Record<string, ColumnValues[]> = Object.fromEntries(names.map((n) => [n, []]));
  let rows = 0;
  for (const f of manifest.files) {
    if (f.config !== config) continue;
    const file = await PartitionFile.open(join(root, f.path), { expectRows: f.rows });
    try {
      const b = file.readRange(names, 0, file.length);
      for (const n of names) parts[n].push(b[n]);
      rows += file.length;
    } finally {
      file.close();
    }
  }
  const out: Record<string, ColumnValues> = {};
  for (const n of names) out[n] = concat(parts[n]);
  return { manifest, rows, columns: out };
}

function concat(pieces: ColumnValues[]): ColumnValues {
  if (pieces.length === 0) return [];
  if (Array.isArray(pieces[0])) return ([] as string[]).concat(...(pieces as string[][]));
  const n = pieces.reduce((s, p) => s + p.length, 0);
  const out = new (pieces[0].constructor as new (n: number) => Float64Array)(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p as Float64Array, at);
    at += p.length;
  }
  return out as unknown as ColumnValues;
}

/** The positions sidecar holds ra, dec, object_id of the config's rows, files in manifest order. */
export async function assertPositions(root: string, config: string): Promise<void> {
  const { manifest, rows, columns } = await readAll(root, config, ["ra", "dec", "object_id"]);
  const entry = manifest.configs[config].positions;
  assert.ok(entry, `config "${config}" has a positions sidecar`);
  const file = await PositionsFile.open(root, entry);
  try {
    assert.equal(file.rows, rows);
    const { ra, dec } = await file.readRange(0, rows);
    assert.deepEqual(ra, columns.ra, "sidecar ra");
    assert.deepEqual(dec, columns.dec, "sidecar dec");
    assert.deepEqual(await file.readIdRange(0, rows), columns.object_id, "sidecar object_id");
  } finally {
    file.close();
  }
}

/** A reference dataset's config as assertSameDataset compares it, read (and checked) once. */
export interface Reference {
  root: string;
  config: string;
  contents: Awaited<ReturnType<typeof readAll>>;
}

/**
 * Reads config `config` of `root` for assertSameDataset, after checking its positions sidecar:
 * a test that compares many outputs with one reference reads the reference once.
 */
export async function readReference(root: string, config: string): Promise<Reference> {
  await assertPositions(root, config);
  return { root, config, contents: await readAll(root, config) };
}

/**
 * Two builds hold the same dataset: same files (path, pixel, rows, key range) and values, and
 * each a positions sidecar consistent with its files. `a` is a directory, or a reference read
 * once with readReference (of the same config).
 */
export async function assertSameDataset(
  a: string | Reference,
  b: string,
  config: string,
): Promise<void> {
  const ref = typeof a === "string" ? await readReference(a, config) : a;
  assert.equal(ref.config, config, "the reference was read for another config");
  await assertPositions(b, config);
  const x = ref.contents;
  const y = await readAll(b, config);
  const files = (m: Manifest) =>
    m.files
      .filter((f) => f.config === config)
      .map((f) => ({
        path: f.path,
        pixel: f.pixel,
        rows: f.rows,
        keyMin: f.keyMin,
        keyMax: f.keyMax,
      }));
  assert.deepEqual(files(y.manifest), files(x.manifest));
  assert.deepEqual(y.manifest.configs[config].columns, x.manifest.configs[config].columns);
  assert.equal(y.manifest.configs[config].rows, x.manifest.configs[config].rows);
  for (const name of Object.keys(x.columns)) {
    const u = x.columns[name];
    const v = y.columns[name];
    assert.equal(v.length, u.length, name);
    // Compare as bytes (NaN-safe) for typed arrays.
    if (Array.isArray(u)) assert.deepEqual(v, u, name);
    else
      assert.ok(
        Buffer.from(u.buffer, u.byteOffset, u.byteLength).equals(
          Buffer.from(
            (v as typeof u).buffer,
            (v as typeof u).byteOffset,
            (v as typeof u).byteLength,
          ),
        ),
        `column ${name} differs`,
      );
  }
}
