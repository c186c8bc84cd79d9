// `astropile serve` as a child process (tests run it from the sources, benchmarks from dist/):
// started on a free port, its URL read from what it prints, stopped with SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { ROOT } from "./cli-process.ts";

export interface ServeProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT */
  url: string;
  /** What the process wrote to stderr so far. */
  stderr(): string;
}

/** Runs `node ...nodeArgs` (which start `astropile serve ... --port 0`) and waits for its URL. */
export async function startServeProcess(nodeArgs: string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c) => {
    stderr += c;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (c) => {
      text += c;
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

/** Stops a serve process (SIGTERM) and waits for it to exit. */
export async function stopServeProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** Whether a process with this id exists and has not exited (a zombie waiting to be reaped has). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return !existsSync("/proc/self/stat"); // gone meanwhile, or no /proc to ask (not Linux)
  }
}

/** Ids of the processes whose parent is `pid` (from /proc: Linux). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // The fields after the parenthesised command name: state, then the parent's id.
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid)
        out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** The command line of a process, argument by argument (from /proc: Linux). */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}
