// Development entry of the fetch worker (see src/core/worker-url.ts).
import { register } from "tsx/esm/api";

register();
await import("./fetch-worker.ts");
