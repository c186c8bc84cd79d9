// The parent side of the fuzz suite: runs a family's cases in a child process (child.ts) under a
// watchdog, so a case that hangs, crashes the process or passes the memory bound is reported as
// that case (with the seed to replay it) and the run goes on with the next case in a new child.
//
// Environment:
//   ASTROPILE_FUZZ_SEED=N      the run's seed (default 1; "random" draws one and prints it)
//   ASTROPILE_FUZZ_CASES=N     cases per family (default: each family's own, 950 in all)
//   ASTROPILE_FUZZ_FAMILY=F    only family F (see fuzz.test.ts)
//   ASTROPILE_FUZZ_CASE=K      run only case K (replay one failure)
//   ASTROPILE_FUZZ_CASE_MS=N   time bound of one case (default 20000 ms: a hang, not a slow case)
//   ASTROPILE_FUZZ_RSS_MB=N    memory bound of the child's RSS after each case (default 1536)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli-process.ts";

const CHILD = join(import.meta.dirname, "child.ts");

/** The run's seed: fixed by default (CI runs the same cases), any number or "random" to explore. */
export const SEED: number = (() => {
  const text = process.env.ASTROPILE_FUZZ_SEED;
  if (text === undefined || text === "") return 1;
  if (text === "random") return Math.floor(Math.random() * 2 ** 31);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`ASTROPILE_FUZZ_SEED must be an integer: ${text}`);
  return n;
})();

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new Error(`${name} must be an integer >= 0`);
  return n;
}

/**
 * Where the children's scratch directories go: /dev/shm when it is a tmpfs with room (every
 * case of the datasets family copies a 57-entry dataset, damages it and removes it: on a disk
 * that copy and removal are a fifth of the case, in memory almost nothing), else the temp
 * directory. The cases read and write real files either way; what they test is not the disk.
 */
function scratchRoot(): string {
  const TMPFS_MAGIC = 0x01021994;
  try {
    const fs = statfsSync("/dev/shm");
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 256 * 2 ** 20) return "/dev/shm";
  } catch {
    // No /dev/shm (not Linux): the temp directory.
  }
  return tmpdir();
}

/** Cases of a family: ASTROPILE_FUZZ_CASES when set, else the family's default. */
export function caseCount(fallback: number): number {
  return envInt("ASTROPILE_FUZZ_CASES", fallback);
}

export interface FamilyReport {
  family: string;
  seed: number;
  cases: number;
  correct: number;
  typed: number;
  failures: string[];
  ms: number;
  setupMs: number;
  slowestCaseMs: number;
  maxRssMb: number;
}

interface Line {
  t: "ready" | "start" | "note" | "done" | "end";
  i?: number;
  outcome?: "correct" | "typed" | "fail";
  what?: string;
  ms?: number;
  rss?: number;
}

/**
 * Runs cases [0, cases) of `family` (or only ASTROPILE_FUZZ_CASE) in child processes, `workers`
 * at a time, each case under the time bound and each child under the memory bound.
 */
export async function runFamily(
  family: string,
  cases: number,
  options: { workers?: number; heapMb?: number; testFile: string },
): Promise<FamilyReport> {
  const only = process.env.ASTROPILE_FUZZ_CASE;
  const caseMs = envInt("ASTROPILE_FUZZ_CASE_MS", 20_000);
  const rssBytes = envInt("ASTROPILE_FUZZ_RSS_MB", 1536) * 2 ** 20;
  const heapMb = options.heapMb ?? 768;
  const [from, to] = only ? [Number(only), Number(only) + 1] : [0, caseCount(cases)];
  const report: FamilyReport = {
    family,
    seed: SEED,
    cases: 0,
    correct: 0,
    typed: 0,
    failures: [],
    ms: 0,
    setupMs: 0,
    slowestCaseMs: 0,
    maxRssMb: 0,
  };
  const replay = (i: number) =>
    `replay: ASTROPILE_FUZZ_FAMILY=${family} ASTROPILE_FUZZ_SEED=${SEED} ASTROPILE_FUZZ_CASE=${i} node --import ./test/helpers/preload.mjs --import tsx --test ${options.testFile}`;
  const t0 = Date.now();
  const work = (() => {
    try {
      return mkdtempSync(join(scratchRoot(), `astropile-fuzz-${family}-`));
    } catch {
      return mkdtempSync(join(tmpdir(), `astropile-fuzz-${family}-`));
    }
  })();

  /** Runs [a, b) in children, a new child after each case that killed one. */
  async function slice(a: number, b: number, w: number): Promise<void> {
    let next = a;
    while (next < b) next = await child(next, b, join(work, `w${w}-${next}`));
  }

  /** One child from case `a`; resolves with the case to go on from. */
  function child(a: number, b: number, dir: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const proc = spawn(
        process.execPath,
        [
          `--max-old-space-size=${heapMb}`,
          "--import",
          "h5wasm/node",
          "--import",
          "tsx",
          CHILD,
          family,
          String(SEED),
          String(a),
          String(b),
          dir,
        ],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let current: number | null = null;
      let note = "";
      let ended = false;
      let killedFor: string | null = null;
      let stderr = "";
      let buf = "";
      let timer: NodeJS.Timeout | null = null;
      const arm = (ms: number, what: () => string) => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          killedFor = what();
          proc.kill("SIGKILL");
        }, ms);
      };
      arm(180_000, () => "the clean setup took more than 180 s");
      const fail = (i: number | null, text: string) => {
        report.failures.push(
          `${family} case ${i ?? "(setup)"} (seed ${SEED}): ${text}${i === null ? "" : `\n  ${replay(i)}`}`,
        );
      };
      proc.stderr.on("data", (d) => {
        stderr = (stderr + d).slice(-4000);
      });
      proc.stdout.on("data", (d) => {
        buf += d;
        let at = buf.indexOf("\n");
        while (at >= 0) {
          const raw = buf.slice(0, at);
          buf = buf.slice(at + 1);
          at = buf.indexOf("\n");
          if (!raw.startsWith("@fuzz ")) continue;
          const line = JSON.parse(raw.slice(6)) as Line;
          if (line.t === "ready") {
            report.setupMs = Math.max(report.setupMs, line.ms ?? 0);
          } else if (line.t === "start") {
            current = line.i!;
            note = "";
            arm(caseMs, () => `no answer within ${caseMs} ms (a hang?): ${note}`);
          } else if (line.t === "note") {
            note = line.what ?? "";
          } else if (line.t === "done") {
            if (timer) clearTimeout(timer);
            const i = line.i!;
            report.cases++;
            report.slowestCaseMs = Math.max(report.slowestCaseMs, line.ms ?? 0);
            report.maxRssMb = Math.max(report.maxRssMb, Math.round((line.rss ?? 0) / 2 ** 20));
            if (line.outcome === "correct") report.correct++;
            else if (line.outcome === "typed") report.typed++;
            else fail(i, line.what ?? "");
            current = null;
            if ((line.rss ?? 0) > rssBytes) {
              fail(
                i,
                `RSS ${Math.round((line.rss ?? 0) / 2 ** 20)} MiB after the case, over the ${rssBytes / 2 ** 20} MiB bound: ${line.what}`,
              );
              killedFor = "rss";
              proc.kill("SIGKILL");
              resolveWith = i + 1;
            }
          } else if (line.t === "end") {
            ended = true;
          }
        }
      });
      let resolveWith: number | null = null;
      proc.on("error", reject);
      proc.on("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        if (ended && code === 0) return resolve(b);
        if (resolveWith !== null) return resolve(resolveWith);
        const why =
          killedFor ??
          `the child died (exit ${code}, signal ${signal}; out of memory?): ${note}\n${stderr}`;
        if (current === null) {
          // Died outside a case: setup (or between cases). Nothing more can run.
          fail(null, why);
          return resolve(b);
        }
        report.cases++;
        fail(current, why);
        resolve(current + 1);
      });
    });
  }

  try {
    const workers = Math.max(1, Math.min(options.workers ?? 1, to - from));
    const per = Math.ceil((to - from) / workers);
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        slice(from + w * per, Math.min(to, from + (w + 1) * per), w),
      ),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  report.ms = Date.now() - t0;
  return report;
}

/** One line for the test log: counts, time, bounds. */
export function summary(r: FamilyReport): string {
  return `${r.family}: ${r.cases} cases (seed ${r.seed}): ${r.correct} correct answers, ${r.typed} typed errors, ${r.failures.length} failures; ${(r.ms / 1000).toFixed(1)} s (setup ${(r.setupMs / 1000).toFixed(1)} s, slowest case ${r.slowestCaseMs} ms), max RSS ${r.maxRssMb} MiB`;
}
