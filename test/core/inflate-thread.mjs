// Entry of the inflating test thread: a worker thread does not inherit the parent's tsx loader.
import { register } from "tsx/esm/api";

register();
await import("./inflate-thread.ts");
