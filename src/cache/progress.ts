// Terminal progress bar for downloads (bytes, rate, ETA), drawn on stderr only when it is a
// terminal, so logs and pipes stay clean.
import { createRequire } from "node:module";
import type cliProgressTypes from "cli-progress";
import { formatBytes } from "../core/units.ts";

// Loaded on first use: most processes that use the cache never draw a bar.
let cliProgress: typeof cliProgressTypes | null = null;
function loadCliProgress(): typeof cliProgressTypes {
  cliProgress ??= createRequire(import.meta.url)("cli-progress") as typeof cliProgressTypes;
  return cliProgress;
}

export interface DownloadProgress {
  /** Cache key URL. */
  url: string;
  /** URL the bytes come from. */
  source: string;
  /** Bytes of the file on disk so far, including a resumed prefix. */
  receivedBytes: number;
  /** Full size when known. */
  totalBytes: number | null;
  /** Bytes that were already on disk when this transfer started (resume). */
  resumedFrom: number;
  done: boolean;
}

export type ProgressHandler = (p: DownloadProgress) => void;

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A progress handler drawing one bar per download on `stream` (default stderr). */
export function terminalProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressHandler {
  const lib = loadCliProgress();
  let bar: cliProgressTypes.SingleBar | null = null;
  let started = 0;
  const name = label.length > 40 ? `…${label.slice(-39)}` : label;
  return (p) => {
    const now = Date.now();
    if (!bar) {
      started = now;
      const known = p.totalBytes !== null;
      bar = new lib.SingleBar(
        {
          stream,
          format: known
            ? "{name} [{bar}] {percentage}% {done}/{size} {rate} ETA {etaText}"
            : "{name} {done} {rate}",
          barsize: 24,
          hideCursor: null,
          clearOnComplete: false,
          fps: 8,
        },
        lib.Presets.shades_classic,
      );
      bar.start(p.totalBytes ?? 1, p.receivedBytes, {
        name,
        done: formatBytes(p.receivedBytes),
        size: p.totalBytes === null ? "?" : formatBytes(p.totalBytes),
        rate: "-- B/s",
        etaText: "--",
      });
    }
    const elapsed = Math.max((now - started) / 1000, 1e-3);
    const rate = (p.receivedBytes - p.resumedFrom) / elapsed;
    const left = p.totalBytes === null ? Number.NaN : (p.totalBytes - p.receivedBytes) / rate;
    bar.update(p.totalBytes === null ? 0 : p.receivedBytes, {
      name,
      done: formatBytes(p.receivedBytes),
      size: p.totalBytes === null ? "?" : formatBytes(p.totalBytes),
      rate: `${formatBytes(rate)}/s`,
      etaText: formatEta(left),
    });
    if (p.done) {
      bar.stop();
      bar = null;
    }
  };
}
