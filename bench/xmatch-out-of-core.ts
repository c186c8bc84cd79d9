// Child process of `npm run bench xmatch`: crossMatch of two parent datasets (LEFT RIGHT RADIUS
// [all|nearest]), timed 3 times, printing one JSON line (seconds per run, matches, units,
// threads, peak RSS of this process).
import { openDataset } from "../src/dataset/index.ts";
import { crossMatch } from "../src/xmatch/crossmatch.ts";

const [leftDir, rightDir, radius, mode] = process.argv.slice(2);
const seconds: number[] = [];
let last: Awaited<ReturnType<typeof crossMatch>> | undefined;
for (let round = 0; round < 3; round++) {
  const left = await openDataset(leftDir!);
  const right = await openDataset(rightDir!);
  last = undefined; // let the previous catalog go before the next run
  const t = performance.now();
  last = await crossMatch(left, right, {
    radiusArcsec: Number(radius),
    mode: mode === "all" ? "all" : "nearest",
  });
  seconds.push((performance.now() - t) / 1000);
}
console.log(
  JSON.stringify({
    seconds,
    rows: last!.catalog.length,
    inMemory: last!.stats.inMemory,
    units: last!.stats.units,
    threads: last!.stats.threads,
    rightRowsRead: last!.stats.rightRowsRead,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);
