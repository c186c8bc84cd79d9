// Development entry of the cross-match worker thread (see src/core/worker-url.ts): loads
// libhdf5 natively (through tsx it costs ~2 s and ~600 MB per thread), registers tsx, then
// loads the TypeScript worker. The package's threads start from the compiled match-worker.js.
import "h5wasm/node";
import { register } from "tsx/esm/api";

register();
await import("./match-worker.ts");
