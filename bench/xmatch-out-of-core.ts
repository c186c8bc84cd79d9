// Child process of `npm run bench xmatch`: crossMatch of two parent datasets (LEFT RIGHT RADIUS
// [all|nearest]), timed 3 times, printing one JSON line (seconds per run, CPU seconds per run of
// the whole process, worker threads included, matches, units, threads, peak RSS of this
// process). CPU time says what the run cost when other jobs share the cores and stretch the wall
// time.
import { openDataset } from "../src/dataset/index.ts";
import { crossMatch } from "../src/xmatch/crossmatch.ts";

const [leftDir, rightDir, radius, mode] = process.argv.slice(2);
const seconds: number[] = [];
const cpuSeconds: number[] = [];
let last: Awaited<ReturnType<typeof crossMatch>> | undefined;
for (let round = 0; round < 3; round++) {
  const left = await openDataset(leftDir!);
  const right = await openDataset(rightDir!);
  last = undefined; // let the previous catalog go before the next run
  const t = performance.now();
  const cpu = process.cpuUsage();
  last = await crossMatch(left, right, {
    radiusArcsec: Number(radius),
    mode: mode === "all" ? "all" : "nearest",
  });
  seconds.push((performance.now() - t) / 1000);
  const used = process.cpuUsage(cpu);
  cpuSeconds.push((used.user + used.system) / 1e6);
}
console.log(
  JSON.stringify({
    seconds,
    cpuSeconds,
    rows: last!.catalog.length,
    inMemory: last!.stats.inMemory,
    units: last!.stats.units,
    threads: last!.stats.threads,
    rightRowsRead: last!.stats.rightRowsRead,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);
