// Test datasets written through the real storage writer: the same rows in several layouts.
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { skyPoints } from "../helpers/sky-points.ts";

export const IMAGE_COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [3, 4, 4], unit: "nanomaggy" },
  { name: "image_ivar", dtype: "float32", shape: [3, 4, 4] },
  { name: "image_mask", dtype: "bool", shape: [3, 4, 4] },
  { name: "image_band", dtype: "string", shape: [3], stringLength: 8 },
  { name: "image_psf_fwhm", dtype: "float32", shape: [3], unit: "arcsec" },
  { name: "image_scale", dtype: "float32", shape: [3], unit: "arcsec/pixel" },
  { name: "forced.g_cmodel_mag", dtype: "float32", shape: [], unit: "mag" },
  { name: "is_star", dtype: "bool", shape: [] },
  { name: "tract", dtype: "int32", shape: [] },
];

export function imageRows(n: number, seed = 5): ColumnBatch {
  const { ra, dec } = skyPoints(n, seed, 0.03);
  return {
    object_id: BigInt64Array.from({ length: n }, (_, i) => 36407037746397184n + BigInt(i) * 17n),
    ra,
    dec,
    image_array: Float32Array.from(
      { length: n * 48 },
      (_, k) => Math.floor(k / 48) + (k % 48) / 100,
    ),
    image_ivar: Float32Array.from({ length: n * 48 }, (_, k) => (k % 48) + 1),
    image_mask: Uint8Array.from({ length: n * 48 }, (_, k) => (k % 5 === 0 ? 0 : 1)),
    image_band: Array.from({ length: n * 3 }, (_, k) => ["hsc-g", "hsc-r", "hsc-i"][k % 3]),
    image_psf_fwhm: Float32Array.from({ length: n * 3 }, (_, k) => 0.6 + (k % 3) / 10),
    image_scale: new Float32Array(n * 3).fill(0.168),
    "forced.g_cmodel_mag": Float32Array.from({ length: n }, (_, i) => 18 + (i % 70) / 10),
    is_star: Uint8Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0)),
    tract: Int32Array.from({ length: n }, (_, i) => 9800 + (i % 7)),
  };
}

export function* inBatches(
  all: ColumnBatch,
  specs: ColumnSpec[],
  size: number,
  order?: Uint32Array,
): Generator<ColumnBatch> {
  const n = (all.ra as Float64Array).length;
  const idx = order ?? Uint32Array.from({ length: n }, (_, i) => i);
  for (let s = 0; s < n; s += size) {
    const part = idx.subarray(s, s + size);
    const b: ColumnBatch = {};
    for (const spec of specs) {
      const per = spec.shape.reduce((a, c) => a * c, 1);
      const v = all[spec.name];
      if (Array.isArray(v))
        b[spec.name] = Array.from(part).flatMap((i) => v.slice(i * per, (i + 1) * per));
      else {
        const out = new (v.constructor as { new (n: number): typeof v })(part.length * per);
        part.forEach((i, j) => {
          (out as Float64Array).set((v as Float64Array).subarray(i * per, (i + 1) * per), j * per);
        });
        b[spec.name] = out;
      }
    }
    yield b;
  }
}

export function permutation(n: number, seed: number): Uint32Array {
  const a = Uint32Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Writes the same rows as several layouts: the mmu layout (order-4 pixels, one file each), and
 * the adaptive layout with files of at most 37 rows (pixels of many orders, several files in
 * dense ones) and of at most 120 rows.
 */
export async function layouts(dir: string, n: number, seed = 5): Promise<string[]> {
  const all = imageRows(n, seed);
  const roots: string[] = [];
  // Multimodal Universe's order-4 pixels; then adaptive pixels of many orders (small files), and
  // of a few orders.
  const variants = [
    { layout: "mmu", maxRowsPerFile: 1_000_000, memoryBytes: 64 * 2 ** 20, batch: 1000, order: 1 },
    { layout: "adaptive", maxRowsPerFile: 37, memoryBytes: 200_000, batch: 77, order: 2 },
    { layout: "adaptive", maxRowsPerFile: 120, memoryBytes: 300_000, batch: 500, order: 3 },
  ] as const;
  for (const [i, v] of variants.entries()) {
    const root = join(dir, `layout-${seed}-${i}`);
    await writeDataset(
      root,
      IMAGE_COLUMNS,
      inBatches(all, IMAGE_COLUMNS, v.batch, permutation(n, v.order)),
      {
        config: "pdr3_wide",
        provenance: { project: "test", survey: "HSC", release: "pdr3" },
        layout: v.layout,
        maxRowsPerFile: v.maxRowsPerFile,
        memoryBytes: v.memoryBytes,
        compression: i === 1 ? "none" : "gzip",
      },
    );
    roots.push(root);
  }
  return roots;
}
