// The data service under load (issue 17): autocannon on loopback, 32 connections, against
// `astropile serve` (a child process, so its RSS is its own) over the demo datasets plus a
// 200,000-row catalog. Each route alone (metadata, a rows page of 1000 catalog rows, a cone of
// ~100 rows, an example by id, a cutout PNG): requests/s and p50/p99 latency; then all of them
// mixed: requests/s, errors, and the server's RSS during and after the load. The rows route is
// compared with the same 1000 rows served as a static JSON file by the same server (the
// ceiling: no HDF5 read, no encoding).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { runDemo } from "../src/demo/demo.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { cliArgs, ROOT } from "../test/helpers/cli-process.ts";

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
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
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
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function startServe(
  dirs: string[],
  web: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    cliArgs("serve", ...dirs, "--port", "0", "--rate-limit", "0", "--web", web),
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (c) => {
      text += c;
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { child, url };
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

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const seconds = quick ? 2 : 10;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-serve-"));
  let child: ChildProcess | undefined;
  try {
    const t0 = performance.now();
    const demo = await runDemo({ out: join(dir, "demo"), size: "small", stampSize: 64 });
    const catalogDir = join(dir, "catalog");
    await writeDataset(catalogDir, CATALOG, catalogRows(quick ? 50_000 : 200_000), {
      config: "dr1",
      provenance: { survey: "SYNTH", release: "dr1" },
    });
    console.log(`datasets built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const web = join(dir, "web");
    mkdirSync(web);
    writeFileSync(join(web, "index.html"), "<!doctype html>");
    const started = await startServe([...demo.datasets.map((d) => d.dir), catalogDir], web);
    child = started.child;
    const { url } = started;
    const pid = child.pid!;
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      return res;
    };
    // The static ceiling: rows 0..999 as the rows route answers them, as a file.
    const page = await (await get("/api/v1/datasets/catalog/rows?limit=1000")).text();
    writeFileSync(join(web, "rows.json"), page);
    const images = demo.datasets.find((d) => d.key === "hsc")!;
    const imageIds = (
      (await (await get(`/api/v1/datasets/hsc/rows?columns=object_id&limit=50`)).json()) as {
        rows: Array<{ object_id: string }>;
      }
    ).rows.map((r) => r.object_id);
    assert.ok(images && imageIds.length > 0);
    const total = quick ? 50_000 : 200_000;
    const pages = Array.from(
      { length: 20 },
      (_, i) => `/api/v1/datasets/catalog/rows?offset=${(i * 7919) % (total - 1000)}&limit=1000`,
    );
    // ~2000 rows per square degree: 100 rows lie within ~450 arcsec.
    const cones = Array.from(
      { length: 20 },
      (_, i) =>
        `/api/v1/datasets/catalog/cone?ra=${151 + (i % 8)}&dec=${-4 + (i % 7)}&radius=600&limit=100`,
    );
    const conesBody = (await (await get(cones[0]!)).json()) as { rows: unknown[] };
    const examples = imageIds.slice(0, 20).map((id) => `/api/v1/datasets/hsc/examples/${id}`);
    const cutouts = imageIds
      .slice(0, 20)
      .map((id) => `/api/v1/datasets/hsc/examples/${id}/image.png?band=r`);
    const metadata = [
      "/api/v1/datasets",
      "/api/v1/datasets/hsc",
      "/api/v1/datasets/catalog",
      "/api/v1/datasets/desi",
    ];
    const routes: Array<[string, string[]]> = [
      ["metadata", metadata],
      ["rows page (1000 rows, JSON)", pages],
      ["rows page as a static file", ["/rows.json"]],
      [`cone (${conesBody.rows.length} rows)`, cones],
      ["example by id (64x64 image bands, JSON)", examples],
      ["cutout PNG (64x64)", cutouts],
    ];
    console.log(`server RSS at start: ${rssMiB(pid).toFixed(0)} MiB`);
    console.log("\n| route | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|");
    const figures: Record<string, Figures> = {};
    for (const [name, paths] of routes) {
      const f = await load(url, paths, seconds);
      figures[name] = f;
      console.log(
        `| ${name} | ${f.rps.toFixed(0)} | ${f.p50} | ${f.p99} | ${f.errors + f.non2xx} |`,
      );
    }
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
    }, 250);
    const mixedPaths = [
      ...metadata,
      ...pages.slice(0, 5),
      ...cones.slice(0, 5),
      ...examples.slice(0, 5),
      ...cutouts.slice(0, 5),
    ];
    const mixed = await load(url, mixedPaths, quick ? 3 : 20);
    clearInterval(sampler);
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssMiB(pid);
    console.log(
      `\nmixed load (${quick ? 3 : 20} s, 32 connections): ${mixed.rps.toFixed(0)} req/s, p50 ${mixed.p50} ms, p99 ${mixed.p99} ms, errors ${mixed.errors}, non-2xx ${mixed.non2xx}`,
    );
    console.log(
      `server RSS: peak ${peak.toFixed(0)} MiB during the load, ${after.toFixed(0)} MiB 2 s after`,
    );
    const rows = figures["rows page (1000 rows, JSON)"]!;
    const ceiling = figures["rows page as a static file"]!;
    console.log(
      `rows route / static file: ${(rows.rps / ceiling.rps).toFixed(2)}x the requests/s (1.0 = the ceiling)`,
    );
    const bad = Object.values(figures).reduce(
      (s, f) => s + f.errors + f.non2xx,
      mixed.errors + mixed.non2xx,
    );
    assert.equal(bad, 0, "requests failed under load");
  } finally {
    child?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}
