// The jobs of the data service against a real redis-server (one per file, test/helpers/redis.ts)
// and real datasets: an xmatch job's result equals crossMatch called directly, an export job's
// CSV holds the rows the library reads, bad bodies are 400 naming the field, a full queue is
// 429, a killed worker's job is run again or failed (never left running), a restarted queue
// still answers for finished jobs, results expire, downloads stay inside the job's directory.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { QueueEvents } from "bullmq";
import { parse as parseCsv } from "csv-parse/sync";
import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { extract } from "tar-stream";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import type { CatalogEntry, DatasetDirectory } from "../../src/server/directory.ts";
import {
  datasetResolver,
  JobQueue,
  type JobQueueOptions,
  type JobStatus,
} from "../../src/server/jobs.ts";
import { jobRoutes } from "../../src/server/routes-jobs.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { writePatchCatalogs } from "../helpers/patch-catalogs.ts";
import { type RedisServer, redisSkip, startTestRedis } from "../helpers/redis.ts";
import { tempDir } from "../helpers/tmp.ts";

const skip = redisSkip();
const dir = tempDir("astropile-jobs-");
const LEFT = join(dir, "left");
const RIGHT = join(dir, "right");
const CATALOG: Record<string, string> = { left: LEFT, right: RIGHT };
// The datasets a server serves, as the app's catalog answers for them.
const directory: DatasetDirectory = {
  list: async () => [],
  get: async (name) =>
    CATALOG[name] ? ({ name, location: CATALOG[name] } as CatalogEntry) : undefined,
};
const resolveDataset = datasetResolver(directory);

let redis: RedisServer;
const open: JobQueue[] = [];
const apps: FastifyInstance[] = [];

async function openQueue(options: Partial<JobQueueOptions> = {}): Promise<JobQueue> {
  const q = await JobQueue.open({
    connection: redis.url,
    dataDir: join(dir, "data"),
    resolveDataset,
    progressIntervalMs: 0,
    // Matched in this thread: small catalogs, and no worker thread to start under tsx.
    xmatchThreads: 0,
    ...options,
  });
  open.push(q);
  return q;
}

/** A bare Fastify app with the job routes, listening on 127.0.0.1; its base URL. */
async function serve(queue: JobQueue | null): Promise<{ url: string; app: FastifyInstance }> {
  const app = Fastify();
  await app.register(jobRoutes, { queue });
  await app.listen({ host: "127.0.0.1", port: 0 });
  apps.push(app);
  const address = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, app };
}

/** A job status or an error body, as the routes answer. */
type Answer = JobStatus & { error: { code: string; message: string; parameter?: string } };

async function post(url: string, body: unknown): Promise<{ status: number; json: Answer }> {
  const r = await fetch(`${url}/api/v1/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Answer };
}

async function getStatus(url: string, id: string): Promise<JobStatus> {
  const r = await fetch(`${url}/api/v1/jobs/${id}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as JobStatus;
}

/** Waits until the job is in a final state (polling the queue, not HTTP). */
async function settled(q: JobQueue, id: string, timeoutMs = 15_000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await q.status(id);
    if (s.state === "done" || s.state === "failed" || s.state === "cancelled") return s;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${s.state} (${s.message})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every scalar row of a dataset as sorted JSON lines: order-free content to compare. */
async function rowsOf(ds: Dataset): Promise<string[]> {
  const names = ds.features.filter((f) => f.shape.length === 0).map((f) => f.name);
  const lines: string[] = [];
  for await (const b of ds.select(names).batches({ size: 4096 })) {
    for (let i = 0; i < b.length; i++) {
      lines.push(
        JSON.stringify(
          names.map((n) => {
            const v = (b.columns[n] as ArrayLike<unknown>)[i];
            return typeof v === "bigint" ? v.toString() : v;
          }),
        ),
      );
    }
  }
  return lines.sort();
}

/** A GET with the path sent as it is (fetch would resolve its dot segments first). */
function rawGet(base: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/`, { path }, (res) => {
      let text = "";
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Downloads every file of a done job's result into `into` over HTTP. */
async function download(url: string, status: JobStatus, into: string): Promise<void> {
  for (const f of status.result!.files) {
    const r = await fetch(`${url}/api/v1/jobs/${status.id}/result/${f}`);
    assert.equal(r.status, 200, f);
    const target = join(into, f);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, Buffer.from(await r.arrayBuffer()));
  }
}

describe("jobs", { skip, timeout: 60_000 }, () => {
  let queue: JobQueue;
  let base: string;
  let events: QueueEvents;
  let eventsClient: Redis;
  const progress = new Map<string, Array<{ fraction: number; message: string }>>();

  before(async () => {
    redis = await startTestRedis();
    await writePatchCatalogs(LEFT, RIGHT, { rows: 4000, seed: 7 });
    queue = await openQueue();
    base = (await serve(queue)).url;
    // An observer of the progress the worker writes to Redis (BullMQ's event stream).
    eventsClient = new Redis(redis.url, { maxRetriesPerRequest: null });
    eventsClient.on("error", () => {});
    events = new QueueEvents("astropile-jobs", { connection: eventsClient });
    events.on("progress", ({ jobId, data }) => {
      const list = progress.get(jobId) ?? [];
      list.push(data as { fraction: number; message: string });
      progress.set(jobId, list);
    });
    await events.waitUntilReady();
  });

  after(async () => {
    for (const app of apps) await app.close();
    await events?.close();
    eventsClient?.disconnect();
    for (const q of open) await q.close({ force: true });
    await redis?.stop();
  });

  let xmatchDone: JobStatus;

  test("an xmatch job runs to done, with progress, and its result is crossMatch's", async () => {
    const { status, json } = await post(base, {
      kind: "xmatch",
      left: "left",
      right: "right",
      radiusArcsec: 2,
    });
    assert.equal(status, 202, JSON.stringify(json));
    assert.equal(json.state, "queued");
    assert.match(json.id, /^[0-9a-f-]{36}$/);
    const done = await settled(queue, json.id);
    assert.equal(done.state, "done", JSON.stringify(done.error));
    xmatchDone = await getStatus(base, json.id);
    assert.equal(xmatchDone.progress, 1);
    assert.ok(xmatchDone.result!.files.includes("xmatch/astropile.json"));
    assert.equal(xmatchDone.result!.bytes > 0, true);

    // The same match called directly, saved beside it.
    const left = await openDataset(LEFT);
    const right = await openDataset(RIGHT);
    const direct = await crossMatch(left, right, { radiusArcsec: 2 });
    await direct.dataset.saveToDisk(join(dir, "direct"));
    assert.equal(xmatchDone.result!.rows, direct.catalog.length);
    assert.ok(direct.catalog.length > 3000, `${direct.catalog.length} pairs`);
    // Downloaded over HTTP, the job's dataset opens and holds the same rows.
    await download(base, xmatchDone, join(dir, "downloaded"));
    const fromJob = await openDataset(join(dir, "downloaded", "xmatch"));
    const fromLibrary = await openDataset(join(dir, "direct"));
    assert.equal(fromJob.length, fromLibrary.length);
    assert.deepEqual(await rowsOf(fromJob), await rowsOf(fromLibrary));
    for (const ds of [left, right, fromJob, fromLibrary]) ds.close();

    // Progress went up from 0 to 1 through the phases, each with a message.
    const seen = progress.get(json.id) ?? [];
    assert.ok(seen.length >= 4, JSON.stringify(seen));
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i]!.fraction >= seen[i - 1]!.fraction, JSON.stringify(seen));
    assert.ok(seen.some((p) => p.fraction > 0 && p.fraction < 1 && /match/.test(p.message)));
    assert.deepEqual(seen.at(-1), { fraction: 1, message: "done" });
  });

  test("the whole result downloads as a tar of its files", async () => {
    const r = await fetch(`${base}/api/v1/jobs/${xmatchDone.id}/result`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/x-tar");
    const names: Array<{ name: string; size: number }> = [];
    const ex = extract();
    const done = (async () => {
      for await (const entry of ex) {
        let size = 0;
        for await (const c of entry) size += (c as Buffer).length;
        names.push({ name: entry.header.name, size });
      }
    })();
    ex.end(Buffer.from(await r.arrayBuffer()));
    await done;
    const files = await queue.resultFiles(xmatchDone.id);
    assert.deepEqual(
      names,
      files.files.map((f) => ({ name: f.path, size: f.bytes })),
    );
  });

  test("an export job's CSV holds the rows the library reads", async () => {
    const { status, json } = await post(base, {
      kind: "export",
      dataset: "left",
      to: "csv",
      columns: ["object_id", "ra", "mag"],
      filter: "mag < 20",
    });
    assert.equal(status, 202, JSON.stringify(json));
    const done = await settled(queue, json.id);
    assert.equal(done.state, "done", JSON.stringify(done.error));
    assert.deepEqual(done.result!.files, ["left.csv"]);
    // One file: the result route answers it itself.
    const r = await fetch(`${base}/api/v1/jobs/${json.id}/result`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type")!, /^text\/csv/);
    const rows = parseCsv(await r.text(), { columns: true, comment: "#" }) as Array<
      Record<string, string>
    >;
    const ds = await openDataset(LEFT);
    const view = ds.filter("mag < 20");
    const expected: string[] = [];
    for await (const b of view.select(["object_id", "ra"]).batches({ size: 4096 }))
      for (let i = 0; i < b.length; i++)
        expected.push(
          `${(b.columns.object_id as string[])[i]} ${(b.columns.ra as Float64Array)[i]}`,
        );
    ds.close();
    assert.equal(done.result!.rows, expected.length);
    assert.ok(expected.length > 500 && expected.length < 4000, `${expected.length} rows`);
    assert.deepEqual(
      rows.map((row) => `${row.object_id} ${Number(row.ra)}`).sort(),
      expected.sort(),
    );
    // A byte range of a result file (what openDataset over HTTP reads with).
    const whole = Buffer.from(
      await (await fetch(`${base}/api/v1/jobs/${json.id}/result/left.csv`)).arrayBuffer(),
    );
    const part = await fetch(`${base}/api/v1/jobs/${json.id}/result/left.csv`, {
      headers: { range: "bytes=10-29" },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 10-29/${whole.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(10, 30));
  });

  test("a job outlives the request and the server that took it", async () => {
    const { url, app } = await serve(queue);
    const body = JSON.stringify({ kind: "xmatch", left: "right", right: "left", radiusArcsec: 1 });
    // The client reads the 202 and goes away; then the HTTP server itself closes.
    const id = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${url}/api/v1/jobs`,
        { method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => {
            req.destroy();
            resolve(JSON.parse(text).id);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    await app.close();
    // No one polls: wait for BullMQ's own completion event.
    const finished = new Promise<void>((resolve) => {
      const check = ({ jobId }: { jobId: string }) => {
        if (jobId === id) resolve();
      };
      events.on("completed", check);
      events.on("failed", check);
    });
    const state = await queue.status(id);
    if (state.state !== "done") await finished;
    const later = await getStatus(base, id);
    assert.equal(later.state, "done", JSON.stringify(later.error));
    assert.ok(later.result!.rows > 3000);
  });

  test("a bad job body is a 400 naming the field", async () => {
    const cases: Array<[unknown, string, string?]> = [
      [{ kind: "xmatch", left: "nope", right: "right", radiusArcsec: 1 }, "left"],
      [{ kind: "xmatch", left: "left", right: "nope", radiusArcsec: 1 }, "right"],
      [{ kind: "xmatch", left: "left", right: "right", radiusArcsec: -1 }, "radiusArcsec"],
      [{ kind: "xmatch", left: "left", right: "right", radiusArcsec: "1" }, "radiusArcsec"],
      [{ kind: "xmatch", left: "left", right: "right", radiusArcsec: 1e9 }, "radiusArcsec"],
      [{ kind: "xmatch", left: "left", right: "right" }, "radiusArcsec"],
      [
        { kind: "xmatch", left: "left", right: "right", radiusArcsec: 1, minRadiusArcsec: 2 },
        "minRadiusArcsec",
      ],
      [{ kind: "xmatch", left: "left", right: "right", radiusArcsec: 1, mode: "x" }, "mode"],
      [
        { kind: "xmatch", left: "left", right: "right", radiusArcsec: 1, leftConfig: "zz" },
        "leftConfig",
      ],
      [{ kind: "xmatch", left: "../etc", right: "right", radiusArcsec: 1 }, "left"],
      [{ kind: "xmatch", left: "left", right: "right", radiusArcsec: 1, out: "/tmp" }, "out"],
      [{ kind: "export", dataset: "left", to: "xls" }, "to"],
      [{ kind: "export", dataset: "left", to: "csv", filter: "mag <" }, "filter"],
      [
        { kind: "export", dataset: "left", to: "csv", columns: ["nope"] },
        "columns",
        "ASTROPILE_MISSING_COLUMN",
      ],
      [
        { kind: "export", dataset: "left", to: "csv", cone: { ra: 1, dec: 100, radiusArcsec: 1 } },
        "cone.dec",
      ],
      [{ kind: "sleep" }, "kind"],
      [[1, 2], "body"],
      ["{not json", "body"],
    ];
    for (const [body, parameter, code] of cases) {
      const { status, json } = await post(base, body);
      assert.equal(status, 400, `${JSON.stringify(body)}: ${JSON.stringify(json)}`);
      assert.equal(json.error.parameter, parameter, JSON.stringify(json));
      assert.equal(json.error.code, code ?? "ASTROPILE_BAD_PARAMETER", JSON.stringify(json));
      assert.equal(typeof json.error.message, "string");
    }
    // Unknown ids and traversal in the result path: 404, never a file outside the result.
    for (const path of [
      "/api/v1/jobs/nope",
      "/api/v1/jobs/00000000-0000-4000-8000-000000000000",
      `/api/v1/jobs/${xmatchDone.id}/result/../../../../etc/passwd`,
      `/api/v1/jobs/${xmatchDone.id}/result/%2e%2e/%2e%2e/etc/passwd`,
      `/api/v1/jobs/${xmatchDone.id}/result//etc/passwd`,
      `/api/v1/jobs/${xmatchDone.id}/result/xmatch/../xmatch/astropile.json`,
      `/api/v1/jobs/${xmatchDone.id}/result/xmatch`,
      `/api/v1/jobs/${xmatchDone.id}/result/xmatch/./astropile.json`,
      `/api/v1/jobs/${xmatchDone.id}/result/xmatch%2F..%2Fxmatch%2Fastropile.json`,
      `/api/v1/jobs/${xmatchDone.id}/result/xmatch/astropile.json%00`,
      `/api/v1/jobs/..%2f..%2fetc/result/passwd`,
    ]) {
      const r = await rawGet(base, path);
      assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status} ${r.text}`);
      // Paths that reach the job routes answer in the service's format (the app answers the others).
      if (r.text.includes('"error":{'))
        assert.match(JSON.parse(r.text).error.code, /^ASTROPILE_/, `${path}: ${r.text}`);
      assert.doesNotMatch(r.text, /root:/);
    }
  });

  test("a full queue answers 429; cancelling a queued job frees its place", async () => {
    // Only a producer on this queue: nothing runs, so jobs stay queued.
    const producer = await openQueue({ queueName: "bounded", worker: false, maxQueued: 2 });
    const { url } = await serve(producer);
    const body = { kind: "export", dataset: "left", to: "csv" };
    const first = await post(url, body);
    const second = await post(url, body);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    const third = await post(url, body);
    assert.equal(third.status, 429, JSON.stringify(third.json));
    assert.equal(third.json.error.code, "ASTROPILE_QUEUE_FULL");
    const r = await fetch(`${url}/api/v1/jobs/${first.json.id}`, { method: "DELETE" });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as JobStatus).state, "cancelled");
    assert.equal((await getStatus(url, first.json.id)).state, "cancelled");
    assert.equal((await post(url, body)).status, 202);
    const notDone = await fetch(`${url}/api/v1/jobs/${second.json.id}/result`);
    assert.equal(notDone.status, 409);
  });

  test("a running job is cancelled, or times out, at its next checkpoint", async () => {
    // The datasets resolve when the test says: the job is running meanwhile.
    let release!: () => void;
    let gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const gated = async (name: string) => {
      if (++calls % 2 === 0) await gate; // each job resolves once at submit, once when it runs
      return resolveDataset(name);
    };
    const q = await openQueue({ queueName: "gated", resolveDataset: gated, timeoutMs: 0 });
    const { id } = await q.submit({ kind: "export", dataset: "left", to: "csv" });
    while ((await q.status(id)).state !== "running") await new Promise((r) => setTimeout(r, 20));
    const cancelling = await q.cancel(id);
    assert.equal(cancelling.state, "running");
    release();
    const cancelled = await settled(q, id);
    assert.equal(cancelled.state, "cancelled", JSON.stringify(cancelled));
    assert.equal(cancelled.error?.code, "ASTROPILE_CANCELLED");
    assert.equal(existsSync(join(dir, "data", "jobs", id)), false);

    gate = new Promise<void>((r) => {
      release = r;
    });
    const t = await openQueue({ queueName: "timed", resolveDataset: gated, timeoutMs: 100 });
    const job = await t.submit({ kind: "export", dataset: "left", to: "csv" });
    while ((await t.status(job.id)).state !== "running")
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    release();
    const timedOut = await settled(t, job.id);
    assert.equal(timedOut.state, "failed");
    assert.equal(timedOut.error?.code, "ASTROPILE_TIMEOUT");
  });

  test("a queue closed under a running job leaves it to the next worker, which runs it", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const gated = async (name: string) => {
      if (++calls === 2) await gate; // the run's first resolve waits; the submit's did not
      return resolveDataset(name);
    };
    const short = { lockDurationMs: 500, stalledIntervalMs: 200 };
    const first = await openQueue({ queueName: "closing", resolveDataset: gated, ...short });
    const { id } = await first.submit({ kind: "export", dataset: "left", to: "csv" });
    while ((await first.status(id)).state !== "running")
      await new Promise((r) => setTimeout(r, 20));
    await first.close({ force: true });
    release(); // the abandoned attempt goes on, finds its queue closed, and records nothing
    const second = await openQueue({ queueName: "closing", ...short });
    const s = await settled(second, id);
    assert.equal(s.state, "done", JSON.stringify(s.error));
    assert.equal(s.attempts, 2);
    assert.deepEqual(s.result!.files, ["left.csv"]);
  });

  test("a killed worker's job is run again once, or failed: never left running", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "h5wasm/node",
        "--import",
        "tsx",
        join(import.meta.dirname, "jobs-child.ts"),
        redis.url,
        tempDir("astropile-jobs-child-"),
        "stall-retry",
        "stall-fail",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) resolve();
        };
        child.stdout!.on("data", (c) => {
          out += c;
          check();
        });
        child.once("exit", (code) => reject(new Error(`child exited ${code}: ${out}`)));
        check();
      });
    after(() => {
      child.kill("SIGKILL");
    });
    await seen("READY");
    const retry = await openQueue({ queueName: "stall-retry", worker: false });
    const fail = await openQueue({ queueName: "stall-fail", worker: false });
    const body = { kind: "export", dataset: "left", to: "csv" };
    const a = await retry.submit(body);
    const b = await fail.submit(body);
    await Promise.all([seen("RUNNING stall-retry"), seen("RUNNING stall-fail")]);
    assert.equal((await retry.status(a.id)).state, "running");
    assert.equal((await fail.status(b.id)).state, "running");
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    // Workers of the same queues in this process find the lost jobs once their locks expire.
    const options = { lockDurationMs: 1000, stalledIntervalMs: 300 };
    const retrying = await openQueue({ queueName: "stall-retry", maxStalls: 1, ...options });
    const failing = await openQueue({ queueName: "stall-fail", maxStalls: 0, ...options });
    const again = await settled(retrying, a.id);
    assert.equal(again.state, "done", JSON.stringify(again.error));
    assert.equal(again.attempts, 2);
    const lost = await settled(failing, b.id);
    assert.equal(lost.state, "failed");
    assert.equal(lost.error?.code, "ASTROPILE_WORKER_LOST", JSON.stringify(lost));
  });

  test("a restarted queue on the same Redis still answers for finished jobs", async () => {
    const restarted = await openQueue();
    const s = await restarted.status(xmatchDone.id);
    assert.equal(s.state, "done");
    assert.deepEqual(s.result, xmatchDone.result);
    const { root, files } = await restarted.resultFiles(xmatchDone.id);
    const manifest = await readFile(join(root, "xmatch", "astropile.json"), "utf8");
    assert.ok(files.some((f) => f.path === "xmatch/astropile.json"));
    assert.match(manifest, /"configs"/);
  });

  test("results are removed after resultTtlMs", async () => {
    const q = await openQueue({
      queueName: "short-lived",
      resultTtlMs: 300,
      sweepIntervalMs: 60_000,
    });
    const a = await q.submit({ kind: "export", dataset: "left", to: "csv", filter: "mag < 18.5" });
    const b = await q.submit({ kind: "export", dataset: "left", to: "ecsv", filter: "mag < 18.5" });
    assert.equal((await settled(q, a.id)).state, "done");
    assert.equal((await settled(q, b.id)).state, "done");
    const aDir = join(dir, "data", "jobs", a.id);
    assert.equal(existsSync(aDir), true);
    await new Promise((r) => setTimeout(r, 350));
    // Read after expiry: gone, files too; the sweeper removes the other.
    await assert.rejects(q.status(a.id), { code: "ASTROPILE_NOT_FOUND" });
    assert.equal(existsSync(aDir), false);
    assert.equal(await q.sweep(), 1);
    assert.equal(existsSync(join(dir, "data", "jobs", b.id)), false);
    await assert.rejects(q.status(b.id), { code: "ASTROPILE_NOT_FOUND" });
  });

  test("without a queue the job routes answer 503", async () => {
    const { url } = await serve(null);
    const r = await post(url, { kind: "export", dataset: "left", to: "csv" });
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, "ASTROPILE_UNAVAILABLE");
    const g = await fetch(`${url}/api/v1/jobs/${xmatchDone.id}`);
    assert.equal(g.status, 503);
  });

  test("an unreachable Redis is a typed error at open", async () => {
    await assert.rejects(
      JobQueue.open({
        connection: "redis://127.0.0.1:1",
        dataDir: join(dir, "data"),
        resolveDataset,
      }),
      { code: "ASTROPILE_UNAVAILABLE" },
    );
  });
});
