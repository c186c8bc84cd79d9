// Development entry of the object_id index thread (see src/core/worker-url.ts): registers tsx,
// then loads the TypeScript worker. The package's threads start from the compiled
// id-index-worker.js.
import { register } from "tsx/esm/api";

register();
await import("./id-index-worker.ts");
