// A private redis-server (Debian's) on 127.0.0.1 for tests, benchmarks and trying out
// `astropile serve --redis`: a free port, no persistence (`--save ""`, `--appendonly no`), its
// own temporary --dir, ready when it answers PING; stop() ends it and removes the directory.
//
//   node scripts/redis.mjs        starts one, prints its URL, stops it on Ctrl-C
//
// Imported by test/helpers/redis.ts (tests) and usable from bench/ the same way.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The redis-server on PATH, or null when there is none. */
export function redisServerPath() {
  const r = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** A TCP port nobody listens on now (the kernel's choice for port 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves true when the server at port answers PING with +PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      text += chunk;
      if (text.includes("\r\n")) done(text.startsWith("+PONG"));
    });
  });
}

/**
 * Starts redis-server; resolves `{ url, port, dir, pid, stop() }` once it answers PING. Throws
 * when redis-server is missing or does not come up within `timeoutMs` (its stderr in the message).
 */
export async function startRedis({ timeoutMs = 10_000, binary = redisServerPath() } = {}) {
  if (!binary) throw new Error("redis-server not found on PATH (apt-get install redis-server)");
  let lastError = "";
  // A port found free may be taken before redis binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "astropile-redis-"));
    const child = spawn(
      binary,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    let exited = false;
    const exit = new Promise((resolve) =>
      child.once("exit", () => {
        exited = true;
        resolve();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      let stopped = false;
      const stop = async () => {
        if (!stopped) {
          stopped = true;
          if (!exited) child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exit;
          clearTimeout(killer);
        }
        rmSync(dir, { recursive: true, force: true });
      };
      return { url: `redis://127.0.0.1:${port}`, port, dir, pid: child.pid, stop };
    }
    if (!exited) child.kill("SIGKILL");
    await exit;
    rmSync(dir, { recursive: true, force: true });
    lastError = stderr.trim() || `no answer to PING within ${timeoutMs} ms`;
  }
  throw new Error(`redis-server did not start: ${lastError}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redis = await startRedis();
  process.stdout.write(`${redis.url}\n`);
  const quit = () => redis.stop().then(() => process.exit(0));
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
}
