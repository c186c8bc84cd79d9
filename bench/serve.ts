// The data service under load (issue 17): autocannon on loopback, 32 connections, against
// `astropile serve` from the built package (dist/cli/bin.js, what `npx astropile serve` runs; a
// child process, so its RSS is its own) over the demo datasets plus a 200,000-row catalog.
// Each route alone (metadata, a rows page of 1000 catalog rows, a cone of 100 rows, an example
// by id as JSON and as safetensors, a cutout PNG) twice: answers made per request (`--cache 0`)
// and with the answer cache (the default), then all routes mixed over many distinct URLs for
// 60 s (5 s with --quick; ASTROPILE_BENCH_MIXED_SECONDS=N sets it), once with `serve --workers 1`
// and once with `--workers 2` (same URLs, same duration): requests/s, p50/p99 per route, errors,
// and the RSS of all the server's processes during and after the load (`--mixed-only`: only the
// mixed load). The rows route is compared with the same 1000 rows served as a static JSON file by
// the same server (the ceiling: no HDF5 read, no encoding). Run `npm run build` first.
// ASTROPILE_BENCH_SERVE_NODE_ARGS="--initial-old-space-size=N" starts the server with other Node
// flags (N=0: V8's default heap, no floor).
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { runDemo } from "../src/demo/demo.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { ROOT } from "../test/helpers/cli-process.ts";
import {
  type ServeProcess,
  startServeProcess,
  stopServeProcess,
} from "../test/helpers/serve-process.ts";
import { lcg } from "./random.ts";

const BIN = join(ROOT, "dist", "cli", "bin.js");

const CATALOG: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "mag_g", dtype: "float32", shape: [], unit: "mag" },
  { name: "mag_r", dtype: "float32", shape: [], unit: "mag" },
  { name: "z", dtype: "float32", shape: [] },
  { name: "flags", dtype: "int32", shape: [] },
];

function* catalogRows(n: number): Generator<ColumnBatch> {
  const rnd = lcg(7);
  for (let s = 0; s < n; s += 20_000) {
    const k = Math.min(20_000, n - s);
    yield {
      object_id: BigInt64Array.from({ length: k }, (_, i) => BigInt(s + i)),
      // A 10 x 10 degree field: ~2000 rows per square degree.
      ra: Float64Array.from({ length: k }, () => 150 + rnd() * 10),
      dec: Float64Array.from({ length: k }, () => -5 + rnd() * 10),
      mag_g: Float32Array.from({ length: k }, () => 18 + rnd() * 8),
      mag_r: Float32Array.from({ length: k }, () => 17.5 + rnd() * 8),
      z: Float32Array.from({ length: k }, () => rnd() * 2),
      flags: Int32Array.from({ length: k }, () => Math.floor(rnd() * 16)),
    };
  }
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0; // gone
  }
}

/** Children of `pid` (from /proc/N/stat: the field after the parenthesised command is the ppid). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0; // gone
  }
}

/** CPU seconds of a server: the command's process and its children (the server it runs, or its cluster workers). */
function treeCpuSeconds(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + cpuSeconds(p), 0);
}

/** RSS of a server: the command's process and its children (the server it runs, or its cluster workers). */
function treeRssMiB(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + rssMiB(p), 0);
}

function startServe(
  dirs: string[],
  web: string,
  cacheMiB: number,
  workers = 1,
): Promise<ServeProcess> {
  return startServeProcess([
    // Node flags for the server, e.g. another heap floor: --initial-old-space-size=128 (0: V8's
    // default; astropile serve then runs in the process it is given, docs/service.md).
    ...(process.env.ASTROPILE_BENCH_SERVE_NODE_ARGS ?? "").split(" ").filter(Boolean),
    BIN,
    "serve",
    ...dirs,
    ...["--port", "0", "--rate-limit", "0", "--web", web, "--cache", String(cacheMiB)],
    ...["--workers", String(workers)],
  ]);
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, paths: string[], seconds: number): Promise<Figures> {
  const result = await autocannon({
    url,
    connections: 32,
    duration: seconds,
    requests: paths.map((path) => ({ method: "GET", path })),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const stop = stopServeProcess;

export async function run({ quick }: { quick: boolean }): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const seconds = quick ? 2 : 10;
  // --mixed-only: only the mixed load (once per --workers), not each route alone.
  const mixedOnly = process.argv.includes("--mixed-only");
  const mixedSeconds = Number(process.env.ASTROPILE_BENCH_MIXED_SECONDS ?? (quick ? 5 : 60));
  const total = quick ? 50_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-serve-"));
  let child: ChildProcess | undefined;
  try {
    const t0 = performance.now();
    const demo = await runDemo({ out: join(dir, "demo"), size: "small", stampSize: 64 });
    const catalogDir = join(dir, "catalog");
    await writeDataset(catalogDir, CATALOG, catalogRows(total), {
      config: "dr1",
      provenance: { survey: "SYNTH", release: "dr1" },
    });
    console.log(`datasets built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const web = join(dir, "web");
    mkdirSync(web);
    writeFileSync(join(web, "index.html"), "<!doctype html>");
    const dirs = [...demo.datasets.map((d) => d.dir), catalogDir];

    // URL sets. Each route alone cycles through 20 URLs; the mixed load draws from hundreds.
    let started = await startServe(dirs, web, 0);
    child = started.child;
    const get = async (path: string) => {
      const res = await fetch(`${started.url}${path}`);
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      return res;
    };
    // The static ceiling: rows 0..999 as the rows route answers them, as a file.
    writeFileSync(
      join(web, "rows.json"),
      await (await get("/api/v1/datasets/catalog/rows?limit=1000")).text(),
    );
    const ids = (
      (await (await get("/api/v1/datasets/hsc/rows?columns=object_id&limit=1000")).json()) as {
        rows: Array<{ object_id: string }>;
      }
    ).rows.map((r) => r.object_id);
    const pageAt = (i: number) =>
      `/api/v1/datasets/catalog/rows?offset=${(i * 7919) % (total - 1000)}&limit=1000`;
    // ~2000 rows per square degree: a 600 arcsec cone holds ~170, the first 100 are answered.
    const coneAt = (i: number) =>
      `/api/v1/datasets/catalog/cone?ra=${(151 + ((i * 0.37) % 8)).toFixed(3)}&dec=${(-4 + ((i * 0.53) % 7)).toFixed(3)}&radius=600&limit=100`;
    const exampleAt = (i: number, format = "") =>
      `/api/v1/datasets/hsc/examples/${ids[i % ids.length]}${format}`;
    // The client's ceiling for a binary answer of this size (autocannon decodes every body as
    // text, which costs more for binary bytes than for JSON): one example as a static file.
    writeFileSync(
      join(web, "example.safetensors"),
      Buffer.from(await (await get(exampleAt(0))).arrayBuffer()),
    );
    const cutoutAt = (i: number) => `${exampleAt(i)}/image.png?band=r`;
    const conesBody = (await (await get(coneAt(0))).json()) as { rows: unknown[] };
    const metadata = [
      "/api/v1/datasets",
      "/api/v1/datasets/hsc",
      "/api/v1/datasets/catalog",
      "/api/v1/datasets/desi",
    ];
    const twenty = (f: (i: number) => string) => Array.from({ length: 20 }, (_, i) => f(i));
    const routes: Array<[string, string[]]> = [
      ["metadata", metadata],
      ["rows page (1000 rows, JSON)", twenty(pageAt)],
      ["rows page as a static file", ["/rows.json"]],
      [`cone (${conesBody.rows.length} rows)`, twenty(coneAt)],
      [
        "example by id (5 bands 64x64 + catalog, JSON)",
        twenty((i) => exampleAt(i, "?format=json")),
      ],
      ["example by id (safetensors, the default)", twenty((i) => exampleAt(i))],
      ["the same example as a static file", ["/example.safetensors"]],
      ["cutout PNG (64x64)", twenty(cutoutAt)],
    ];
    const figures: Record<string, Record<string, Figures>> = { made: {}, cached: {} };
    for (const mode of mixedOnly ? [] : (["made", "cached"] as const)) {
      if (mode === "cached") {
        await stop(child);
        started = await startServe(dirs, web, 64);
        child = started.child;
      }
      console.log(
        `\n${mode === "made" ? "Answers made per request (serve --cache 0)" : "With the answer cache (serve --cache 64, the default): the same 20 URLs per route, so after the first round every answer is a hit"}`,
      );
      console.log(`server RSS at start: ${rssMiB(child.pid!).toFixed(0)} MiB`);
      console.log("\n| route | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|");
      for (const [name, paths] of routes) {
        const f = await load(started.url, paths, seconds);
        figures[mode]![name] = f;
        console.log(
          `| ${name} | ${f.rps.toFixed(0)} | ${f.p50} | ${f.p99} | ${f.errors + f.non2xx} |`,
        );
      }
    }

    // Mixed: a fresh cached server, URLs drawn from 200 pages, 500 cones, 1000 objects, so most
    // answers are made at first and more are hits as the run goes on. Once with one process,
    // once with two workers (the same URLs in the same order, the same duration).
    await stop(child);
    child = undefined;
    const mixedPaths = [
      ...metadata,
      ...Array.from({ length: 200 }, (_, i) => pageAt(i)),
      ...Array.from({ length: 500 }, (_, i) => coneAt(i)),
      ...Array.from({ length: 1000 }, (_, i) => exampleAt(i)),
      ...Array.from({ length: 1000 }, (_, i) => cutoutAt(i)),
    ];
    // Shuffled (seeded), so autocannon's cycle interleaves the routes.
    let seed = 11;
    for (let i = mixedPaths.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const j = seed % (i + 1);
      [mixedPaths[i], mixedPaths[j]] = [mixedPaths[j]!, mixedPaths[i]!];
    }
    // Latency per route under the mixed load: one more connection, from a process of its own
    // (bench/serve-probe.mjs), fetching one URL of each route in turn (the aggregate figures
    // come from autocannon's 32).
    const kinds: Array<[string, (i: number) => string]> = [
      ["metadata", (i) => metadata[i % metadata.length]!],
      ["rows page", pageAt],
      ["cone", coneAt],
      ["example (safetensors)", (i) => exampleAt(i)],
      ["cutout PNG", cutoutAt],
    ];
    const pct = (xs: number[], q: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
    const mixedRuns: Array<{ workers: number; mixed: Figures }> = [];
    for (const workers of [1, 2]) {
      started = await startServe(dirs, web, 64, workers);
      child = started.child;
      const pid = child.pid!;
      const startRss = treeRssMiB(pid);
      let peak = startRss;
      const sampler = setInterval(() => {
        peak = Math.max(peak, treeRssMiB(pid));
      }, 250);
      const probe = fork(join(ROOT, "bench", "serve-probe.mjs"), [], {
        stdio: "inherit",
        execArgv: [],
      });
      const probed = new Promise<Record<string, number[]>>((resolve, reject) => {
        probe.once("message", (m) => resolve(m as Record<string, number[]>));
        probe.once("exit", (code) => reject(new Error(`the probe exited with ${code}`)));
      });
      probe.send({
        url: started.url,
        kinds: kinds.map(([k, at]) => [
          k,
          Array.from({ length: 1000 }, (_, i) => at((i * 7) % 1000)),
        ]),
      });
      const cpuBefore = treeCpuSeconds(pid);
      const loadStart = performance.now();
      const mixed = await load(started.url, mixedPaths, mixedSeconds);
      const busy = (treeCpuSeconds(pid) - cpuBefore) / ((performance.now() - loadStart) / 1000);
      probe.send("stop");
      const probes = Object.entries(await probed);
      clearInterval(sampler);
      // The server trims its memory after 10 s without a request (serve --trim-idle).
      await new Promise((r) => setTimeout(r, 5000));
      const after = treeRssMiB(pid);
      await new Promise((r) => setTimeout(r, 10_000));
      const trimmed = treeRssMiB(pid);
      mixedRuns.push({ workers, mixed });
      console.log(
        `\nmixed load, serve --workers ${workers} (${mixedSeconds} s, 32 connections, ${mixedPaths.length} distinct URLs, answer cache on): ${mixed.rps.toFixed(0)} req/s, p50 ${mixed.p50} ms, p99 ${mixed.p99} ms, errors ${mixed.errors}, non-2xx ${mixed.non2xx}; server CPU ${busy.toFixed(2)} cores`,
      );
      console.log(
        "\n| route, under the mixed load | probes | p50 ms | p99 ms |\n|---|---|---|---|",
      );
      for (const [kind, xs] of probes)
        console.log(
          `| ${kind} | ${xs.length} | ${pct(xs, 0.5).toFixed(1)} | ${pct(xs, 0.99).toFixed(1)} |`,
        );
      console.log(
        `server RSS (the command's process and its children: ${workers === 1 ? "the server it started, unless given a heap flag" : "the workers"}): ${startRss.toFixed(0)} MiB at start, peak ${peak.toFixed(0)} MiB during the load, ${after.toFixed(0)} MiB 5 s after, ${trimmed.toFixed(0)} MiB 15 s after (trimmed after 10 s quiet)`,
      );
      await stop(child);
      child = undefined;
    }
    const [w1, w2] = mixedRuns;
    console.log(
      `\nmixed load, --workers 2 / --workers 1: ${(w2!.mixed.rps / w1!.mixed.rps).toFixed(2)}x the requests/s`,
    );
    for (const mode of mixedOnly ? [] : (["made", "cached"] as const)) {
      const rows = figures[mode]!["rows page (1000 rows, JSON)"]!;
      const ceiling = figures[mode]!["rows page as a static file"]!;
      console.log(
        `rows route / static file (${mode}): ${(rows.rps / ceiling.rps).toFixed(2)}x the requests/s (1.0 = the ceiling)`,
      );
    }
    const bad = Object.values(figures)
      .flatMap((m) => Object.values(m))
      .concat(mixedRuns.map((r) => r.mixed))
      .reduce((s, f) => s + f.errors + f.non2xx, 0);
    assert.equal(bad, 0, "requests failed under load");
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}
