// `astropile serve` as a child process (tests run it from the sources, benchmarks from dist/):
// started on a free port, its URL read from what it prints, stopped with SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
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
