import { writeHsc, startServer } from "./test/server/fixtures.ts";
import { mkdtempSync } from "node:fs";
const d = mkdtempSync("/tmp/srvdbg-");
const root = await writeHsc(d);
const s = await startServer([root]);
console.log(s.url);
setInterval(() => {}, 1000);
