// How the processes that serve requests are started: how many, and with what V8 heap.
//
// The heap: V8's default sizes the old generation for a short script. A server holds ~25 MB of
// live objects, and under load the external memory of its answers and decoded chunks (~100 MB/s)
// then started a full collection every ~400 ms; their 8-18 ms pauses made the latency tail of
// every route (bench serve, 30 s of mixed load: 60-70 full collections and a cone p99 of 24-38
// ms; with a 64 MiB floor 5-12 collections and 10-20 ms, BENCHMARKS.md). V8 reads the floor once, when the heap is
// set up, so it is a flag of the process: `astropile serve` runs its server in a child process
// given it, cluster workers are forked with it, and a program calling serveDatasets in its own
// process passes it to node itself.

import { availableParallelism } from "node:os";
import { UsageError } from "../core/errors.ts";

/** Old-generation size V8 lets a serving process reach before its first full collection (MiB). */
export const SERVER_HEAP_FLOOR_MIB = 64;

/**
 * The Node flags a serving process should be started with that `execArgv` (a process's
 * `process.execArgv`) lacks: `--initial-old-space-size=64`, unless it sets its own initial heap.
 *
 * ```ts
 * import { serverNodeFlags } from "astropile";
 * // node ${serverNodeFlags(process.execArgv).join(" ")} my-server.js
 * ```
 */
export function serverNodeFlags(execArgv: readonly string[]): string[] {
  const own = execArgv.some((a) => /^--initial[-_](old[-_]space|heap)[-_]size(=|$)/.test(a));
  return own ? [] : [`--initial-old-space-size=${SERVER_HEAP_FLOOR_MIB}`];
}

/** `auto` (one per core: os.availableParallelism()) or a count, checked. */
export function workerCount(value: number | "auto" | undefined): number {
  if (value === undefined) return 1;
  if (value === "auto") return availableParallelism();
  if (!Number.isSafeInteger(value) || value < 1 || value > 1024)
    throw new UsageError(`workers must be an integer from 1 to 1024 or "auto", got ${value}`);
  return value;
}
