// The object ids of a dataset view, read in batches and sorted, for tests that compare the rows
// a query selects with the rows it should.
import type { Dataset } from "../../src/dataset/dataset.ts";

/** Every object_id of `view` as numbers, ascending (ids below 2^53), `batchRows` at a time. */
export async function sortedObjectIds(view: Dataset, batchRows: number): Promise<number[]> {
  const out: number[] = [];
  for await (const b of view.batches({ size: batchRows, columns: ["object_id"] }))
    for (const v of b.columns.object_id as BigInt64Array) out.push(Number(v));
  return out.sort((a, b) => a - b);
}
