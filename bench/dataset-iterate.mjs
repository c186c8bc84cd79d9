// Child process of bench/dataset.ts: iterates every row of a dataset in batches under a small
// heap limit (set by the parent with --max-old-space-size) and reports rows/s and peak memory.
// Plain JavaScript on the built package (dist/, `npm run build`): under tsx the loader thread
// would share the heap limit, and transforming h5wasm's 4 MB module alone would exceed it.
import { openDataset } from "astropile";

const [root, mode] = process.argv.slice(2);
const ds = await openDataset(root);
let peakRss = 0;
let peakHeap = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};
const timer = setInterval(sample, 50);
const t0 = performance.now();
let rows = 0;
let bytes = 0;
let checksum = 0;
const options = mode === "shuffle" ? { size: 256, shuffle: { seed: 1 } } : { size: 256 };
for await (const batch of ds.batches(options)) {
  rows += batch.length;
  for (const values of Object.values(batch.columns)) {
    if (!Array.isArray(values)) bytes += values.byteLength;
  }
  const img = batch.columns.image_array;
  checksum += img[0];
  sample();
}
const seconds = (performance.now() - t0) / 1000;
clearInterval(timer);
process.stdout.write(`${JSON.stringify({ rows, bytes, seconds, peakRss, peakHeap, checksum })}\n`);
