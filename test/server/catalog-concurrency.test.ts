// Several processes on one catalog file: writers adding at once all land (the loser of a race
// for one name gets DatasetExistsError), readers never see a broken catalog, a process holding
// the file makes others wait (or fail with LockedError after their timeout), and a writer killed
// mid-way leaves a catalog that opens with every entry it committed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isAstroPileError } from "../../src/core/errors.ts";
import { DatasetCatalog } from "../../src/server/catalog.ts";
import { ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { type FixtureDataset, writeFixtureDataset } from "./catalog-fixture.ts";

const dir = tempDir("astropile-catalog-conc-");
const WRITER = join(import.meta.dirname, "catalog-writer.ts");
let dataset: FixtureDataset;

before(async () => {
  dataset = await writeFixtureDataset(dir, "hsc", "catalog", 120, 3);
});

interface Child {
  output: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  kill(): void;
  /** Sends a line on stdin (the go signal of add and read). */
  go(): void;
  /** Resolves when the child printed `line`. */
  printed(line: string): Promise<void>;
}

function child(...args: string[]): Child {
  const p = spawn(
    process.execPath,
    ["--import", "h5wasm/node", "--import", "tsx", WRITER, ...args],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  // A test that fails while a child waits for its go signal must not leave it running: the
  // file's process would never end.
  after(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<[string, () => void]> = [];
  p.stdout.on("data", (c) => {
    stdout += c;
    for (const [line, done] of waiters) if (stdout.includes(line)) done();
  });
  p.stderr.on("data", (c) => {
    stderr += c;
  });
  const output = new Promise<{
    code: number | null;
    signal: string | null;
    stdout: string;
    stderr: string;
  }>((resolve) => p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    output,
    kill: () => p.kill("SIGKILL"),
    go: () => p.stdin.end("go\n"),
    // Rejects when the child ends without printing it (it failed to open the catalog).
    printed: (line) =>
      new Promise((resolve, reject) => {
        if (stdout.includes(line)) resolve();
        else waiters.push([line, resolve]);
        void output.then((o) =>
          reject(new Error(`child ended (${o.code}) before "${line}": ${o.stderr}`)),
        );
      }),
  };
}

test("two processes adding at once: every entry lands, one wins the shared name, readers see whole catalogs", async () => {
  const file = join(dir, "both.duckdb");
  const a = child("add", file, "a", "6", dataset.root);
  const b = child("add", file, "b", "6", dataset.root);
  const r = child("read", file, "15");
  // All three have opened the catalog: start them together.
  await Promise.all([a, b, r].map((c) => c.printed("ready")));
  for (const c of [a, b, r]) c.go();
  const [ra, rb, rr] = await Promise.all([a.output, b.output, r.output]);
  for (const x of [ra, rb, rr]) assert.equal(x.code, 0, x.stderr);
  const last = (text: string) => text.trim().split("\n").pop() ?? "";
  const outA = JSON.parse(last(ra.stdout)) as { added: string[]; shared: string };
  const outB = JSON.parse(last(rb.stdout)) as { added: string[]; shared: string };
  assert.deepEqual([outA.shared, outB.shared].sort(), ["ASTROPILE_DATASET_EXISTS", "added"]);
  const catalog = await DatasetCatalog.open(file);
  const entries = await catalog.list();
  assert.deepEqual(
    entries.map((e) => e.name),
    [...outA.added, ...outB.added, "shared"].sort(),
  );
  for (const e of entries) {
    assert.equal(e.rows, dataset.rows);
    assert.equal(e.location, dataset.root);
    assert.match(e.description ?? "", /^by [ab]$/);
  }
  const winner = outA.shared === "added" ? "a" : "b";
  assert.equal((await catalog.get("shared"))?.description, `by ${winner}`);
  // The reader's listings only grew (named entries, "shared" excluded by q).
  const counts = (JSON.parse(last(rr.stdout)) as { counts: number[] }).counts;
  assert.equal(counts.length, 15);
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], `${counts}`);
  catalog.close();
});

test("a process holding the file: others wait for it, or fail with LockedError after lockTimeoutMs", async () => {
  const file = join(dir, "held.duckdb");
  (await DatasetCatalog.open(file)).close();
  const holder = child("hold", file);
  await holder.printed("holding");
  await assert.rejects(DatasetCatalog.open(file, { lockTimeoutMs: 300 }), (e) => {
    assert.ok(isAstroPileError(e, "ASTROPILE_LOCKED"));
    assert.ok((e as Error).message.includes(file));
    return true;
  });
  // With the default timeout, the same call waits for the holder and then succeeds.
  const waiting = DatasetCatalog.open(file);
  await new Promise((r) => setTimeout(r, 300));
  holder.go();
  const catalog = await waiting;
  await catalog.add("after-wait", dataset.root);
  assert.equal((await holder.output).code, 0);
  assert.equal((await catalog.list()).length, 1);
  catalog.close();
});

test("a writer killed mid-way: the catalog opens with whole entries only", async () => {
  const file = join(dir, "killed.duckdb");
  const w = child("add", file, "k", "200", dataset.root);
  await w.printed("ready");
  w.go();
  // Let it commit a few entries, then kill it wherever it is.
  const catalog = await DatasetCatalog.open(file);
  for (let i = 0; i < 200 && (await catalog.list()).length < 3; i++)
    await new Promise((r) => setTimeout(r, 50));
  w.kill();
  const out = await w.output;
  assert.equal(out.signal, "SIGKILL");
  // A read-only reader first (it may find the killed writer's WAL), then a writer.
  const seen = await catalog.list();
  assert.ok(seen.length >= 3);
  const again = await DatasetCatalog.open(file);
  const entries = await again.list();
  assert.ok(entries.length >= 3, `${entries.length} entries`);
  assert.deepEqual(entries, seen);
  for (const e of entries) {
    assert.equal(e.rows, dataset.rows);
    assert.ok(e.coverage.pixels.length > 0);
  }
  // Still writable.
  await again.add("after-kill", dataset.root);
  assert.equal((await again.list()).length, entries.length + 1);
  catalog.close();
  again.close();
});
