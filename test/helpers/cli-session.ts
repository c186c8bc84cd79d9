// One long-lived `astropile` process (test/helpers/cli-runner.ts) that runs CLI commands one after
// the other, for the runs of a test that need not be a fresh process (a re-run after a kill, a
// follower of a lock race): each fresh process spends ~1.5 s of CPU starting tsx and loading the
// CLI, which the commands of a session pay once. Runs that must be their own process (killed, a
// lock holder whose pid is checked) still spawn through cliArgs (cli-process.ts).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ROOT } from "./cli-process.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliSession {
  /** Runs `astropile ...args` in the session's process (commands queue, one at a time). */
  run(...args: string[]): Promise<CliResult>;
  /** Ends the process. */
  close(): Promise<void>;
}

/** Starts a session process (libhdf5 loaded natively before tsx, as in cliArgs). */
export function cliSession(env: Record<string, string> = {}): CliSession {
  const child = spawn(
    process.execPath,
    ["--import", "h5wasm/node", "--import", "tsx", join(ROOT, "test", "helpers", "cli-runner.ts")],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const waiting: Array<{ resolve: (r: CliResult) => void; reject: (e: Error) => void }> = [];
  let ended: Error | null = null;
  const exited = new Promise<void>((resolve) => {
    child.on("close", (code, signal) => {
      ended = new Error(`the CLI session ended (exit ${code}, signal ${signal}):\n${stderr}`);
      for (const w of waiting.splice(0)) w.reject(ended);
      resolve();
    });
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    waiting.shift()?.resolve(JSON.parse(line) as CliResult);
  });
  return {
    run(...args) {
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${JSON.stringify(args)}\n`);
      });
    },
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}
