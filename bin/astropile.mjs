#!/usr/bin/env node
// Launcher: the package ships TypeScript sources and runs them through tsx, so a fresh clone
// works with `npx astropile` and no build step.
// libhdf5 (h5wasm, a 4 MB generated module) is loaded natively first: through tsx's loader it
// would take ~2 s and ~600 MB more; later imports of it reuse the loaded module.
import "h5wasm/node";
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
