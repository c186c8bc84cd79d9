// Remote datasets over HTTP: a dataset written by the real writer, served by a real HTTP server
// (Node's, in a child process, with Range/ETag) on 127.0.0.1, opened by URL and read by ranges.
import assert from "node:assert/strict";
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openDataset } from "../../src/dataset/dataset.ts";
import { remoteStats } from "../../src/remote/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { type RangeServer, startRangeServer } from "../helpers/range-server.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROWS = 3000;
const dir = tempDir();
const cacheDir = tempDir();
let server: RangeServer;

before(async () => {
  const all = imageRows(ROWS);
  await writeDataset(join(dir, "hsc"), IMAGE_COLUMNS, inBatches(all, IMAGE_COLUMNS, 500), {
    config: "pdr3",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    maxRowsPerFile: 800,
  });
  server = await startRangeServer(dir);
});
after(async () => {
  await server?.close();
});

test("a remote dataset reads the same rows as the local one, by byte ranges", async () => {
  const local = await openDataset(join(dir, "hsc"));
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir } });
  assert.equal(remote.length, local.length);
  for (const i of [0, 1234, ROWS - 1]) assert.deepEqual(await remote.get(i), await local.get(i));
  const near = (d: typeof local) => d.coneSearch(0.5, 0.5, 3600).select(["object_id", "ra"]);
  const a: unknown[] = [];
  for await (const b of near(remote).batches({ size: 100 })) a.push(b);
  const b: unknown[] = [];
  for await (const x of near(local).batches({ size: 100 })) b.push(x);
  assert.deepEqual(a, b);
});
