// One writer per output at a time. A writer takes `<out>/.astropile.lock` before it touches
// anything else in the output, and removes it when done (success, failure, exit, SIGINT/TERM/HUP).
//
//   - The lock file is created whole (written to a temp file, then hard-linked into place, which
//     fails when it exists, like O_EXCL) and holds its owner as JSON: host, pid, the process's
//     start time, the kernel's boot id and pid namespace, a random token, the command, since when.
//   - The holder rewrites the same bytes every few seconds (a heartbeat: it moves the mtime) and
//     checks that the file is still its own (same inode).
//   - A lock whose owner is gone is taken over. Same machine (same host, boot id and pid
//     namespace): the owner is gone when its pid is, or when the pid now belongs to a process
//     that started at another time. Another machine (a shared file system): when the heartbeat is
//     older than `staleMs` (clocks of the machines must agree to well within that).
//   - Takeover is a compare-and-swap built from atomic steps, so two takers never both win:
//       1. create `.astropile.lock.takeover-<id>.<n>` with O_EXCL, <id> naming the stale lock
//          (its token): one claimant per stale lock; a claim whose own owner died is passed over
//          by creating the next <n>;
//       2. re-read the lock: still the same stale file (inode and token)? else start again;
//       3. write our lock to a temp file, rename it over the lock, check the lock is our inode;
//       4. remove the claim. A late claimant of the same stale lock fails step 2 forever after,
//          because tokens are never reused.
//   - The holder checks (`assertHeld`) that the lock is still its own before it publishes (a
//     manifest), so a writer whose heartbeat stalled long enough to be taken over fails instead
//     of overwriting the new holder's work.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, rmdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isMainThread } from "node:worker_threads";
import { LockedError, NotFoundError, WriteError } from "./errors.ts";
import { hostToken, machineIdentity, pidExists, processStartTime } from "./process-owner.ts";

/** Name of the lock file in an output directory. */
export const LOCK_FILE = ".astropile.lock";
/** A lock on another machine whose heartbeat is older than this is stale (default). */
export const DEFAULT_STALE_MS = 120_000;
/** How often the holder refreshes its lock (default). */
export const DEFAULT_HEARTBEAT_MS = 5_000;
const MAX_POLL_MS = 1_000;

/** Who holds a lock: what the lock file records. */
export interface LockOwner {
  version: 1;
  /** Random, new for every acquisition. */
  token: string;
  /** Host name (reduced to [A-Za-z0-9-]). */
  host: string;
  /** Kernel boot id (Linux), to compare pids only within one boot of one machine. */
  bootId: string | null;
  /** Pid namespace (Linux), to compare pids only within one container. */
  pidNamespace: string | null;
  pid: number;
  /** Start time of the process (clock ticks since boot, Linux): tells a reused pid apart. */
  startTime: string | null;
  /** What holds the lock, e.g. "build pdr3_dud" or "xmatch --out". */
  command: string;
  /** The process's command line (script and arguments, shortened). */
  argv: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
}

export interface WriterLockOptions {
  /** Wait until the lock is free instead of failing at once with a LockedError (default false). */
  wait?: boolean;
  /** With `wait`: give up with a LockedError after this many milliseconds (default: no limit). */
  waitTimeoutMs?: number;
  /** A lock held on another machine is stale when its heartbeat is older than this (ms). */
  staleMs?: number;
  /** How often the holder refreshes the lock (ms). */
  heartbeatMs?: number;
  /** What takes the lock, recorded in it and shown to other writers (e.g. "build pdr3_dud"). */
  command?: string;
  /** Create the directory when it does not exist (default true); false: a NotFoundError. */
  create?: boolean;
  /** Called once, when a writer with `wait` starts waiting, with what holds the lock. */
  onWait?: (holder: LockHolder) => void;
}

/** A lock as another writer sees it. */
export interface LockHolder {
  /** The lock file. */
  path: string;
  /** Its owner, or null when the file cannot be read as a lock (being written, damaged). */
  owner: LockOwner | null;
  /** Time since the last heartbeat (from the file's mtime). */
  heartbeatAgeMs: number;
}

interface Seen {
  ino: bigint;
  mtimeMs: number;
  owner: LockOwner | null;
}

const held = new Set<WriterLock>();

/** The lock of one output directory, held by this process until `release()`. */
export class WriterLock {
  /** The output directory (absolute). */
  readonly dir: string;
  /** The lock file. */
  readonly path: string;
  readonly owner: LockOwner;
  /** The stale lock this one replaced (its owner, null when unreadable) and why it was stale. */
  readonly tookOver: { owner: LockOwner | null; reason: string } | null;
  private readonly content: Buffer;
  private handle: FileHandle | null;
  private readonly ino: bigint;
  private timer: ReturnType<typeof setInterval> | null = null;
  private beating: Promise<void> | null = null;
  private lost: string | null = null;
  /** The first directory taking the lock created (the output or a parent), else null. */
  private readonly created: string | null;

  /** @internal */
  constructor(
    dir: string,
    owner: LockOwner,
    content: Buffer,
    handle: FileHandle,
    ino: bigint,
    tookOver: WriterLock["tookOver"],
    heartbeatMs: number,
    created: string | null = null,
  ) {
    this.created = created;
    this.dir = dir;
    this.path = join(dir, LOCK_FILE);
    this.owner = owner;
    this.content = content;
    this.handle = handle;
    this.ino = ino;
    this.tookOver = tookOver;
    this.timer = setInterval(() => {
      this.beating ??= this.beat().finally(() => {
        this.beating = null;
      });
    }, heartbeatMs);
    this.timer.unref();
  }

  /** True until released, or until the lock was found taken over. */
  get held(): boolean {
    return this.handle !== null && this.lost === null;
  }

  /**
   * Throws a LockedError unless the lock file is still this lock (checked now, on disk). Writers
   * call it before publishing (a manifest), so a writer whose lock was taken over publishes
   * nothing.
   */
  assertHeld(): void {
    if (this.handle === null) throw new LockedError(`the lock of ${this.dir} was released`);
    if (this.lost === null) {
      try {
        if (statSync(this.path, { bigint: true }).ino !== this.ino)
          this.lost = "another writer replaced the lock file";
      } catch {
        this.lost = "the lock file was removed";
      }
    }
    if (this.lost !== null) {
      throw new LockedError(
        `lost the lock of ${this.dir} (${this.lost}): another writer may be writing there; nothing more is published by this one`,
        { file: this.path },
      );
    }
  }

  /** Removes the lock file (if it is still this lock). Safe to call more than once. */
  async release(): Promise<void> {
    const handle = this.stop();
    if (!handle) return;
    await this.beating?.catch(() => undefined);
    try {
      if ((await stat(this.path, { bigint: true })).ino === this.ino) await unlink(this.path);
    } catch {
      // Gone already.
    }
    await handle.close().catch(() => undefined);
    this.removeCreatedIfEmpty();
  }

  /** @internal Release from an exit or signal handler. */
  releaseSync(): void {
    const handle = this.stop();
    if (!handle) return;
    try {
      if (statSync(this.path, { bigint: true }).ino === this.ino) unlinkSync(this.path);
    } catch {
      // Gone already.
    }
    try {
      closeSync(handle.fd);
    } catch {
      // Closed already.
    }
    this.removeCreatedIfEmpty();
  }

  /**
   * A command that failed before writing anything leaves no empty output directory behind: the
   * directories the lock created are removed if they are still empty (rmdir refuses otherwise,
   * so nothing written, and no other writer's lock, is ever removed).
   */
  private removeCreatedIfEmpty(): void {
    if (this.created === null) return;
    for (let d = this.dir; ; d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty (or gone): keep it and its parents
      }
      if (d === this.created || dirname(d) === d) return;
    }
  }

  private stop(): FileHandle | null {
    const handle = this.handle;
    this.handle = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    unregister(this);
    return handle;
  }

  private async beat(): Promise<void> {
    const handle = this.handle;
    if (!handle || this.lost !== null) return;
    try {
      // Same bytes, so a reader never sees a torn lock; the write moves the mtime (the file
      // server's clock on NFS).
      await handle.write(this.content, 0, this.content.length, 0);
    } catch {
      // A failed heartbeat only makes the lock look older to other machines.
    }
    try {
      if ((await stat(this.path, { bigint: true })).ino !== this.ino)
        this.lost = "another writer replaced the lock file";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") this.lost = "the lock file was removed";
    }
  }
}

/**
 * Takes the writer lock of `dir` (created unless `create: false`): fails at once with a
 * LockedError naming the holder when another live writer has it, or with `wait` polls (every
 * 0.1 s growing to 1 s) until it is free. A lock whose owner is gone is taken over (see the top of
 * this file). Leftovers of earlier takeovers are removed. Release it with `release()`; it is also
 * released when the process exits or is stopped by SIGINT, SIGTERM or SIGHUP.
 */
export async function acquireWriterLock(
  dir: string,
  options: WriterLockOptions = {},
): Promise<WriterLock> {
  const root = resolve(dir);
  if (options.create === false) {
    const st = await stat(root).catch(() => null);
    if (!st?.isDirectory()) throw new NotFoundError(`no such directory: ${root}`);
  }
  let created: string | null = null;
  if (options.create !== false) {
    created =
      (await mkdir(root, { recursive: true }).catch((e: Error) => {
        throw new WriteError(`cannot create ${root}: ${e.message}`, { file: root }, { cause: e });
      })) ?? null;
  }
  const path = join(root, LOCK_FILE);
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const owner = newOwner(options.command ?? "a writer");
  const content = Buffer.from(`${JSON.stringify(owner, null, 1)}\n`);
  const started = Date.now();
  let pollMs = 100;
  let told = false;
  for (;;) {
    const got = await tryAcquire(path, owner, content, staleMs);
    if ("handle" in got) {
      const ino = (await got.handle.stat({ bigint: true })).ino;
      const lock = new WriterLock(
        root,
        owner,
        content,
        got.handle,
        ino,
        got.tookOver,
        options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        created,
      );
      register(lock);
      await removeLockLeftovers(root, owner.token);
      await testHold();
      return lock;
    }
    const waited = Date.now() - started;
    if (!options.wait) throw lockedError(root, got.holder, staleMs);
    if (options.waitTimeoutMs !== undefined && waited >= options.waitTimeoutMs)
      throw lockedError(root, got.holder, staleMs, waited);
    if (!told) {
      told = true;
      options.onWait?.(got.holder);
    }
    const left =
      options.waitTimeoutMs === undefined ? pollMs : Math.max(1, options.waitTimeoutMs - waited);
    await new Promise((r) => setTimeout(r, Math.min(pollMs, left)));
    pollMs = Math.min(MAX_POLL_MS, Math.round(pollMs * 1.5));
  }
}

/** What holds the lock of `dir` now, or null when it is free. Reads only. */
export async function readWriterLock(dir: string): Promise<LockHolder | null> {
  const path = join(resolve(dir), LOCK_FILE);
  const seen = await readLockFile(path);
  return seen ? holderOf(path, seen) : null;
}

/**
 * Is the owner of a lock (or claim) file still working? Same machine: its pid must exist and
 * have the recorded start time. Another machine, or no readable owner: the file must have been
 * touched within `staleMs`.
 */
export function lockOwnerAlive(
  owner: LockOwner | null,
  mtimeMs: number,
  staleMs: number,
  now: number,
): { alive: boolean; reason: string } {
  if (owner && sameMachine(owner)) {
    if (owner.pid === process.pid) {
      const mine = processStartTime(process.pid);
      if (owner.startTime && mine && owner.startTime !== mine)
        return { alive: false, reason: `pid ${owner.pid} was an earlier process` };
      // This process: held by another writer here (or one that was never finished).
      return { alive: true, reason: "held by this process" };
    }
    if (!pidExists(owner.pid))
      return { alive: false, reason: `process ${owner.pid} on this host is gone` };
    const now2 = owner.startTime ? processStartTime(owner.pid) : null;
    if (now2 !== null && now2 !== owner.startTime)
      return { alive: false, reason: `pid ${owner.pid} now belongs to another process` };
    return { alive: true, reason: `process ${owner.pid} is running` };
  }
  const age = now - mtimeMs;
  if (age > staleMs) {
    return {
      alive: false,
      reason: `no heartbeat for ${Math.round(age / 1000)} s${owner ? ` (host ${owner.host})` : " (unreadable lock)"}`,
    };
  }
  return { alive: true, reason: "heartbeat is fresh" };
}

// ---- internals -------------------------------------------------------------------------------

function newOwner(command: string): LockOwner {
  const { bootId, pidNamespace } = machineIdentity();
  let argv = process.argv.slice(1).join(" ");
  if (argv.length > 300) argv = `${argv.slice(0, 297)}...`;
  return {
    version: 1,
    token: randomBytes(12).toString("hex"),
    host: hostToken(),
    bootId,
    pidNamespace,
    pid: process.pid,
    startTime: processStartTime(process.pid),
    command,
    argv,
    since: new Date().toISOString(),
  };
}

function sameMachine(owner: LockOwner): boolean {
  const me = machineIdentity();
  const same = (a: string | null, b: string | null) => a === null || b === null || a === b;
  return (
    owner.host === hostToken() &&
    same(owner.bootId, me.bootId) &&
    same(owner.pidNamespace, me.pidNamespace)
  );
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      o &&
      typeof o === "object" &&
      o.version === 1 &&
      typeof o.token === "string" &&
      typeof o.host === "string" &&
      Number.isSafeInteger(o.pid) &&
      typeof o.since === "string"
    ) {
      return {
        version: 1,
        token: o.token,
        host: o.host,
        bootId: typeof o.bootId === "string" ? o.bootId : null,
        pidNamespace: typeof o.pidNamespace === "string" ? o.pidNamespace : null,
        pid: o.pid as number,
        startTime: typeof o.startTime === "string" ? o.startTime : null,
        command: typeof o.command === "string" ? o.command : "a writer",
        argv: typeof o.argv === "string" ? o.argv : "",
        since: o.since,
      };
    }
  } catch {
    // Not (yet) a lock: being written, or damaged.
  }
  return null;
}

/** The lock (or claim) file's inode, mtime and owner, or null when it is not there. */
async function readLockFile(path: string): Promise<Seen | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new WriteError(
      `cannot read the lock file: ${(err as Error).message}`,
      { file: path },
      { cause: err },
    );
  }
  try {
    const st = await handle.stat({ bigint: true });
    const text = await handle.readFile("utf8");
    return { ino: st.ino, mtimeMs: Number(st.mtimeMs), owner: parseOwner(text) };
  } finally {
    await handle.close();
  }
}

/**
 * Creates `path` holding `content`; null when it exists. The content is written to a temp file
 * first and hard-linked into place (link fails when the target exists, like O_EXCL), so the lock
 * file never exists without its owner: a second writer never reads a half-written lock.
 */
/** Whether anything (file, link, even a dangling one) is at `path`. */
async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function createExclusive(path: string, content: Buffer): Promise<FileHandle | null> {
  // A winner's leftover sweep may remove our temp file before it is linked: write it again.
  for (let attempt = 0; ; attempt++) {
    // A held lock is the common case while waiting: answer it without writing (and syncing) a
    // temp file on every poll. The link below still decides races between writers.
    if (await exists(path)) return null;
    const temp = `${path}.${randomBytes(8).toString("hex")}.new.tmp`;
    let handle: FileHandle;
    try {
      handle = await open(temp, "wx");
    } catch (err) {
      // A writer that failed removed the output directory it had made (still empty) while this
      // one waited for its lock: make it again.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && attempt < 3) {
        await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
        continue;
      }
      throw new WriteError(
        `cannot create the lock file: ${(err as Error).message}`,
        { file: temp },
        { cause: err },
      );
    }
    try {
      await handle.writeFile(content);
      await handle.sync();
      await link(temp, path);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return null;
      if (code === "ENOENT" && attempt < 5) continue;
      throw new WriteError(
        `cannot write the lock file: ${(err as Error).message}`,
        { file: path },
        { cause: err },
      );
    }
    await rm(temp, { force: true });
    return handle;
  }
}

type Attempt =
  | { handle: FileHandle; tookOver: WriterLock["tookOver"] }
  | { holder: LockHolder }
  | "again";

async function tryAcquire(
  path: string,
  owner: LockOwner,
  content: Buffer,
  staleMs: number,
): Promise<{ handle: FileHandle; tookOver: WriterLock["tookOver"] } | { holder: LockHolder }> {
  // Each "again" means the lock changed under us (released, taken over by another): look again.
  for (let attempt = 0; attempt < 50; attempt++) {
    const handle = await createExclusive(path, content);
    if (handle) return { handle, tookOver: null };
    const seen = await readLockFile(path);
    if (!seen) continue;
    const verdict = lockOwnerAlive(seen.owner, seen.mtimeMs, staleMs, Date.now());
    if (verdict.alive) return { holder: holderOf(path, seen) };
    const r = await takeOver(path, seen, verdict.reason, owner, content, staleMs);
    if (r !== "again") return r;
  }
  const seen = await readLockFile(path);
  return { holder: seen ? holderOf(path, seen) : { path, owner: null, heartbeatAgeMs: 0 } };
}

/** Replaces the stale lock `seen` by ours, unless another taker does (see the top of the file). */
async function takeOver(
  path: string,
  seen: Seen,
  reason: string,
  owner: LockOwner,
  content: Buffer,
  staleMs: number,
): Promise<Attempt> {
  const id = createHash("sha256")
    .update(seen.owner?.token ?? `inode ${seen.ino} ${seen.mtimeMs}`)
    .digest("hex")
    .slice(0, 16);
  let claim: string | null = null;
  for (let n = 0; n < 100 && claim === null; n++) {
    const p = `${path}.takeover-${id}.${n}`;
    const handle = await createExclusive(p, content);
    if (handle) {
      await handle.close();
      claim = p;
      break;
    }
    const other = await readLockFile(p);
    // A claim removed meanwhile: its taker finished, the lock changed.
    if (!other) return "again";
    if (lockOwnerAlive(other.owner, other.mtimeMs, staleMs, Date.now()).alive) {
      // Another live process is taking it over right now: the lock is not ours to take.
      return { holder: holderOf(path, seen) };
    }
  }
  if (claim === null) return { holder: holderOf(path, seen) };
  try {
    const now = await readLockFile(path);
    if (!now || now.ino !== seen.ino || now.owner?.token !== seen.owner?.token) return "again";
    const temp = `${path}.${owner.token}.tmp`;
    const handle = await open(temp, "w");
    try {
      await handle.writeFile(content);
      await handle.sync();
      await rename(temp, path);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return "again";
      throw new WriteError(
        `cannot take over the lock file: ${(err as Error).message}`,
        { file: path },
        { cause: err },
      );
    }
    const mine = (await handle.stat({ bigint: true })).ino;
    const there = await stat(path, { bigint: true }).catch(() => null);
    if (there?.ino !== mine) {
      await handle.close();
      return "again";
    }
    return { handle, tookOver: { owner: seen.owner, reason } };
  } finally {
    await rm(claim, { force: true });
  }
}

/** Claims and temp files of earlier takeovers (none can win any more: the lock is ours now). */
async function removeLockLeftovers(dir: string, token: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(`${LOCK_FILE}.`) || name === `${LOCK_FILE}.${token}.tmp`) continue;
    if (name.startsWith(`${LOCK_FILE}.takeover-`) || name.endsWith(".tmp"))
      await rm(join(dir, name), { force: true });
  }
}

function holderOf(path: string, seen: Seen): LockHolder {
  return { path, owner: seen.owner, heartbeatAgeMs: Math.max(0, Date.now() - seen.mtimeMs) };
}

function age(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** Who holds a lock, in words: `build "x" (pid 12 on host n1, since 2026-11-22T10:00:00.000Z)`. */
export function describeLockHolder(holder: LockHolder): string {
  const o = holder.owner;
  return o
    ? `${o.command} (pid ${o.pid} on host ${o.host}${o.pid === process.pid && sameMachine(o) ? ", this process" : ""}, since ${o.since})`
    : "a writer whose lock file cannot be read";
}

function lockedError(
  dir: string,
  holder: LockHolder,
  staleMs: number,
  waitedMs?: number,
): LockedError {
  const o = holder.owner;
  const who = describeLockHolder(holder);
  const todo =
    waitedMs !== undefined
      ? `gave up after waiting ${age(waitedMs)}`
      : "run again when it has finished, or wait for it (--wait, or the option wait: true)";
  const remote =
    !o || !sameMachine(o)
      ? `; if that writer is gone, its lock is taken over once its heartbeat is older than ${age(staleMs)}`
      : "";
  return new LockedError(
    `${dir} is locked by ${who}, last heartbeat ${age(holder.heartbeatAgeMs)} ago: ${todo}${remote}`,
    { file: holder.path },
  );
}

// ---- release at exit and on signals ------------------------------------------------------------

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const signalHandlers = new Map<string, () => void>();

function releaseAll(): void {
  for (const lock of [...held]) lock.releaseSync();
}

function register(lock: WriterLock): void {
  held.add(lock);
  if (held.size !== 1) return;
  process.on("exit", releaseAll);
  if (!isMainThread) return; // signals reach the main thread only
  for (const signal of SIGNALS) {
    const handler = () => {
      // Someone else handles this signal (and decides whether the process ends): leave the
      // lock to them and to the exit handler.
      if (process.listenerCount(signal) > 1) return;
      releaseAll();
      // Our handler is gone with the last lock: the signal's default action ends the process.
      process.kill(process.pid, signal);
    };
    signalHandlers.set(signal, handler);
    process.on(signal, handler);
  }
}

function unregister(lock: WriterLock): void {
  if (!held.delete(lock) || held.size !== 0) return;
  process.removeListener("exit", releaseAll);
  for (const [signal, handler] of signalHandlers) process.removeListener(signal, handler);
  signalHandlers.clear();
}

/**
 * Test hook for the concurrency tests: when ASTROPILE_TEST_HOLD_LOCK names a file, a writer that
 * got the lock waits until that file exists, so the test can start the other writers while the
 * first one holds the lock (no timing involved).
 */
async function testHold(): Promise<void> {
  const file = process.env.ASTROPILE_TEST_HOLD_LOCK;
  if (!file) return;
  // FILE.held says the lock is taken and registered (released at exit from now on): the lock
  // file itself appears a few awaits earlier.
  writeFileSync(`${file}.held`, `${process.pid}\n`);
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 20));
}
