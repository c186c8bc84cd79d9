import { adoptMmuTree } from "../src/interop/mmu-adopt.ts";
const t0 = performance.now();
let last = "";
const marks: Record<string, number> = {};
await adoptMmuTree(process.argv[2]!, { indexDir: process.argv[3]!, force: true, onProgress: (p) => {
  if (p.phase !== last) { marks[p.phase] = performance.now(); last = p.phase; }
} });
const end = performance.now();
console.log(JSON.stringify({ total: (end - t0) / 1000, scanStart: (marks.files! - t0) / 1000, sidecarsStart: (marks.sidecars! - t0) / 1000 }));
