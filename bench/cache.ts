// `npm run bench cache`: the download cache against curl, in the same run.
//  1. cold download of a 1 GiB file (256 MiB with --quick) from a loopback HTTP server in its
//     own process: curl -o FILE vs downloadFile into an empty cache (which also hashes with
//     SHA-256 and commits atomically); median of alternating runs, ratio = ours / curl.
//  2. warm hit: downloadFile of a cached URL, no revalidation; per-call latency p50/p99.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DownloadCache, downloadFile, formatBytes } from "../src/cache/index.ts";

const DATA_DIR = fileURLToPath(new URL("./data/", import.meta.url));

// A static file server in its own process, so it does not share an event loop with the client.
const SERVER_JS = `
const http = require("node:http"), fs = require("node:fs");
const file = process.argv[1];
const st = fs.statSync(file);
const etag = '"' + st.size.toString(16) + '-' + Math.floor(st.mtimeMs).toString(16) + '"';
http.createServer((req, res) => {
  res.writeHead(200, { "content-length": st.size, etag, "last-modified": st.mtime.toUTCString(),
    "accept-ranges": "bytes", "content-type": "application/octet-stream" });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
}).listen(0, "127.0.0.1", function () { process.stdout.write(this.address().port + "\\n"); });
`;

async function ensureFile(size: number): Promise<string> {
  await fsp.mkdir(DATA_DIR, { recursive: true });
  const file = path.join(DATA_DIR, `cache-bench-${size}.bin`);
  const st = await fsp.stat(file).catch(() => null);
  if (st?.size === size) return file;
  // Incompressible bytes (a 16 MiB random block repeated): no layer can cheat with compression.
  const block = randomBytes(16 << 20);
  const out = createWriteStream(`${file}.tmp`);
  for (let done = 0; done < size; done += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, size - done));
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((e?: Error | null) => (e ? reject(e) : resolve())),
  );
  await fsp.rename(`${file}.tmp`, file);
  return file;
}

function haveCurl(): boolean {
  if (spawnSync("sh", ["-c", "command -v curl"]).status === 0) return true;
  console.log("curl not found; trying `apt-get install -y curl`");
  const r = spawnSync("sh", ["-c", "apt-get install -y -qq curl >/dev/null 2>&1"]);
  return r.status === 0 && spawnSync("sh", ["-c", "command -v curl"]).status === 0;
}

async function startServer(file: string) {
  const child = spawn(process.execPath, ["-e", SERVER_JS, file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/bench.bin`, stop: () => child.kill() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function exec(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] }).on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`)),
    );
  });
}

/** curl -o FILE, and optionally sha256sum FILE after it (the same work as the cache does). */
async function timeCurl(url: string, out: string, andHash: boolean): Promise<number> {
  const t0 = process.hrtime.bigint();
  await exec("curl", ["-sS", "--fail", "-o", out, url]);
  if (andHash) await exec("sha256sum", [out]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await fsp.rm(out, { force: true });
  return s;
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const size = quick ? 256 * 2 ** 20 : 2 ** 30;
  const rounds = quick ? 2 : 5;
  const file = await ensureFile(size);
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), "astropile-bench-cache-"));
  const server = await startServer(file);
  try {
    const cache = new DownloadCache({
      dir: path.join(work, "cache"),
      maxBytes: 4 * size,
      offline: false,
    });
    const curlOk = haveCurl();
    const load0 = os.loadavg()[0]!.toFixed(2);
    const ours: number[] = [];
    const theirs: number[] = [];
    const theirsHashed: number[] = [];
    const oursCpu: number[] = [];
    // Read the source once so the first round is not the only one reading from disk.
    for await (const _ of createReadStream(file, { highWaterMark: 1 << 20 })) {
      // streaming: memory stays bounded
    }
    for (let i = 0; i < rounds; i++) {
      if (curlOk) {
        theirs.push(await timeCurl(server.url, path.join(work, "curl.out"), false));
        theirsHashed.push(await timeCurl(server.url, path.join(work, "curl.out"), true));
      }
      await cache.clear();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const p = await cache.download(server.url);
      ours.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const cpu = process.cpuUsage(cpu0); // all threads, hashing worker included
      oursCpu.push((cpu.user + cpu.system) / 1e6);
      const st = await fsp.stat(p);
      if (st.size !== size) throw new Error(`downloaded ${st.size} bytes, expected ${size}`);
    }
    const rate = (s: number) => `${formatBytes(size / s)}/s`;
    // Other jobs on the machine change wall times; say how busy it was.
    console.log(
      `load average (1 min) before / after the downloads: ${load0} / ${os.loadavg()[0]!.toFixed(2)}`,
    );
    const o = median(ours);
    console.log(`cold download of ${formatBytes(size)} from 127.0.0.1 (median of ${rounds}):`);
    console.log(
      `  astropile downloadFile: ${o.toFixed(2)} s  ${rate(o)}  (runs: ${ours.map((x) => x.toFixed(2)).join(", ")}; client CPU ${median(oursCpu).toFixed(2)} s incl. SHA-256)`,
    );
    if (curlOk) {
      const c = median(theirs);
      console.log(
        `  curl -o FILE:           ${c.toFixed(2)} s  ${rate(c)}  (runs: ${theirs.map((x) => x.toFixed(2)).join(", ")})`,
      );
      const ch = median(theirsHashed);
      console.log(
        `  curl -o FILE && sha256sum FILE: ${ch.toFixed(2)} s  ${rate(ch)}  (runs: ${theirsHashed.map((x) => x.toFixed(2)).join(", ")})`,
      );
      console.log(`  ratio astropile/curl: ${(o / c).toFixed(2)}x (target <= 1.2x)`);
      console.log(`  ratio astropile/(curl + sha256sum), the same work: ${(o / ch).toFixed(2)}x`);
    } else {
      console.log("  curl: not available, no comparison");
    }

    // Warm hits: the entry is cached; no revalidation.
    const n = quick ? 2000 : 20000;
    const loc = { cacheDir: cache.dir, maxBytes: 4 * size };
    for (const [label, call] of [
      ["DownloadCache.download", () => cache.download(server.url)],
      ["downloadFile (env lookup)", () => downloadFile(server.url, loc)],
    ] as const) {
      for (let i = 0; i < 200; i++) await call(); // JIT warm-up
      const lat: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await call();
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      lat.sort((a, b) => a - b);
      const mean = lat.reduce((s, x) => s + x, 0) / n;
      console.log(
        `warm hit, ${label}: p50 ${quantile(lat, 0.5).toFixed(3)} ms, p99 ${quantile(lat, 0.99).toFixed(3)} ms, mean ${mean.toFixed(3)} ms over ${n} calls (target p50 < 1 ms)`,
      );
    }
  } finally {
    server.stop();
    await fsp.rm(work, { recursive: true, force: true });
  }
}
