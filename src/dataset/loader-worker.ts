// A loader worker thread: opens the parent datasets once (manifests only; files are opened and
// checked against the manifest on first use, then kept open), then reads the batches the main
// thread sends, one at a time: into the shared buffer the task came with (a loader that reuses
// its buffers), or into a new buffer moved (not copied) to the main thread with the reply.
import { parentPort, workerData } from "node:worker_threads";
import { crashThreadPoint } from "../core/crash-point.ts";
import { InternalError, type SerializedError, serializeError } from "../core/errors.ts";
import { exitWhenAsked, isStopMessage } from "../core/worker-stop.ts";
import { adoptRemoteSettings } from "../remote/remote-file.ts";
import { newBatchBuffer, type ReadTask, readTask } from "./loader-read.ts";
import { Source } from "./source.ts";

export type ToLoaderWorker =
  | { type: "init"; sources: Array<{ root: string; config: string }> }
  | { type: "read"; task: ReadTask; buffer?: SharedArrayBuffer };

export type FromLoaderWorker =
  | { type: "done"; index: number; strings: Record<string, string[]>; buffer?: ArrayBuffer }
  | { type: "error"; index: number; error: SerializedError };

// Remote datasets are read with the parent thread's remote settings (and this registers the
// remote byte source for the storage layer in this thread).
adoptRemoteSettings((workerData as { remote?: unknown } | null)?.remote);

const port = parentPort;
if (!port) throw new InternalError("loader-worker runs only as a worker thread");

let sources: Promise<Source[]> | null = null;

exitWhenAsked(port);
port.on("message", (msg: ToLoaderWorker) => {
  if (isStopMessage(msg)) return;
  if (msg.type === "init") {
    sources = Promise.all(msg.sources.map((s) => Source.open(s.root, s.config)));
    return;
  }
  const { task, buffer: shared } = msg;
  (async () => {
    if (!sources) throw new InternalError("loader worker: read before init");
    crashThreadPoint(`loader-worker:batch-${task.index}`);
    const buffer = shared ?? newBatchBuffer(task.layout);
    const strings = await readTask(await sources, task, buffer);
    if (shared) port.postMessage({ type: "done", index: task.index, strings } as FromLoaderWorker);
    else
      port.postMessage(
        { type: "done", index: task.index, strings, buffer: buffer as ArrayBuffer },
        [buffer as ArrayBuffer],
      );
  })().catch((err: unknown) => {
    port.postMessage({
      type: "error",
      index: task.index,
      error: serializeError(err),
    } satisfies FromLoaderWorker);
  });
});
