// Two small catalogs over the same 8 x 8 degree patch (RA 146-154, Dec -2..6), ids "a0".. and
// "b0".., the same positions on both sides: what the concurrent-writer and kill tests cross-match.
import { writeDataset } from "../../src/storage/dataset-writer.ts";

export async function writePatchCatalogs(
  left: string,
  right: string,
  options: { rows: number; seed: number },
): Promise<void> {
  const { rows } = options;
  let seed = options.seed;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const ra = Float64Array.from({ length: rows }, () => 146 + 8 * rand());
  const dec = Float64Array.from({ length: rows }, () => -2 + 8 * rand());
  for (const [root, prefix] of [
    [left, "a"],
    [right, "b"],
  ] as const) {
    await writeDataset(
      root,
      [
        { name: "object_id", dtype: "string", shape: [], stringLength: 8 },
        { name: "ra", dtype: "float64", shape: [] },
        { name: "dec", dtype: "float64", shape: [] },
        { name: "mag", dtype: "float32", shape: [] },
      ],
      [
        {
          object_id: Array.from({ length: rows }, (_, i) => `${prefix}${i}`),
          ra,
          dec,
          mag: Float32Array.from({ length: rows }, (_, i) => 18 + (i % 70) / 10),
        },
      ],
      { config: "c", provenance: { survey: prefix.toUpperCase() } },
    );
  }
}
