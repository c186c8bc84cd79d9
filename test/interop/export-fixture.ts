// A small dataset with a column of every dtype (scalars, vectors, a 3-D image, fixed and
// variable-length strings, units), written through the real storage writer, for the export
// and SQL tests. The rows are kept so tests compare outputs with what went in.
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { skyPoints } from "../helpers/sky-points.ts";

export const EXPORT_COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [2, 3, 4], unit: "nanomaggy" },
  { name: "image_mask", dtype: "bool", shape: [2, 3, 4] },
  { name: "image_band", dtype: "string", shape: [2], stringLength: 5 },
  { name: "flux_aper", dtype: "float64", shape: [3], unit: "nJy", description: "aperture fluxes" },
  { name: "forced.g_cmodel_mag", dtype: "float32", shape: [], unit: "mag" },
  { name: "z", dtype: "float64", shape: [] },
  { name: "flags", dtype: "uint16", shape: [] },
  { name: "nexp", dtype: "int8", shape: [] },
  { name: "quality", dtype: "uint8", shape: [] },
  { name: "tract", dtype: "int32", shape: [] },
  { name: "patch", dtype: "int16", shape: [] },
  { name: "visit", dtype: "uint32", shape: [] },
  { name: "big", dtype: "uint64", shape: [] },
  { name: "is_star", dtype: "bool", shape: [] },
  { name: "name", dtype: "string", shape: [] },
];

/** Columns with one value per row. */
export const SCALAR_NAMES = EXPORT_COLUMNS.filter((c) => c.shape.length === 0).map((c) => c.name);

export function exportRows(n: number): ColumnBatch {
  const { ra, dec } = skyPoints(n, 11, 0.5);
  return {
    object_id: BigInt64Array.from({ length: n }, (_, i) => 43158176442354688n + BigInt(i) * 13n),
    ra,
    dec,
    image_array: Float32Array.from({ length: n * 24 }, (_, k) => Math.fround(k / 7 - 3.25)),
    image_mask: Uint8Array.from({ length: n * 24 }, (_, k) => (k % 3 === 0 ? 1 : 0)),
    image_band: Array.from({ length: n * 2 }, (_, k) => (k % 2 === 0 ? "hsc-g" : "hsc-r")),
    flux_aper: Float64Array.from({ length: n * 3 }, (_, k) => 1e-3 * k + 0.1),
    "forced.g_cmodel_mag": Float32Array.from({ length: n }, (_, i) => Math.fround(18 + i / 37)),
    z: Float64Array.from({ length: n }, (_, i) => (i % 11) / 10 + 1 / 3),
    flags: Uint16Array.from({ length: n }, (_, i) => (i * 977) % 65536),
    nexp: Int8Array.from({ length: n }, (_, i) => (i % 256) - 128),
    quality: Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256),
    tract: Int32Array.from({ length: n }, (_, i) => -2_000_000_000 + i * 1_000_003),
    patch: Int16Array.from({ length: n }, (_, i) => -32768 + i * 211),
    visit: Uint32Array.from({ length: n }, (_, i) => 4_000_000_000 + i),
    big: BigUint64Array.from({ length: n }, (_, i) => 18446744073709551615n - BigInt(i) * 1000003n),
    is_star: Uint8Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0)),
    // Quotes, commas, blanks and an empty value: what a CSV writer must quote.
    name: Array.from({ length: n }, (_, i) =>
      i % 17 === 0 ? "" : i % 5 === 0 ? `obj "${i}", west` : `obj-${i}${"x".repeat(i % 9)}`,
    ),
  };
}

export async function writeExportDataset(dir: string, n: number): Promise<string> {
  const root = join(dir, "hsc");
  const all = exportRows(n);
  const batches: ColumnBatch[] = [];
  for (let s = 0; s < n; s += 97) {
    const b: ColumnBatch = {};
    for (const spec of EXPORT_COLUMNS) {
      const per = spec.shape.reduce((a, c) => a * c, 1);
      b[spec.name] = all[spec.name].slice(s * per, Math.min(n, s + 97) * per) as never;
    }
    batches.push(b);
  }
  await writeDataset(root, EXPORT_COLUMNS, batches, {
    config: "pdr3_wide",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    maxRowsPerFile: 64,
  });
  return root;
}
