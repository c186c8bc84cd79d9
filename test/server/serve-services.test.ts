// `astropile serve --redis URL --uploads DIR` as a process: a dataset published to it with the
// write key is served at once (and again after a restart, from DIR), and an export job posted to
// it runs on the private Redis and its result holds every row.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openDataset } from "../../src/dataset/dataset.ts";
import { publishDataset } from "../../src/remote/publish.ts";
import { KeyStore } from "../../src/server/keys.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { type RedisServer, redisSkip, startTestRedis } from "../helpers/redis.ts";
import {
  type ServeProcess,
  startServeProcess,
  stopServeProcess,
} from "../helpers/serve-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, writeHsc } from "./fixtures.ts";

const skip = redisSkip();
const dir = tempDir();
const uploads = join(dir, "uploads");
const jobsDir = join(dir, "jobs");
const keysFile = join(dir, "keys.json");

/** Starts `astropile serve` with the services on; resolves with its base URL. */
function serve(redis: RedisServer): Promise<ServeProcess> {
  return startServeProcess(
    cliArgs(
      "serve",
      "--port",
      "0",
      "--keys",
      keysFile,
      "--redis",
      redis.url,
      "--jobs-dir",
      jobsDir,
      "--uploads",
      uploads,
    ),
  );
}

const stop = stopServeProcess;

describe("serve with --redis and --uploads", { skip }, () => {
  let redis: RedisServer;
  let server: ServeProcess;
  let writeKey: string;
  let source: string;

  before(async () => {
    redis = await startTestRedis();
    const keys = await KeyStore.open(keysFile);
    writeKey = (await keys.create({ name: "publisher", scope: "write" })).key;
    source = await writeHsc(join(dir, "src"), 900);
    server = await serve(redis);
  });
  after(async () => {
    if (server) await stop(server.child);
    await redis?.stop();
  });

  test("a published dataset is served at once, and after a restart", async () => {
    // "serve" with no dataset arguments but --uploads starts empty.
    assert.deepEqual((await call(`${server.url}/api/v1/datasets`)).body.datasets, []);
    await publishDataset(source, `${server.url}/api/v1/datasets/hsc_pub`, { apiKey: writeKey });
    const listed = await call(`${server.url}/api/v1/datasets`);
    assert.deepEqual(
      listed.body.datasets.map((e: { name: string }) => e.name),
      ["hsc_pub"],
    );
    const rows = await call(`${server.url}/api/v1/datasets/hsc_pub/rows?limit=5&columns=object_id`);
    assert.equal(rows.status, 200, rows.text);
    assert.equal(rows.body.rows.length, 5);
    assert.ok(existsSync(join(uploads, "hsc_pub", "astropile.json")));

    await stop(server.child);
    server = await serve(redis);
    const again = await call(`${server.url}/api/v1/datasets/hsc_pub`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.entry.rows, 900);
  });

  test("an export job runs on Redis and its result holds every row", async () => {
    const posted = await call(`${server.url}/api/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` },
      body: JSON.stringify({
        kind: "export",
        dataset: "hsc_pub",
        to: "csv",
        columns: ["object_id", "ra", "dec"],
      }),
    });
    assert.equal(posted.status, 202, posted.text);
    const id = posted.body.id as string;
    let status = posted.body;
    for (let i = 0; i < 600 && !["done", "failed", "cancelled"].includes(status.state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await call(`${server.url}/api/v1/jobs/${id}`)).body;
    }
    assert.equal(status.state, "done", JSON.stringify(status));
    const result = await fetch(`${server.url}/api/v1/jobs/${id}/result`);
    assert.equal(result.status, 200);
    const lines = (await result.text()).trim().split("\n");
    const published = await openDataset(join(uploads, "hsc_pub"));
    assert.equal(lines.length - 1, published.length, "a header line, then one line per row");
    assert.match(lines[0]!, /object_id/);
    // The job wrote under --jobs-dir.
    assert.ok(existsSync(join(jobsDir, "jobs", id)), `results under --jobs-dir ${jobsDir}`);
  });
});
