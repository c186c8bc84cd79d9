#!/usr/bin/env node
// Launcher: the package ships TypeScript sources and runs them through tsx,
// so a fresh clone works with `npx astropile` and no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
