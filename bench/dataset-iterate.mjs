// Child process of bench/dataset.ts: iterates every row of a dataset in batches under a small
// heap limit (set by the parent with --max-old-space-size) and reports rows/s and peak memory.
// Plain JavaScript on the built package (dist/, `npm run build`): under tsx the loader thread
// would share the heap limit, and transforming h5wasm's 4 MB module alone would exceed it.
import { openDataset } from "astropile";

const [root, mode, epochCount = "3"] = process.argv.slice(2);
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
let seconds = 0;
const epochs = [];
const epochRss = [];
if (mode === "loader" || mode === "loader-reuse") {
  // Epochs (default 3) in view order on 2 worker threads started once; the figure is the last.
  const loader = ds.loader({
    batchSize: 256,
    workers: 2,
    prefetch: 4,
    reuse: mode === "loader-reuse",
  });
  for (let e = 0; e < Number(epochCount); e++) {
    const t = performance.now();
    rows = 0;
    bytes = 0;
    for await (const batch of loader.epoch(e)) {
      rows += batch.length;
      for (const c of Object.values(batch.columns))
        if (!Array.isArray(c.data)) bytes += c.data.byteLength;
      checksum += batch.columns.image_array.data[0];
      sample();
    }
    epochs.push((performance.now() - t) / 1000);
    sample();
    epochRss.push(peakRss); // peak so far: flat from epoch to epoch if memory is bounded
  }
  await loader.close();
  seconds = epochs.at(-1);
} else {
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
  seconds = (performance.now() - t0) / 1000;
}
clearInterval(timer);
const cpu = process.cpuUsage();
process.stdout.write(
  `${JSON.stringify({ rows, bytes, seconds, epochs, epochRss, cpu: (cpu.user + cpu.system) / 1e6, peakRss, peakHeap, checksum })}\n`,
);
