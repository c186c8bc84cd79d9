// Shared setup of the cache tests: a temp directory (removed afterwards), a cache in it, a
// loopback test server, and a runner for child processes that use the cache.
import { type ChildProcess, spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { type CacheConfig, DownloadCache } from "../../src/cache/index.ts";
import { TestServer } from "./server.ts";

export const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));

export async function tempDir(t: TestContext, tag = "cache"): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `astropile-${tag}-`));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Children started by startChild that have not exited yet. */
const running = new Set<ChildProcess>();

/** Kills (SIGKILL) every child still running and waits until they are gone. */
async function killChildren(): Promise<void> {
  const waits = [...running].map((c) => new Promise((r) => c.once("close", r)));
  for (const c of running) c.kill("SIGKILL");
  await Promise.all(waits);
}

export async function setup(t: TestContext, config: CacheConfig = {}) {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "astropile-cache-"));
  const server = await TestServer.start();
  // One hook, in this order: no child may still write into the directory being removed.
  t.after(async () => {
    await killChildren();
    await server.close();
    await fsp.rm(root, { recursive: true, force: true, maxRetries: 3 });
  });
  const cache = new DownloadCache({
    dir: path.join(root, "cache"),
    maxBytes: 1 << 30,
    offline: false,
    ...config,
  });
  return { root, server, cache };
}

/** Every file under `dir` (relative path -> size), to prove something did not change. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = (await fsp.readFile(p)).toString("base64");
    }
  };
  await walk(dir);
  return out;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts test/cache/child.ts with a JSON job; `onLine` sees each stdout line as it comes.
 * `fileSizeLimitKiB` runs it under `ulimit -f`: the kernel then fails writes past that size
 * (EFBIG), a real write failure without a special filesystem.
 */
export function startChild(
  job: unknown,
  onLine?: (line: string) => void,
  opts: { fileSizeLimitKiB?: number } = {},
) {
  const args = ["--import", "tsx", CHILD, JSON.stringify(job)];
  const [cmd, argv] =
    opts.fileSizeLimitKiB === undefined
      ? [process.execPath, args]
      : [
          "bash",
          ["-c", `ulimit -f ${opts.fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, ...args],
        ];
  const child = spawn(cmd, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ASTROPILE_OFFLINE: "" },
  });
  running.add(child);
  child.once("close", () => running.delete(child));
  let stdout = "";
  let stderr = "";
  let pending = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    pending += d;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      onLine?.(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<ChildResult>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Polls `cond` until true; fails after `limitMs` (a safety net, not a timing assertion). */
export async function waitFor(
  cond: () => Promise<boolean> | boolean,
  what: string,
  limitMs = 20000,
) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
