// Starts test/helpers/range-server.mjs in a child process on 127.0.0.1 and controls it.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Fault {
  /** Suffix of the path the fault applies to. */
  match: string;
  kind: "status" | "reset" | "short";
  status?: number;
  /** How many requests it hits. */
  times: number;
  /** Only ranged (true) or only whole-file (false) requests. */
  onRange?: boolean;
}

export interface RangeStats {
  requests: number;
  /** Bytes of every response body. */
  bytes: number;
  ranges: number;
  log: string[];
}

export interface RangeServer {
  /** http://127.0.0.1:PORT */
  url: string;
  faults(list: Fault[]): Promise<void>;
  /** Counters since the last reset; `log`: the first 1000 ranged requests, "path start-end". */
  stats(): Promise<RangeStats>;
  reset(): Promise<void>;
  /** Makes the server ignore If-Match (until reset), as some servers do. */
  ignoreConditionals(on: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Serves `dir` over HTTP with Range/ETag from a child process; stop it with close(). */
export async function startRangeServer(dir: string): Promise<RangeServer> {
  const script = fileURLToPath(new URL("./range-server.mjs", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script, dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (c) => {
      text += c;
      const m = /PORT (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`range server exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  // A kept-alive socket the server closed meanwhile fails once: the control calls try twice.
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    try {
      return await globalThis.fetch(input, init);
    } catch {
      return globalThis.fetch(input, init);
    }
  };
  return {
    url,
    async faults(list) {
      await fetch(`${url}/__faults`, { method: "POST", body: JSON.stringify(list) });
    },
    async stats() {
      return (await (await fetch(`${url}/__stats`)).json()) as RangeStats;
    },
    async ignoreConditionals(on) {
      await fetch(`${url}/__ignore-conditionals`, { method: "POST", body: String(on) });
    },
    async reset() {
      await fetch(`${url}/__reset`, { method: "POST" });
    },
    async close() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await done;
    },
  };
}
