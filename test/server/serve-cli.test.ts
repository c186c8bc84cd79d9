// `astropile serve` and `astropile keys` as processes: the served files read by the remote reader
// (openDataset over HTTP byte ranges; the server runs in another process because the reader
// blocks its own thread while a read is under way) equal the local dataset; keys created, listed
// and revoked by the CLI work against the running server; SIGTERM stops it with exit code 0.
import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openDataset } from "../../src/dataset/dataset.ts";
import { SERVER_HEAP_FLOOR_MIB, serverNodeFlags } from "../../src/server/serving-process.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { childPids, commandLine, isAlive, startServeProcess } from "../helpers/serve-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, writeHsc } from "./fixtures.ts";

const dir = tempDir();
const cacheDir = tempDir();
let root: string;
let child: ChildProcess;
let url: string;
const keysFile = join(dir, "keys.json");
let stderr: () => string;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, cliArgs(...args), { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  root = await writeHsc(dir);
  const started = await startServeProcess(
    cliArgs("serve", root, "--port", "0", "--keys", keysFile, "--cors", "https://viewer.example"),
  );
  ({ child, url } = started);
  stderr = started.stderr;
});
after(() => {
  if (child.exitCode === null) child.kill("SIGKILL");
});

test("openDataset over the files route reads the served dataset identical to the local one", async () => {
  const local = await openDataset(root);
  const remote = await openDataset(`${url}/api/v1/datasets/hsc/files/`, { remote: { cacheDir } });
  assert.equal(remote.length, local.length);
  assert.deepEqual(remote.features, local.features);
  for (const i of [0, 400, 1999]) assert.deepEqual(await remote.get(i), await local.get(i));
  const id = (await local.get(1234)).object_id as bigint;
  assert.deepEqual(await remote.getById(id), await local.getById(id));
  const rows = async (d: typeof local) => {
    const out: unknown[] = [];
    for await (const b of d
      .coneSearch(80, 36, 7200)
      .select(["object_id", "ra", "image_array"])
      .batches({ size: 64 }))
      out.push(b);
    return out;
  };
  assert.deepEqual(await rows(remote), await rows(local));
});

test("keys made by the CLI work on the running server; revoked ones stop", async () => {
  const made = cli("keys", "create", "--scope", "read", "--name", "ci reader", "--keys", keysFile);
  assert.equal(made.status, 0, made.stderr);
  const key = made.stdout.trim();
  assert.match(key, /^ap_[0-9a-f]{16}_[0-9a-f]{64}$/);
  const listed = cli("keys", "ls", "--keys", keysFile, "--json");
  const keys = JSON.parse(listed.stdout);
  assert.equal(keys.length, 1);
  assert.equal(keys[0].name, "ci reader");
  assert.deepEqual(keys[0].scopes, ["read"]);
  assert.ok(!listed.stdout.includes(key.split("_")[2]!));
  const withKey = { headers: { authorization: `Bearer ${key}` } };
  assert.equal((await call(`${url}/api/v1/datasets`, withKey)).status, 200);
  assert.equal(cli("keys", "revoke", keys[0].id, "--keys", keysFile).status, 0);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await call(`${url}/api/v1/datasets`, withKey)).status, 401);
});

test("CORS answers the allowed origin only", async () => {
  const ok = await fetch(`${url}/api/v1/datasets`, {
    headers: { origin: "https://viewer.example" },
  });
  assert.equal(ok.headers.get("access-control-allow-origin"), "https://viewer.example");
  const other = await fetch(`${url}/api/v1/datasets`, {
    headers: { origin: "https://evil.example" },
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

const FLOOR = `--initial-old-space-size=${SERVER_HEAP_FLOOR_MIB}`;

/** Waits until `ok()` holds, checking every 50 ms for up to `ms`. */
async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("serverNodeFlags: the heap floor unless the process sets its own initial heap", () => {
  assert.deepEqual(serverNodeFlags(["--import", "tsx"]), [FLOOR]);
  assert.deepEqual(serverNodeFlags(["--initial-old-space-size=64"]), []);
  assert.deepEqual(serverNodeFlags(["--initial_heap_size=300"]), []);
  assert.deepEqual(serverNodeFlags(["--max-old-space-size=4096"]), [FLOOR]);
});

/** The child processes of `pid` that run `astropile serve` (tsx may run esbuild beside them). */
function serveChildren(pid: number): number[] {
  return childPids(pid).filter((p) => commandLine(p).includes("serve"));
}

test("the server runs in a child node given the heap floor; this process only waits", () => {
  assert.ok(!commandLine(child.pid!).includes(FLOOR), "the command itself was started plain");
  const kids = serveChildren(child.pid!);
  assert.equal(kids.length, 1, `one child: ${kids}`);
  const line = commandLine(kids[0]!);
  assert.ok(line.includes(FLOOR), line.join(" "));
  assert.deepEqual(line.slice(-2), ["--cors", "https://viewer.example"], "the same arguments");
});

test("SIGTERM stops the server with exit code 0", async () => {
  const server = serveChildren(child.pid!)[0]!;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr());
  assert.match(stderr(), /SIGTERM: stopping/);
  assert.equal(isAlive(server), false, "the server process is gone");
});

test("the command's process killed outright: its server stops too and frees the port", async () => {
  const other = await startServeProcess(cliArgs("serve", root, "--port", "0"));
  const server = serveChildren(other.child.pid!)[0]!;
  assert.equal((await fetch(`${other.url}/api/v1/datasets`)).status, 200);
  other.child.kill("SIGKILL");
  await until("the server process is gone", () => !isAlive(server));
  assert.match(other.stderr(), /the parent process exited: stopping/);
  await assert.rejects(fetch(`${other.url}/api/v1/datasets`), "nothing listens any more");
});
