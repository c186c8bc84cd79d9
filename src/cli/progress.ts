// The one progress display of the CLI, for every command: a bar with rate and ETA on a terminal,
// plain lines otherwise (one when a phase starts, one when it completes, at most one every few
// seconds between), nothing with --quiet. The library only reports progress through callbacks;
// the small adapters below turn its events (builds, downloads, cross-matches, the demo's
// sources) into steps of this display.
import { createRequire } from "node:module";
import type cliProgressTypes from "cli-progress";
import type { BuildProgress } from "../build/runner.ts";
import type { DownloadProgress } from "../cache/index.ts";
import { formatBytes } from "../core/units.ts";
import type { SynthProgress } from "../synth/index.ts";
import type { CrossMatchProgress } from "../xmatch/crossmatch.ts";
import { formatCount } from "./format.ts";

let lib: typeof cliProgressTypes | null = null;
function load(): typeof cliProgressTypes {
  lib ??= createRequire(import.meta.url)("cli-progress") as typeof cliProgressTypes;
  return lib;
}

/** One state of a long task, as the display shows it. */
export interface Step {
  /** What is being done; a new phase starts a new bar (its rate and ETA restart). */
  phase: string;
  done: number;
  /** The phase's total, when known. */
  total?: number | null;
  /** Unit of done and total: "bytes" shows KiB, MiB...; any other word follows the numbers. */
  unit: string;
  /** More text after the numbers, e.g. "units 2/8". */
  detail?: string;
}

export interface Progress {
  update(step: Step): void;
  /** A message line; on a terminal it replaces the bar's line and the bar redraws below it. */
  log(line: string): void;
  /** Ends the current bar; call before printing results. */
  stop(): void;
}

export interface ProgressOptions {
  /** Draw and print nothing. */
  quiet?: boolean;
  /** Where to draw (default stderr). A bar when it is a terminal (isTTY), lines otherwise. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Least time between two plain lines of one phase, in ms (default 3000). */
  intervalMs?: number;
}

function etaText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Texts of a step: done, total (with the unit), rate, ETA, percentage. */
function texts(step: Step, rate: number) {
  const bytes = step.unit === "bytes";
  const n = (x: number) => (bytes ? formatBytes(x) : formatCount(Math.round(x)));
  const total = step.total ?? null;
  const unit = bytes ? "" : ` ${step.unit}`;
  return {
    done: n(step.done),
    size: total === null ? "?" : `${n(total)}${unit}`,
    doneWithUnit: `${n(step.done)}${unit}`,
    rate:
      rate > 0
        ? `${bytes ? formatBytes(rate) : rate.toFixed(0)}${unit}/s`
        : `--${bytes ? " B" : unit}/s`,
    etaText: total !== null && rate > 0 ? etaText((total - step.done) / rate) : "--",
    percent: total !== null && total > 0 ? Math.floor((100 * step.done) / total) : null,
  };
}

/** A progress display labelled `label` (e.g. "[hsc]", "xmatch"). */
export function progress(label: string, options: ProgressOptions = {}): Progress {
  if (options.quiet) return { update() {}, log() {}, stop() {} };
  const stream = options.stream ?? process.stderr;
  const prefix = label ? `${label} ` : "";
  let phase: string | null = null;
  let started = 0;
  let startDone = 0;
  // Unknown (0) for the first half second of a phase, unless the phase is complete.
  const rateOf = (step: Step, now: number) => {
    const secs = (now - started) / 1000;
    const complete = step.total != null && step.done >= step.total;
    return secs > 0.5 || (complete && secs > 0) ? (step.done - startDone) / secs : 0;
  };
  const newPhase = (step: Step, now: number) => {
    phase = step.phase;
    started = now;
    startDone = step.done;
  };

  if (stream.isTTY) {
    let bar: cliProgressTypes.SingleBar | null = null;
    const stop = () => {
      bar?.stop();
      bar = null;
    };
    return {
      update(step) {
        const now = performance.now();
        const known = step.total !== undefined && step.total !== null;
        if (step.phase !== phase || !bar) {
          stop();
          newPhase(step, now);
          bar = new (load().SingleBar)({
            stream: stream as NodeJS.WriteStream,
            format: known
              ? `${prefix}{phase} [{bar}] {percentage}% {done}/{size} {rate} ETA {etaText}{detail}`
              : `${prefix}{phase} {doneWithUnit} {rate}{detail}`,
            barsize: 24,
            hideCursor: null,
            clearOnComplete: false,
            fps: 5,
          });
        }
        const payload = {
          ...texts(step, rateOf(step, now)),
          phase: step.phase,
          detail: step.detail ? `  ${step.detail}` : "",
        };
        const total = known ? Math.max(1, step.total!) : 1;
        const value = known ? step.done : 0;
        if (!bar.isActive) bar.start(total, value, payload);
        else {
          bar.setTotal(total);
          bar.update(value, payload);
        }
      },
      log(line) {
        stream.write(`\r\x1b[K${line}\n`);
      },
      stop,
    };
  }

  const interval = options.intervalMs ?? 3000;
  let last = 0;
  let completed = false;
  return {
    update(step) {
      const now = performance.now();
      const changed = step.phase !== phase;
      if (changed) {
        newPhase(step, now);
        completed = false;
      }
      const total = step.total ?? null;
      const complete = total !== null && step.done >= total;
      if (!changed && !(complete && !completed) && now - last < interval) return;
      if (complete) completed = true;
      last = now;
      const t = texts(step, rateOf(step, now));
      const count = total === null ? t.doneWithUnit : `${t.done}/${t.size}`;
      const parts = [
        `${prefix}${step.phase}: ${count}${t.percent === null ? "" : ` (${t.percent}%)`}`,
      ];
      if (t.rate[0] !== "-") parts.push(t.rate);
      if (t.etaText !== "--" && !complete) parts.push(`ETA ${t.etaText}`);
      if (step.detail) parts.push(step.detail);
      stream.write(`${parts.join(", ")}\n`);
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}

// ---- adapters: library events to steps --------------------------------------------------

const BUILD_PHASES: Record<BuildProgress["phase"], string> = {
  scan: "scan catalog",
  scatter: "route rows",
  build: "build units",
  assemble: "assemble",
  done: "done",
};

/** A build's progress (null when the build is done: stop the display). */
export function buildStep(p: BuildProgress): Step | null {
  if (p.phase === "done") return null;
  return {
    phase: BUILD_PHASES[p.phase],
    done: p.rows,
    total: p.total,
    unit: "rows",
    detail: p.unitsTotal ? `units ${p.unitsDone}/${p.unitsTotal}` : undefined,
  };
}

/** A download's progress: bytes of the file named by the URL's last part. */
export function downloadStep(p: DownloadProgress): Step {
  const name = p.url.split("/").pop() || p.url;
  return {
    phase: name.length > 40 ? `…${name.slice(-39)}` : name,
    done: p.receivedBytes,
    total: p.totalBytes,
    unit: "bytes",
  };
}

/** A cross-match's progress: units of work done, with rows so far. */
export function crossMatchStep(p: CrossMatchProgress): Step {
  return {
    phase: "match",
    done: p.unitsDone,
    total: p.unitsTotal,
    unit: "units",
    detail: `${formatCount(p.leftRows)} left rows, ${formatCount(p.rows)} catalog rows`,
  };
}

/** The synthetic sources being written: imaging patches (5 band tiles each), spectra files. */
export function sourcesStep(p: SynthProgress): Step {
  return p.survey === "hsc"
    ? { phase: "imaging", done: p.done, total: p.total, unit: "patches", detail: "5 bands each" }
    : { phase: "spectra", done: p.done, total: p.total, unit: "files" };
}
