// Test hook for kill tests, used by the build runner and the dataset writer.

/**
 * When ASTROPILE_CRASH_AT names this point, the process kills itself with SIGKILL (no cleanup,
 * no flush), exactly as an outside `kill -9` would at that moment.
 */
export function crashPoint(name: string): void {
  const at = process.env.ASTROPILE_CRASH_AT;
  if (at && at === name) process.kill(process.pid, "SIGKILL");
}
