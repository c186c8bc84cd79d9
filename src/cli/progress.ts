// Build progress on stderr: a bar with rows/s and ETA on a terminal, plain lines otherwise (a
// line per phase change and at most one every few seconds), nothing with --quiet.
import { createRequire } from "node:module";
import type cliProgressTypes from "cli-progress";
import type { BuildProgress } from "../build/index.ts";

let lib: typeof cliProgressTypes | null = null;
function load(): typeof cliProgressTypes {
  lib ??= createRequire(import.meta.url)("cli-progress") as typeof cliProgressTypes;
  return lib;
}

const PHASES: Record<BuildProgress["phase"], string> = {
  scan: "scan catalog",
  scatter: "route rows",
  build: "build units",
  assemble: "assemble",
  done: "done",
};

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

export interface ProgressView {
  update(p: BuildProgress): void;
  /** A message line; on a terminal it replaces the bar's line and the bar redraws below it. */
  log(line: string): void;
  stop(): void;
}

export function buildProgress(
  label: string,
  options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {},
): ProgressView {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update() {}, log() {}, stop() {} };
  let phase = "";
  let started = Date.now();
  let startRows = 0;
  let last = 0;
  const rate = (p: BuildProgress) => {
    const secs = (Date.now() - started) / 1000;
    return secs > 0.5 ? (p.rows - startRows) / secs : 0;
  };
  if (stream.isTTY) {
    let bar: cliProgressTypes.SingleBar | null = null;
    return {
      update(p) {
        if (p.phase !== phase) {
          bar?.stop();
          bar = null;
          phase = p.phase;
          started = Date.now();
          startRows = p.rows;
          if (p.phase === "done") return;
          bar = new (load().SingleBar)({
            stream,
            format: `${label} ${PHASES[p.phase].padEnd(12)} [{bar}] {percentage}% {value}/{total} rows {rate} rows/s ETA {etaText}{units}`,
            barsize: 24,
            hideCursor: null,
            clearOnComplete: false,
            fps: 5,
          });
          bar.start(p.total ?? p.rows, p.rows, { rate: "0", etaText: "--", units: "" });
        }
        if (!bar) return;
        const r = rate(p);
        const total = p.total ?? p.rows;
        bar.setTotal(Math.max(total, 1));
        bar.update(p.rows, {
          rate: r.toFixed(0),
          etaText: r > 0 ? eta((total - p.rows) / r) : "--",
          units: p.unitsTotal ? ` (${p.unitsDone}/${p.unitsTotal} units)` : "",
        });
      },
      log(line) {
        stream.write(`\r\x1b[K${line}\n`);
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  return {
    update(p) {
      const now = Date.now();
      const changed = p.phase !== phase;
      if (changed) {
        phase = p.phase;
        started = now;
        startRows = p.rows;
      }
      if (!changed && now - last < 3000) return;
      if (p.phase === "done") return;
      last = now;
      const r = rate(p);
      const total = p.total ?? 0;
      const pct = total > 0 ? ` (${((100 * p.rows) / total).toFixed(0)}%)` : "";
      const tail =
        r > 0 && total > 0 ? `, ${r.toFixed(0)} rows/s, ETA ${eta((total - p.rows) / r)}` : "";
      const units = p.unitsTotal ? `, units ${p.unitsDone}/${p.unitsTotal}` : "";
      stream.write(
        `${label} ${PHASES[p.phase]}: ${p.rows}${total ? `/${total}` : ""} rows${pct}${tail}${units}\n`,
      );
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}
