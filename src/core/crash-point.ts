// Test hook for kill tests, used by the build runner and the dataset writer.
import { existsSync, writeFileSync } from "node:fs";

/**
 * When ASTROPILE_CRASH_AT names this point, the process kills itself with SIGKILL (no cleanup,
 * no flush), exactly as an outside `kill -9` would at that moment.
 */
export function crashPoint(name: string): void {
  const at = process.env.ASTROPILE_CRASH_AT;
  if (at && at === name) process.kill(process.pid, "SIGKILL");
}

/**
 * Thread-level test hook: when ASTROPILE_CRASH_AT names this point, the current worker thread
 * exits at once with code 70 (the rest of the process lives on), as a thread that crashed. With
 * ASTROPILE_CRASH_ONCE set to a file path, it crashes only while that file does not exist and
 * creates it first, so the next attempt succeeds.
 */
export function crashThreadPoint(name: string): void {
  const at = process.env.ASTROPILE_CRASH_AT;
  if (!at || at !== name) return;
  const once = process.env.ASTROPILE_CRASH_ONCE;
  if (once) {
    if (existsSync(once)) return;
    writeFileSync(once, "");
  }
  process.exit(70);
}
