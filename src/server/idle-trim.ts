// Memory back down after a burst of load. A process that answered many requests holds its answer
// cache (up to --cache MiB), its decoded chunks (up to 32 MiB) and garbage: the buffers of answers
// sent or dropped, which V8 frees only at its next full collection, and a process with nothing to
// do never reaches one (bench serve: RSS 2.6x its start level a minute after the load, flat). So
// after `idleMs` without a request, a process that answered since its last trim empties both
// caches and runs a full collection. How much of the freed memory glibc's allocator gives back to
// the system is up to it (docs/service.md: MALLOC_MMAP_THRESHOLD_ makes it give back most).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { FastifyInstance } from "fastify";
import { dropDecodedChunks } from "../storage/hdf5-direct.ts";
import type { AnswerCache } from "./answer-cache.ts";

/** Default quiet time before a trim (ms). */
export const DEFAULT_TRIM_WHEN_IDLE_MS = 10_000;

let collector: (() => void) | null | undefined;

/**
 * V8's full collection, or null where it cannot be had. `--expose-gc` set at run time applies to
 * contexts made after it: the function is taken from a new one (the main context is unchanged).
 */
function fullCollection(): (() => void) | null {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    try {
      if (exposed) collector = exposed;
      else {
        setFlagsFromString("--expose-gc");
        collector = runInNewContext("gc") as () => void;
      }
    } catch {
      collector = null;
    }
  }
  return collector;
}

/**
 * Trims the process's memory after `idleMs` without a request (0: never): empties `cache` and the
 * decoded chunks, and runs a full collection, once per quiet spell. A request still streaming
 * then is not disturbed (its answer is not in the cache yet; the collection pauses it for some
 * milliseconds).
 */
export function trimWhenIdle(
  app: FastifyInstance,
  cache: AnswerCache | null,
  idleMs: number,
): void {
  if (!(idleMs > 0)) return;
  let last = 0;
  let answered = false;
  const seen = async () => {
    last = performance.now();
    answered = true;
  };
  app.addHook("onRequest", seen);
  app.addHook("onResponse", seen);
  const timer = setInterval(
    () => {
      if (!answered || performance.now() - last < idleMs) return;
      answered = false;
      cache?.clear();
      dropDecodedChunks();
      fullCollection()?.();
    },
    Math.min(idleMs, 1000),
  );
  timer.unref();
  app.addHook("onClose", async () => clearInterval(timer));
}
