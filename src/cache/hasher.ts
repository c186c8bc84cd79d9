// SHA-256 of a download, computed either on the calling thread or, for big files, in a
// worker thread so that hashing overlaps with receiving and writing (SHA-256 costs about as
// much CPU per byte as the HTTP receive path itself). Chunks are batched into 1 MiB
// transferable buffers (one copy, few messages) and the number of bytes in flight is capped,
// so memory stays bounded whatever the file size.
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

/** Files at least this big are hashed in a worker (smaller ones: thread start-up dominates). */
export const WORKER_HASH_MIN_BYTES = 32 * 2 ** 20;
const BATCH = 1 << 20;
const MAX_IN_FLIGHT = 16 * BATCH;

// Plain CommonJS for `eval: true`: the worker needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const h = createHash("sha256");
parentPort.on("message", (m) => {
  try {
    if (m.kind === "data") { h.update(new Uint8Array(m.buf)); parentPort.postMessage({ kind: "ack", n: m.buf.byteLength }); }
    else if (m.kind === "prefix") {
      const fd = fs.openSync(m.path, "r");
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      try {
        while (pos < m.upTo) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, m.upTo - pos), pos);
          if (n === 0) throw new Error("file shorter than its recorded prefix");
          h.update(buf.subarray(0, n));
          pos += n;
        }
      } finally { fs.closeSync(fd); }
      parentPort.postMessage({ kind: "ack", n: 0 });
    }
    else if (m.kind === "digest") parentPort.postMessage({ kind: "digest", hex: h.digest("hex") });
  } catch (e) { parentPort.postMessage({ kind: "error", message: String(e && e.message || e) }); }
});
`;

export interface StreamHash {
  /** Feeds bytes; resolves when it is fine to feed more (backpressure). */
  update(chunk: Buffer): void | Promise<void>;
  /** Hashes the first `upTo` bytes of `file` (a resumed prefix) before any update. */
  prefix(file: string, upTo: number): Promise<void>;
  digest(): Promise<string>;
  /** Releases the worker, if any (safe to call more than once). */
  close(): void;
}

class InlineHash implements StreamHash {
  private readonly h: Hash = createHash("sha256");
  update(chunk: Buffer): void {
    this.h.update(chunk);
  }
  async prefix(file: string, upTo: number): Promise<void> {
    const { createReadStream } = await import("node:fs");
    if (upTo === 0) return;
    for await (const c of createReadStream(file, { end: upTo - 1, highWaterMark: BATCH })) {
      this.h.update(c as Buffer);
    }
  }
  async digest(): Promise<string> {
    return this.h.digest("hex");
  }
  close(): void {}
}

class WorkerHash implements StreamHash {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private failure: Error | null = null;
  private waiters: (() => void)[] = [];
  private digestWaiter: ((hex: string) => void) | null = null;

  constructor() {
    this.worker.unref();
    this.worker.on("message", (m: { kind: string; n?: number; hex?: string; message?: string }) => {
      if (m.kind === "ack") this.inFlight -= m.n ?? 0;
      else if (m.kind === "digest") this.digestWaiter?.(m.hex!);
      else if (m.kind === "error") this.failure = new Error(`sha256 worker: ${m.message}`);
      this.wake();
    });
    this.worker.on("error", (e) => {
      this.failure = e;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    // One copy into a buffer we own, which can then be transferred without another.
    const out = new Uint8Array(this.pendingBytes);
    let o = 0;
    for (const c of this.pending) {
      out.set(c, o);
      o += c.length;
    }
    this.pending = [];
    this.inFlight += this.pendingBytes;
    this.pendingBytes = 0;
    this.worker.postMessage({ kind: "data", buf: out.buffer }, [out.buffer]);
  }

  update(chunk: Buffer): void | Promise<void> {
    if (this.failure) throw this.failure;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= BATCH) this.flush();
    if (this.inFlight <= MAX_IN_FLIGHT) return;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.failure || this.inFlight <= MAX_IN_FLIGHT) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  async prefix(file: string, upTo: number): Promise<void> {
    if (upTo === 0) return;
    this.worker.postMessage({ kind: "prefix", path: file, upTo });
  }

  async digest(): Promise<string> {
    this.flush();
    const hex = await new Promise<string>((resolve, reject) => {
      this.digestWaiter = resolve;
      this.worker.postMessage({ kind: "digest" });
      const check = () => {
        if (this.failure) reject(this.failure);
        else this.waiters.push(check);
      };
      check();
    });
    this.close();
    return hex;
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** A streaming SHA-256, in a worker thread when the expected size makes it worthwhile. */
export function streamHash(
  expectedBytes: number | null,
  workerMinBytes = WORKER_HASH_MIN_BYTES,
): StreamHash {
  return expectedBytes !== null && expectedBytes >= workerMinBytes
    ? new WorkerHash()
    : new InlineHash();
}
