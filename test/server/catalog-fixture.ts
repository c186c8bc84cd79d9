// Small real datasets for the catalog tests, written through the real storage writer: a catalog,
// an image and a spectrum survey, each in its own clumps of sky (plus a few rows spread
// everywhere), small files so the adaptive layout picks partition pixels coarser and finer than
// the catalog's coverage order. The positions are kept for brute-force checks.
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { skyPoints } from "../helpers/sky-points.ts";

export interface FixtureDataset {
  root: string;
  survey: string;
  modality: string;
  rows: number;
  ra: Float64Array;
  dec: Float64Array;
}

const BASE: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
];

const KINDS: Record<string, { columns: ColumnSpec[]; survey: string; release: string }> = {
  catalog: {
    columns: [{ name: "forced.g_cmodel_mag", dtype: "float32", shape: [], unit: "mag" }],
    survey: "HSC",
    release: "pdr3",
  },
  image: {
    columns: [{ name: "image_array", dtype: "float32", shape: [1, 4, 4], unit: "nanomaggy" }],
    survey: "LegacySurvey",
    release: "dr10",
  },
  spectrum: {
    columns: [
      { name: "spectrum_flux", dtype: "float32", shape: [8] },
      { name: "Z_QUALITY", dtype: "int16", shape: [] },
    ],
    survey: "DESI",
    release: "edr",
  },
};

/** Writes one dataset of `kind` with `n` rows at `dir/name`; seed picks its clumps. */
export async function writeFixtureDataset(
  dir: string,
  name: string,
  kind: keyof typeof KINDS,
  n: number,
  seed: number,
  config = "main",
): Promise<FixtureDataset> {
  const { columns, survey, release } = KINDS[kind];
  const { ra, dec } = skyPoints(n, seed, 0.03);
  const batch: ColumnBatch = {
    object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(seed * 1_000_000 + i)),
    ra,
    dec,
  };
  for (const c of columns) {
    const per = c.shape.reduce((a, b) => a * b, 1);
    batch[c.name] =
      c.dtype === "int16"
        ? Int16Array.from({ length: n * per }, (_, k) => k % 5)
        : Float32Array.from({ length: n * per }, (_, k) => (k % 97) / 7);
  }
  const root = join(dir, name);
  await writeDataset(root, [...BASE, ...columns], [batch], {
    config,
    provenance: { project: "catalog-test", survey, release },
    maxRowsPerFile: 16,
  });
  return { root, survey, modality: kind, rows: n, ra, dec };
}
