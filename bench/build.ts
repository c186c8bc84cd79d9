// `npm run bench build`: build throughput of the synthetic HSC-like imaging survey (64×64 stamps
// in 5 bands cut from FITS tiles, gzip HDF5 output): objects/s, MB/s written (compressed files)
// and MB/s of rows (uncompressed), peak RSS, with 1 worker and with every core.
//
// Each build runs in its own child process (so peak RSS is that build's), from the same sources,
// alternating worker counts over the rounds; medians are reported. Sources are generated once
// into bench/data/ (size medium: ~7,000 objects, ~1 minute per build here; --quick: small).
import { spawn } from "node:child_process";
import { readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "../src/build/index.ts";
import { bytesPerRow } from "../src/core/columns.ts";
import { builtinSpec } from "../src/demo/index.ts";
import { generateSurveys, type SynthSize } from "../src/synth/index.ts";

const DATA = fileURLToPath(new URL("./data/", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SEED = 20261122;

interface ChildResult {
  workers: number;
  seconds: number;
  rows: number;
  bytes: number;
  rowBytes: number;
  units: number;
  maxRssMiB: number;
  /** CPU seconds of the whole process (all threads): the work, whatever the machine's load. */
  cpuSeconds: number;
  phases: Record<string, number>;
}

async function sources(size: SynthSize): Promise<string> {
  const dir = join(DATA, `build-${size}-${SEED}`);
  const marker = join(dir, "done.json");
  if (await stat(marker).catch(() => null)) return dir;
  await rm(dir, { recursive: true, force: true });
  const t0 = performance.now();
  const r = await generateSurveys({ dir, size, seed: SEED, surveys: ["hsc"] });
  const { writeFile } = await import("node:fs/promises");
  await writeFile(marker, JSON.stringify({ rows: r.hsc?.catalogRows, tiles: r.hsc?.tiles.length }));
  console.log(
    `generated ${size} sources: ${r.hsc?.catalogRows} objects, ${r.hsc?.tiles.length} tiles in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return dir;
}

/** Child: one build, timed, with its phases and the process's peak RSS. */
async function child(src: string, out: string, workers: number): Promise<void> {
  await rm(out, { recursive: true, force: true });
  const spec = builtinSpec("hsc", join(src, "hsc"), { stampSize: 64 });
  const phases: Record<string, number> = {};
  const t0 = performance.now();
  let phase = "";
  const r = await build(spec, {
    out,
    workers,
    onProgress: (p) => {
      if (p.phase !== phase) {
        phase = p.phase;
        phases[p.phase] = (performance.now() - t0) / 1000;
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const columns = r.manifest.configs[spec.config].columns;
  const result: ChildResult = {
    workers,
    seconds,
    rows: r.report.rows,
    bytes: r.report.bytes,
    rowBytes: columns.reduce((s, c) => s + bytesPerRow({ ...c, shape: c.shape }), 0),
    units: r.report.units,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
    phases,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await rm(out, { recursive: true, force: true });
}

function runChild(src: string, out: string, workers: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // libhdf5 loaded natively before tsx (see src/build/worker-entry.mjs).
    const p = spawn(
      process.execPath,
      [
        "--import",
        "h5wasm/node",
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--child",
        src,
        out,
        String(workers),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
    );
    let text = "";
    p.stdout.on("data", (d) => {
      text += d;
    });
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) reject(new Error(`build child exited with ${code}`));
      else resolve(JSON.parse(text.trim().split("\n").pop()!) as ChildResult);
    });
  });
}

/** Median; the lower middle for an even count (the run least disturbed by other jobs). */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const size: SynthSize = quick ? "small" : "medium";
  const rounds = quick ? 1 : 2;
  const src = await sources(size);
  const cores = os.cpus().length;
  const out = join(DATA, "build-out");
  const load = () => os.loadavg()[0].toFixed(2);
  console.log(
    `size ${size}, ${rounds} round(s), worker counts 1 and ${cores}; load average ${load()} before`,
  );
  const results: Record<number, ChildResult[]> = { 1: [], [cores]: [] };
  for (let r = 0; r < rounds; r++) {
    for (const w of r % 2 === 0 ? [1, cores] : [cores, 1]) {
      const res = await runChild(src, out, w);
      results[w].push(res);
      console.log(
        `  round ${r + 1}, ${w} worker(s): ${res.seconds.toFixed(1)} s (CPU ${res.cpuSeconds.toFixed(1)} s), ${(res.rows / res.seconds).toFixed(0)} objects/s, load ${load()}, peak RSS ${res.maxRssMiB.toFixed(0)} MiB, phases ${JSON.stringify(Object.fromEntries(Object.entries(res.phases).map(([k, v]) => [k, Number(v.toFixed(1))])))}`,
      );
    }
  }
  console.log(`load average ${load()} after`);
  console.log("");
  console.log(
    "| workers | objects | time (s) | objects/s | MB/s written (gzip files) | MB/s of rows (uncompressed) | CPU s (all threads) | peak RSS (MiB) |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const w of [1, cores]) {
    const list = results[w];
    const secs = median(list.map((x) => x.seconds));
    const x = list[0];
    console.log(
      `| ${w} | ${x.rows} | ${secs.toFixed(1)} | ${(x.rows / secs).toFixed(0)} | ${(x.bytes / 1e6 / secs).toFixed(1)} | ${((x.rows * x.rowBytes) / 1e6 / secs).toFixed(1)} | ${median(list.map((y) => y.cpuSeconds)).toFixed(1)} | ${Math.max(...list.map((y) => y.maxRssMiB)).toFixed(0)} |`,
    );
  }
  const speedup =
    median(results[1].map((x) => x.seconds)) / median(results[cores].map((x) => x.seconds));
  console.log(
    `\nspeed-up with ${cores} workers: ${speedup.toFixed(2)}x; output ${(results[1][0].bytes / 1e6).toFixed(0)} MB in ${results[1][0].units} units`,
  );
  await readFile(join(src, "done.json"), "utf8").then((t) => console.log(`sources: ${t}`));
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === "--child"
) {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
}
