// Development entry of the catalog scan worker (see src/core/worker-url.ts): registers tsx, then
// loads the TypeScript worker. The package's threads start from the compiled scan-worker.js.
import { register } from "tsx/esm/api";

register();
await import("./scan-worker.ts");
