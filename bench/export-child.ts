// Child of bench/export.ts: exports a dataset to CSV and FITS (best of 2 each) in a fresh
// process, so its peak RSS is the export's alone. argv: dataset root, output directory.
import { join } from "node:path";
import { openDataset } from "../src/dataset/index.ts";
import { exportDataset } from "../src/interop/export.ts";

const [root, dir] = process.argv.slice(2);
const ds = await openDataset(root);
const best: Record<string, number> = {
  csv: Number.POSITIVE_INFINITY,
  fits: Number.POSITIVE_INFINITY,
};
let rows = 0;
for (let k = 0; k < 2; k++) {
  for (const to of ["csv", "fits"]) {
    const r = await exportDataset(ds, { to, out: join(dir, `ours.${to}`), force: true });
    rows = r.rows;
    best[to] = Math.min(best[to], r.seconds);
  }
}
ds.close();
console.log(JSON.stringify({ rows, best, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
