// Development entry of the build worker thread (see src/core/worker-url.ts): loads libhdf5
// natively (through tsx its 4 MB module takes ~2 s), registers tsx, then loads the TypeScript
// worker. The package's threads start from the compiled worker.js.
import "h5wasm/node";
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
