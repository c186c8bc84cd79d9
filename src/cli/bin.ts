#!/usr/bin/env node
// The `astropile` command (package.json "bin"). Parses, calls the library and formats; the
// command's modules load only when it runs, so `--help` starts fast.
import { main, quietOnBrokenPipe } from "./main.ts";

quietOnBrokenPipe();
process.exitCode = await main(process.argv);
