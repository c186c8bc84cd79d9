// A worker thread that inflates small buffers without pause (a zlib stream built per call, as in
// the storage layer's reads) and exits when asked through worker-stop.
import { parentPort } from "node:worker_threads";
import { deflateSync, inflateSync } from "node:zlib";
import { exitWhenAsked } from "../../src/core/worker-stop.ts";

const port = parentPort!;
exitWhenAsked(port);
const stored = deflateSync(Buffer.alloc(64, 7));
port.postMessage("inflating");
const burst = () => {
  for (let i = 0; i < 200; i++) inflateSync(stored);
  setImmediate(burst);
};
burst();
