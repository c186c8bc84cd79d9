// Development entry of the loader worker thread (see src/core/worker-url.ts): loads libhdf5
// natively (through tsx it costs ~2 s and ~600 MB per thread), registers tsx, then loads the
// TypeScript worker. The package's threads start from the compiled loader-worker.js.
import "h5wasm/node";
import { register } from "tsx/esm/api";

register();
await import("./loader-worker.ts");
