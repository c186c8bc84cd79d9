// One private redis-server per test file (scripts/redis.mjs): 127.0.0.1, a free port, no
// persistence, a temporary --dir removed at the end. Tests that need it skip visibly when
// redis-server is missing, except in CI (CI=true), where .ci/run installs it and its absence
// fails the run.
import { rmSync } from "node:fs";
import { type RedisServer, redisServerPath, startRedis } from "../../scripts/redis.mjs";

export type { RedisServer };

/**
 * For `describe(name, { skip: redisSkip() }, fn)`: false when redis-server is on PATH, a visible
 * skip message when not; throws under CI=true, where it must be installed.
 */
export function redisSkip(): false | string {
  if (redisServerPath()) return false;
  if (process.env.CI === "true")
    throw new Error("redis-server missing in CI (see .ci/run: apt-get install redis-server)");
  return "SKIPPED (redis-server not found on PATH; apt-get install redis-server)";
}

/**
 * Starts a redis-server for this test file. Stop it with `stop()` in the file's `after` hook
 * (a hook's own `after` would run at the end of that hook); should the process end first, the
 * server is killed and its directory removed on exit anyway.
 */
export async function startTestRedis(): Promise<RedisServer> {
  const redis = await startRedis();
  const onExit = () => {
    try {
      process.kill(redis.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    rmSync(redis.dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  return {
    ...redis,
    stop: async () => {
      process.off("exit", onExit);
      await redis.stop();
    },
  };
}
