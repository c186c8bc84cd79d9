// Types of scripts/redis.mjs (a plain script, run by node as it is).

/** A running private redis-server. */
export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Its temporary --dir (removed by stop). */
  dir: string;
  pid: number;
  /** Ends the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/** The redis-server on PATH, or null when there is none. */
export function redisServerPath(): string | null;

/** Starts redis-server on 127.0.0.1 and a free port; resolves once it answers PING. */
export function startRedis(options?: {
  timeoutMs?: number;
  binary?: string | null;
}): Promise<RedisServer>;
