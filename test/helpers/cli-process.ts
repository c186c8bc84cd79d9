// The `astropile` command as a process, run from the TypeScript sources (the package runs the
// compiled dist/cli/bin.js; test/package checks that one). libhdf5 loads natively before tsx.
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");

/** Node arguments that run `astropile ...args` from src/cli/bin.ts. */
export function cliArgs(...args: string[]): string[] {
  return [
    "--import",
    "h5wasm/node",
    "--import",
    "tsx",
    join(ROOT, "src", "cli", "bin.ts"),
    ...args,
  ];
}

/** Node arguments that run the ES module source `code` (importing src by path) with `args`. */
export function moduleArgs(code: string, ...args: string[]): string[] {
  return ["--import", "h5wasm/node", "--import", "tsx", "--input-type=module", "-e", code, ...args];
}
