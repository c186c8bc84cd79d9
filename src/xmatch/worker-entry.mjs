// Worker-thread entry of the cross-match. Plain JavaScript so it runs without a loader: it
// loads libhdf5 natively (through tsx it costs ~2 s and ~600 MB per thread), then tsx, then
// the TypeScript worker.
import "h5wasm/node";
import { register } from "tsx/esm/api";

register();
await import("./match-worker.ts");
