// Child process for the concurrency and kill -9 tests: runs one job given as JSON in argv[2]
// against a cache directory and reports on stdout, one line per event.
import { existsSync, promises as fsp } from "node:fs";
import { type CacheMode, DownloadCache } from "../../src/cache/index.ts";
import { isWhole } from "./server.ts";

type Job =
  | { kind: "download"; cacheDir: string; url: string; timeoutMs?: number }
  | {
      kind: "hammer";
      cacheDir: string;
      /** Fetched first by every process at the same moment (after goFile appears). */
      cold: string;
      goFile: string;
      urls: string[];
      iterations: number;
      seed: number;
    };

const job = JSON.parse(process.argv[2]!) as Job;
const cache = new DownloadCache({ dir: job.cacheDir, offline: false, maxBytes: 1 << 30 });

if (job.kind === "download") {
  try {
    const p = await cache.download(job.url, {
      timeoutMs: job.timeoutMs,
      onProgress: (e) => process.stdout.write(`progress ${e.receivedBytes}\n`),
    });
    process.stdout.write(`path ${p}\n`);
  } catch (err) {
    const e = err as Error & { code?: string; errno?: string };
    process.stdout.write(
      `error ${JSON.stringify({ name: e.name, errno: e.errno, message: e.message })}\n`,
    );
    process.exitCode = 1;
  }
} else {
  // Random mix of plain hits, revalidations and forced updates over shared URLs; every file
  // handed back must be whole (its last 32 bytes are the sha256 of the rest).
  let x = job.seed >>> 0;
  const rand = (n: number) => {
    // mulberry32: small, seedable, and its low bits are not periodic like an LCG's
    x = (x + 0x6d2b79f5) >>> 0;
    let r = Math.imul(x ^ (x >>> 15), 1 | x);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) % n;
  };
  const modes: CacheMode[] = [true, true, "revalidate", "update"];
  let ok = 0;
  const bad: string[] = [];
  // Start line: every process waits for the parent's signal so the cold fetches overlap.
  process.stdout.write("ready\n");
  while (!existsSync(job.goFile)) await new Promise((r) => setTimeout(r, 5));
  const cold = await cache.download(job.cold);
  const coldBuf = await fsp.readFile(cold);
  if (!isWhole(coldBuf)) bad.push(`${job.cold} -> ${cold} (${coldBuf.length} bytes)`);
  for (let i = 0; i < job.iterations; i++) {
    const url = job.urls[rand(job.urls.length)]!;
    const mode = modes[rand(modes.length)]!;
    const p = await cache.download(url, { cache: mode });
    // Open at once, as a reader would; the file must stay whole while we read it.
    const buf = await fsp.readFile(p);
    if (isWhole(buf)) ok++;
    else bad.push(`${url} -> ${p} (${buf.length} bytes)`);
  }
  process.stdout.write(`${JSON.stringify({ ok, bad })}\n`);
}
