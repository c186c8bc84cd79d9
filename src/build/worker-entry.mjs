// Worker thread entry: the package runs TypeScript through tsx, which a worker thread does not
// inherit from a launcher that registered it programmatically (bin/astropile.mjs), so register
// it here before loading the worker module.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
