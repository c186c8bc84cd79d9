// `astropile serve --workers N` as real processes (node:cluster) on 127.0.0.1, port 0: two workers
// answer what one process (serveDatasets with one worker, the code of `--workers 1`) answers,
// byte for byte; fresh connections are spread over both (each answer names its process in
// X-AstroPile-Worker); a revoked key is refused by both; with --redis, a job runs once and every
// worker sees it and serves its result; a worker killed is replaced while the service keeps
// answering, and one death more than --max-restarts stops the server with exit code 1 and no
// worker left; SIGTERM to the primary exits 0 and leaves no worker; --uploads is refused with
// more than one worker. Two clusters in all (each worker start costs seconds).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KeyStore } from "../../src/server/keys.ts";
import { type RunningService, serveDatasets } from "../../src/server/serve.ts";
import { SERVER_HEAP_FLOOR_MIB } from "../../src/server/serving-process.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { type RedisServer, redisSkip, startTestRedis } from "../helpers/redis.ts";
import {
  commandLine,
  isAlive,
  type ServeProcess,
  startServeProcess,
  stopServeProcess,
} from "../helpers/serve-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { writeHsc } from "./fixtures.ts";

const dir = tempDir();
const keysFile = join(dir, "keys.json");
let root: string;
let one: RunningService;
let two: ServeProcess;
let other: ServeProcess;
let redis: RedisServer | undefined;
const skipJobs = redisSkip();
let readKey: string;
let writeKey: string;

interface Answer {
  status: number;
  worker: number | null;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** GET on a new TCP connection (the cluster hands out connections, not requests). */
function getFresh(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers, timeout: 5000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const w = res.headers["x-astropile-worker"];
        resolve({
          status: res.statusCode ?? 0,
          worker: typeof w === "string" ? Number(w) : null,
          body: Buffer.concat(parts),
          headers: res.headers,
        });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Fresh GETs until `count` distinct workers answered (at most `tries`); the answers by worker. */
async function fromWorkers(
  url: string,
  count: number,
  tries = 20,
  headers: Record<string, string> = {},
): Promise<Map<number, Answer>> {
  const seen = new Map<number, Answer>();
  for (let i = 0; i < tries && seen.size < count; i++) {
    const a = await getFresh(url, headers);
    assert.ok(a.worker !== null, "a cluster answer names its worker");
    if (!seen.has(a.worker)) seen.set(a.worker, a);
  }
  assert.equal(seen.size, count, `${count} workers answered within ${tries} requests`);
  return seen;
}

/** The exit code of `child`, or a failure when it has not exited within `ms`. */
function exitOf(child: ServeProcess["child"], ms = 30_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  root = await writeHsc(dir, 600);
  const keys = await KeyStore.open(keysFile);
  readKey = (await keys.create({ name: "reader", scope: "read" })).key;
  writeKey = (await keys.create({ name: "writer", scope: "write" })).key;
  if (!skipJobs) redis = await startTestRedis();
  const jobs = redis ? ["--redis", redis.url, "--jobs-dir", join(dir, "jobs")] : [];
  [one, two, other] = await Promise.all([
    serveDatasets({ locations: [root], port: 0, keysFile, workers: 1 }),
    startServeProcess(
      cliArgs(
        "serve",
        root,
        ...["--port", "0", "--keys", keysFile, "--workers", "2", "--max-restarts", "1", ...jobs],
      ),
    ),
    startServeProcess(cliArgs("serve", root, "--port", "0", "--workers", "2", "--rate-limit", "3")),
  ]);
});
after(async () => {
  await Promise.all([one?.close(), stopServeProcess(two?.child), stopServeProcess(other?.child)]);
  await redis?.stop();
});

test("two workers answer the catalog, rows and a cutout as one process does, byte for byte", async () => {
  assert.equal(two.stderr(), "", "nothing on stderr");
  const ids = JSON.parse(
    (
      await getFresh(`${one.url}/api/v1/datasets/hsc/rows?columns=object_id&limit=3`)
    ).body.toString(),
  ).rows.map((r: { object_id: string }) => r.object_id) as string[];
  const paths = [
    "/api/v1/datasets/hsc/rows?offset=7&limit=25",
    "/api/v1/datasets/hsc/rows?offset=0&limit=40&format=csv",
    `/api/v1/datasets/hsc/examples/${ids[2]}/image.png?band=r&stretch=asinh`,
    `/api/v1/datasets/hsc/examples/${ids[1]}?format=json`,
  ];
  for (const path of paths) {
    const single = await getFresh(`${one.url}${path}`);
    assert.equal(single.status, 200, path);
    assert.equal(single.worker, null, "one process does not name itself");
    for (const [pid, a] of await fromWorkers(`${two.url}${path}`, 2)) {
      assert.equal(a.status, 200, `${path} from worker ${pid}`);
      assert.ok(a.body.equals(single.body), `${path}: worker ${pid} answers the same bytes`);
      assert.equal(a.headers["content-type"], single.headers["content-type"], path);
      assert.equal(a.headers.etag, single.headers.etag, `${path}: same ETag`);
    }
  }
  // The catalog: the same entries (each process notes when it added a dataset: left out).
  const entries = (a: Answer) =>
    JSON.parse(a.body.toString()).datasets.map(({ addedAt: _, ...e }: { addedAt: string }) => e);
  const want = entries(await getFresh(`${one.url}/api/v1/datasets`));
  assert.equal(want.length, 1);
  for (const a of (await fromWorkers(`${two.url}/api/v1/datasets`, 2)).values())
    assert.deepEqual(entries(a), want);
});

test("fresh connections are spread over both workers; a key revoked is refused by both", async () => {
  const auth = { authorization: `Bearer ${readKey}` };
  const url = `${two.url}/api/v1/datasets/hsc`;
  for (const a of (await fromWorkers(url, 2, 6, auth)).values()) assert.equal(a.status, 200);
  const store = await KeyStore.open(keysFile);
  await store.revoke(readKey);
  // Each worker re-reads the keys file within a second of a change.
  await new Promise((r) => setTimeout(r, 1100));
  for (const [pid, a] of await fromWorkers(url, 2, 6, auth))
    assert.equal(a.status, 401, `worker ${pid} refuses the revoked key`);
});

test("a job runs once; both workers report it and serve its result", {
  skip: skipJobs,
}, async () => {
  const posted = await fetch(`${two.url}/api/v1/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` },
    body: JSON.stringify({ kind: "export", dataset: "hsc", to: "csv", columns: ["object_id"] }),
  });
  assert.equal(posted.status, 202, await posted.clone().text());
  const id = ((await posted.json()) as { id: string }).id;
  const status = `${two.url}/api/v1/jobs/${id}`;
  await until("the job is done", async () => {
    const s = JSON.parse((await getFresh(status)).body.toString());
    assert.ok(!["failed", "cancelled"].includes(s.state), JSON.stringify(s));
    return s.state === "done";
  });
  const results: Buffer[] = [];
  for (const [pid, a] of await fromWorkers(status, 2)) {
    const s = JSON.parse(a.body.toString());
    assert.equal(s.state, "done", `worker ${pid} sees the job done`);
    assert.equal(s.attempts, 1, "run once");
  }
  for (const [pid, a] of await fromWorkers(`${status}/result`, 2)) {
    assert.equal(a.status, 200, `worker ${pid} serves the result`);
    results.push(a.body);
  }
  assert.ok(results[0]!.equals(results[1]!));
  assert.equal(results[0]!.toString().trim().split("\n").length, 601, "a header, 600 rows");
});

test("a worker killed is replaced, and the service answers all along", async () => {
  const first = [...(await fromWorkers(`${two.url}/api/v1/datasets`, 2)).keys()];
  const victim = first[0]!;
  process.kill(victim, "SIGKILL");
  // Requests are answered (by the survivor, then by either). A connection the primary was
  // handing to the worker as it died is lost (node:cluster waits for the dead worker's
  // acknowledgement): at most one, cut by the client's timeout.
  const seen = new Set<number>();
  let lost = 0;
  await until(
    "a replacement worker answers",
    async () => {
      const a = await getFresh(`${two.url}/api/v1/datasets/hsc/rows?limit=2`).catch(() => null);
      if (!a) {
        lost++;
        return false;
      }
      assert.equal(a.status, 200);
      seen.add(a.worker!);
      return [...seen].some((p) => !first.includes(p));
    },
    30_000,
  );
  assert.ok(lost <= 1, `${lost} requests lost`);
  assert.ok(!seen.has(victim), "the killed worker answered nothing");
  assert.match(
    two.stderr(),
    new RegExp(`worker ${victim} exited \\(signal SIGKILL\\); started worker \\d+ in its place`),
  );
  assert.match(two.stderr(), /1 of 1 restarts allowed within 60 s/);
  assert.doesNotMatch(two.stderr(), /ap_[0-9a-f]{16}_/, "no key in the log");
});

test("one death more than --max-restarts within the window stops the server: exit code 1, no worker left", async () => {
  const pids = [...(await fromWorkers(`${two.url}/api/v1/datasets`, 2)).keys()];
  const exited = exitOf(two.child);
  process.kill(pids[0]!, "SIGKILL");
  assert.equal(await exited, 1, two.stderr());
  assert.match(
    two.stderr(),
    /workers died 2 times within 60 s \(at most 1 are replaced\): stopping/,
  );
  await until("every worker is gone", () => !pids.some(isAlive));
});

test("the rate limit is divided between the workers: each allows ceil(3 / 2) a minute", async () => {
  const statuses = new Map<number, number[]>();
  for (let i = 0; i < 8; i++) {
    const a = await getFresh(`${other.url}/api/v1/datasets`);
    statuses.set(a.worker!, [...(statuses.get(a.worker!) ?? []), a.status]);
  }
  assert.equal(statuses.size, 2, "both workers answered");
  for (const [pid, got] of statuses) {
    assert.equal(got.filter((s) => s === 200).length, 2, `worker ${pid}: ${got.join(", ")}`);
    assert.ok(
      got.slice(2).every((s) => s === 429),
      `worker ${pid} refuses past its share: ${got}`,
    );
  }
});

test("SIGTERM to the primary exits 0 and leaves no worker", async () => {
  const pids = [...(await fromWorkers(`${other.url}/api/v1/datasets`, 2)).keys()];
  // Forked with the heap floor of a serving process (server/serving-process.ts).
  for (const pid of pids)
    assert.ok(
      commandLine(pid).includes(`--initial-old-space-size=${SERVER_HEAP_FLOOR_MIB}`),
      `worker ${pid}: ${commandLine(pid).join(" ")}`,
    );
  const exited = exitOf(other.child);
  other.child.kill("SIGTERM");
  assert.equal(await exited, 0, other.stderr());
  assert.match(other.stderr(), /SIGTERM: stopping/);
  for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
});

test("--uploads with more than one worker is refused, saying why", () => {
  const r = spawnSync(
    process.execPath,
    cliArgs("serve", root, "--port", "0", "--workers", "2", "--uploads", join(dir, "up")),
    { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--uploads needs --workers 1 \(got 2\)/);
  assert.match(r.stderr, /publish/);
});
