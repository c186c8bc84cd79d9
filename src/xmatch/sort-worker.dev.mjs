// Development entry of the kernel's sort helper thread (see src/core/worker-url.ts): registers
// tsx, then loads the TypeScript worker. The package's thread starts from sort-worker.js.
import { register } from "tsx/esm/api";

register();
await import("./sort-worker.ts");
