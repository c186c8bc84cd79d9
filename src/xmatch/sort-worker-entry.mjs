// Worker-thread entry of the kernel's sort helper when no bundle could be written: plain
// JavaScript, so it runs without a loader; registers tsx, then loads the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./sort-worker.ts");
