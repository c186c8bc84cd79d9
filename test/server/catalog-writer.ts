// Child process of the catalog concurrency tests (not a test file itself):
//   add FILE PREFIX COUNT LOCATION   adds PREFIX-0 .. PREFIX-(COUNT-1), then "shared"
//   read FILE COUNT                  lists the catalog COUNT times
//   hold FILE                        keeps the file open (DuckDB's process lock) until a stdin line
// and prints one JSON line of what happened. add and read open the catalog, print "ready" and
// wait for a line on stdin before they start, so the test starts them all at once.
import { createInterface } from "node:readline";
import { DuckDBInstance } from "@duckdb/node-api";
import { isAstroPileError } from "../../src/core/errors.ts";
import { DatasetCatalog } from "../../src/server/catalog.ts";

const [mode, file, ...rest] = process.argv.slice(2);

async function ready(): Promise<void> {
  process.stdout.write("ready\n");
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
}

if (mode === "hold") {
  const db = await DuckDBInstance.create(file);
  const c = await db.connect();
  process.stdout.write("holding\n");
  await createInterface({ input: process.stdin })[Symbol.asyncIterator]().next();
  c.closeSync();
  db.closeSync();
} else if (mode === "add") {
  const [prefix, count, location] = rest;
  const catalog = await DatasetCatalog.open(file);
  await ready();
  const added: string[] = [];
  for (let i = 0; i < Number(count); i++) {
    await catalog.add(`${prefix}-${i}`, location, { description: `by ${prefix}` });
    added.push(`${prefix}-${i}`);
  }
  let shared: string;
  try {
    await catalog.add("shared", location, { description: `by ${prefix}` });
    shared = "added";
  } catch (e) {
    shared = isAstroPileError(e) ? e.code : String(e);
  }
  process.stdout.write(`${JSON.stringify({ added, shared })}\n`);
} else if (mode === "read") {
  const catalog = await DatasetCatalog.open(file);
  await ready();
  const counts: number[] = [];
  for (let i = 0; i < Number(rest[0]); i++) counts.push((await catalog.list({ q: "-" })).length);
  process.stdout.write(`${JSON.stringify({ counts })}\n`);
}
