// The writer lock (src/core/lock.ts) with real files and real processes: a second writer is
// refused or waits; a lock whose owner is gone (killed, pid reused, another host's heartbeat
// stopped) is taken over; takers racing for one stale lock never both win.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isAstroPileError } from "../../src/core/errors.ts";
import {
  acquireWriterLock,
  LOCK_FILE,
  type LockOwner,
  readWriterLock,
  type WriterLock,
} from "../../src/core/lock.ts";
import { hostToken, machineIdentity, processStartTime } from "../../src/core/process-owner.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHILD = join(import.meta.dirname, "lock-child.ts");
const work = tempDir();
let n = 0;
/** A new empty directory. */
function fresh(): string {
  const dir = join(work, `d${n++}`);
  mkdirSync(dir);
  return dir;
}

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves when a line matching `re` has been printed. */
  line(re: RegExp): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function child(job: object): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(job)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buf = "";
  let stderr = "";
  proc.stdout!.on("data", (d) => {
    buf += d;
    let at = buf.indexOf("\n");
    while (at >= 0) {
      const l = buf.slice(0, at);
      buf = buf.slice(at + 1);
      lines.push(l);
      for (const w of waiters.filter((w) => w.re.test(l))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
      at = buf.indexOf("\n");
    }
  });
  proc.stderr!.on("data", (d) => {
    stderr += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => proc.on("close", (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    proc,
    lines,
    exit,
    line(re) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exit.then((e) =>
          reject(new Error(`child ended (${e.code ?? e.signal}) before ${re}:\n${e.stderr}`)),
        );
      });
    },
  };
}

/** A lock file as another process would have written it. */
function writeLock(dir: string, owner: Partial<LockOwner>, ageMs = 0): void {
  const { bootId, pidNamespace } = machineIdentity();
  const full: LockOwner = {
    version: 1,
    token: `t${Math.random().toString(16).slice(2)}`,
    host: hostToken(),
    bootId,
    pidNamespace,
    pid: 1,
    startTime: null,
    command: "a test's writer",
    argv: "",
    since: new Date(Date.now() - ageMs).toISOString(),
    ...owner,
  };
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(full));
  const t = new Date(Date.now() - ageMs);
  utimesSync(join(dir, LOCK_FILE), t, t);
}

/** The pid of a process that has ended. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

async function locked(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isAstroPileError(err, "ASTROPILE_LOCKED"), `a LockedError, got ${String(err)}`);
    return err as Error;
  }
  assert.fail("the lock was granted");
}

describe("writer lock", () => {
  test("a second writer fails at once with a one-line LockedError naming the holder", async () => {
    const dir = fresh();
    const a = await acquireWriterLock(dir, { command: "first writer" });
    assert.ok(existsSync(join(dir, LOCK_FILE)), "the lock file is in the directory");
    const err = await locked(acquireWriterLock(dir, { command: "second writer" }));
    assert.match(err.message, /is locked by first writer \(pid \d+ on host [\w-]+, this process/);
    assert.match(err.message, /since \d{4}-\d\d-\d\dT/);
    assert.match(err.message, /--wait/);
    assert.ok(!err.message.includes("\n"), "one line");
    assert.deepEqual(readdirSync(dir), [LOCK_FILE], "the refused writer left nothing");
    const seen = await readWriterLock(dir);
    assert.equal(seen?.owner?.command, "first writer");
    await a.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)), "released: the lock file is gone");
    assert.equal(await readWriterLock(dir), null);
    const b = await acquireWriterLock(dir);
    await b.release();
  });

  test("directories the lock made are removed at release while empty; kept once written to, or when they were there", async () => {
    const base = fresh();
    // A command that fails before writing anything leaves no empty output (parents it made too).
    const made = join(base, "a", "b", "out");
    await (await acquireWriterLock(made)).release();
    assert.deepEqual(readdirSync(base), []);
    // Written to: kept.
    const used = join(base, "used");
    const lock = await acquireWriterLock(used);
    writeFileSync(join(used, "part.hdf5"), "x");
    await lock.release();
    assert.deepEqual(readdirSync(used), ["part.hdf5"]);
    // There before: kept even when empty.
    const there = join(base, "there");
    mkdirSync(there);
    await (await acquireWriterLock(there)).release();
    assert.ok(existsSync(there));
  });

  test("a writer waiting on a new directory gets the lock after the first removed it (released empty)", async () => {
    const dir = join(fresh(), "new-out");
    const a = await acquireWriterLock(dir, { command: "first writer" });
    let waiting: (h: unknown) => void = () => {};
    const told = new Promise((r) => {
      waiting = r;
    });
    const b = acquireWriterLock(dir, { wait: true, onWait: (h) => waiting(h) });
    await told;
    await a.release();
    const lock = await b;
    assert.ok(lock.held);
    assert.ok(existsSync(join(dir, LOCK_FILE)));
    await lock.release();
  });

  test("with wait, the second writer gets the lock when the first releases it", async () => {
    const dir = fresh();
    const a = await acquireWriterLock(dir, { command: "first writer" });
    let waiting: (h: unknown) => void = () => {};
    const told = new Promise((r) => {
      waiting = r;
    });
    let got: WriterLock | null = null;
    const b = acquireWriterLock(dir, { wait: true, onWait: (h) => waiting(h) }).then((l) => {
      got = l;
      return l;
    });
    const holder = (await told) as { owner: LockOwner };
    assert.equal(holder.owner.command, "first writer");
    assert.equal(got, null, "still waiting while the first holds it");
    await a.release();
    const lock = await b;
    assert.ok(lock.held);
    await lock.release();
  });

  test("with wait and a time limit, a writer gives up with a LockedError", async () => {
    const dir = fresh();
    const a = await acquireWriterLock(dir);
    const err = await locked(acquireWriterLock(dir, { wait: true, waitTimeoutMs: 200 }));
    assert.match(err.message, /gave up after waiting/);
    await a.release();
  });

  test("the lock of a process killed with SIGKILL is taken over at once", async () => {
    const dir = fresh();
    const c = child({ mode: "hold", dir });
    await c.line(/^won$/);
    const err = await locked(acquireWriterLock(dir));
    assert.match(err.message, new RegExp(`lock-child hold \\(pid ${c.proc.pid} `));
    c.proc.kill("SIGKILL");
    await c.exit;
    assert.ok(existsSync(join(dir, LOCK_FILE)), "kill -9 leaves the lock file");
    const lock = await acquireWriterLock(dir);
    assert.equal(lock.tookOver?.owner?.pid, c.proc.pid);
    assert.match(lock.tookOver!.reason, /is gone/);
    await lock.release();
  });

  test("a lock whose pid now belongs to another process (other start time) is taken over", async (t) => {
    if (processStartTime(process.pid) === null) return t.skip("no /proc here");
    const dir = fresh();
    const a = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      writeLock(dir, { pid: a.pid!, startTime: "1" });
      const lock = await acquireWriterLock(dir);
      assert.match(lock.tookOver!.reason, /now belongs to another process/);
      await lock.release();
      // The same pid with its real start time is a live owner.
      writeLock(dir, { pid: a.pid!, startTime: processStartTime(a.pid!) });
      await locked(acquireWriterLock(dir));
    } finally {
      a.kill("SIGKILL");
    }
  });

  test("a dead pid on this host is taken over", async () => {
    const dir = fresh();
    writeLock(dir, { pid: deadPid() });
    const lock = await acquireWriterLock(dir);
    assert.match(lock.tookOver!.reason, /on this host is gone/);
    await lock.release();
  });

  test("another host's lock: respected while its heartbeat is fresh, taken over when stale", async () => {
    const dir = fresh();
    writeLock(dir, { host: "node-elsewhere-7", pid: 4242, command: "build on a cluster node" });
    const err = await locked(acquireWriterLock(dir));
    assert.match(err.message, /build on a cluster node \(pid 4242 on host node-elsewhere-7/);
    assert.match(err.message, /taken over once its heartbeat is older than 2 min/);
    // Same host name, another boot (a rebooted or another machine): heartbeat rules too.
    writeLock(dir, { pid: deadPid(), bootId: "00000000-another-boot" });
    await locked(acquireWriterLock(dir));
    writeLock(dir, { host: "node-elsewhere-7", pid: 4242 }, 10 * 60_000);
    const lock = await acquireWriterLock(dir);
    assert.equal(lock.tookOver?.owner?.host, "node-elsewhere-7");
    assert.match(lock.tookOver!.reason, /no heartbeat for \d+ s/);
    await lock.release();
  });

  test("an unreadable lock file: respected while fresh (being written), taken over when old", async () => {
    const dir = fresh();
    writeLock(dir, {});
    writeFileSync(join(dir, LOCK_FILE), "");
    const err = await locked(acquireWriterLock(dir));
    assert.match(err.message, /a writer whose lock file cannot be read/);
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(dir, LOCK_FILE), old, old);
    const lock = await acquireWriterLock(dir);
    assert.equal(lock.tookOver?.owner, null);
    await lock.release();
  });

  test("the holder refreshes its heartbeat and finds out when its lock was replaced", async () => {
    const dir = fresh();
    const lock = await acquireWriterLock(dir, { heartbeatMs: 20 });
    const path = join(dir, LOCK_FILE);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(path, old, old);
    while (Date.now() - statSync(path).mtimeMs > 60_000)
      await new Promise((r) => setTimeout(r, 10));
    lock.assertHeld();
    // Another writer's lock renamed over ours (what a takeover does).
    writeFileSync(join(dir, "other"), '{"not":"ours"}');
    renameSync(join(dir, "other"), path);
    assert.throws(() => lock.assertHeld(), /lost the lock/);
    assert.equal(lock.held, false);
    await lock.release();
    assert.equal(readFileSync(path, "utf8"), '{"not":"ours"}', "release leaves the other's lock");
  });

  test("the new holder removes leftovers of earlier takeovers", async () => {
    const dir = fresh();
    writeLock(dir, { pid: deadPid() });
    writeFileSync(join(dir, `${LOCK_FILE}.takeover-0123456789abcdef.0`), "");
    writeFileSync(join(dir, `${LOCK_FILE}.deadbeefdeadbeefdeadbeef.tmp`), "{}");
    const lock = await acquireWriterLock(dir);
    assert.deepEqual(readdirSync(dir), [LOCK_FILE]);
    await lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  test("released when the process ends without releasing, and on SIGTERM; not on SIGKILL", async () => {
    const dir = fresh();
    const a = child({ mode: "exit", dir });
    await a.line(/^won$/);
    assert.equal((await a.exit).code, 0);
    assert.ok(!existsSync(join(dir, LOCK_FILE)), "released at exit");
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const b = child({ mode: "hold", dir });
      await b.line(/^won$/);
      b.proc.kill(signal);
      const e = await b.exit;
      assert.equal(e.signal, signal, `ended by the signal it got: ${e.stderr}`);
      assert.ok(!existsSync(join(dir, LOCK_FILE)), `released on ${signal}`);
    }
  });

  test("in one process, 8 writers racing for a stale lock: exactly one wins, 40 rounds", async () => {
    const dir = fresh();
    for (let round = 0; round < 40; round++) {
      if (round % 2 === 0) writeLock(dir, { pid: deadPid() });
      else writeLock(dir, { host: "gone-node", pid: 7 }, 3600_000);
      const tries = await Promise.allSettled(
        Array.from({ length: 8 }, () => acquireWriterLock(dir)),
      );
      const won = tries.filter((t) => t.status === "fulfilled");
      assert.equal(won.length, 1, `round ${round}: ${won.length} writers got the lock`);
      for (const t of tries)
        if (t.status === "rejected") assert.ok(isAstroPileError(t.reason, "ASTROPILE_LOCKED"));
      await (won[0] as PromiseFulfilledResult<WriterLock>).value.release();
      assert.deepEqual(readdirSync(dir), [], `round ${round}: nothing left`);
    }
  });

  test("4 processes racing for a stale lock: exactly one wins, 25 rounds", async () => {
    const dir = fresh();
    const sync = fresh();
    const rounds = 25;
    const kids = Array.from({ length: 4 }, () => child({ mode: "race", dir, sync, rounds }));
    try {
      await Promise.all(kids.map((k) => k.line(/^ready$/)));
      for (let r = 0; r < rounds; r++) {
        if (r % 3 === 0) writeLock(dir, { pid: deadPid() });
        else if (r % 3 === 1) writeLock(dir, { host: "gone-node", pid: 7 }, 3600_000);
        else {
          writeFileSync(join(dir, LOCK_FILE), "{");
          const old = new Date(Date.now() - 3600_000);
          utimesSync(join(dir, LOCK_FILE), old, old);
        }
        writeFileSync(join(sync, `go-${r}`), "");
        const results = await Promise.all(
          kids.map((k) => k.line(new RegExp(`^${r} (won|locked)$`))),
        );
        const winners = results.filter((l) => l.endsWith("won")).length;
        assert.equal(winners, 1, `round ${r}: ${winners} processes got the lock`);
        writeFileSync(join(sync, `end-${r}`), "");
        await Promise.all(kids.map((k) => k.line(new RegExp(`^${r} done$`))));
        assert.deepEqual(readdirSync(dir), [], `round ${r}: nothing left`);
      }
      for (const k of kids) assert.equal((await k.exit).code, 0);
    } finally {
      for (const k of kids) k.proc.kill("SIGKILL");
    }
  });
});
