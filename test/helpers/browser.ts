// Browser tests drive Debian's Chromium (`apt-get install chromium`) through playwright-core,
// which never downloads a browser. Outside CI a missing Chromium skips the tests visibly; in CI
// (CI=true) it fails them, as test/helpers/python.ts does for the Python reference tools.
//
// The helpers look at a page the way a person would: what the console said, which requests
// failed, whether a canvas or an image actually has something drawn on it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

const CANDIDATES = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

let found: string | null | undefined;

/** The Chromium executable on PATH (or $CHROMIUM_PATH), or null. */
export function chromiumPath(): string | null {
  if (found !== undefined) return found;
  found = null;
  const env = process.env.CHROMIUM_PATH;
  if (env && existsSync(env)) found = env;
  for (const name of CANDIDATES) {
    if (found) break;
    const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) found = r.stdout.trim();
  }
  return found;
}

/**
 * For `test(name, { skip: browserSkip() }, fn)`: false when Chromium is there, a visible skip
 * message when not; throws under CI=true, where it must be installed.
 */
export function browserSkip(): false | string {
  if (chromiumPath()) return false;
  const reason = `no Chromium on PATH (tried ${CANDIDATES.join(", ")}, $CHROMIUM_PATH)`;
  if (process.env.CI === "true") {
    throw new Error(`browser missing in CI: ${reason} (see .ci/run)`);
  }
  return `SKIPPED (${reason}; install Debian's chromium)`;
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no Chromium (check browserSkip() first)");
  return chromium.launch({
    executablePath,
    headless: true,
    // Root in containers has no user namespace for Chromium's sandbox.
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

/**
 * What went wrong on a page from the moment it is watched: console errors, uncaught exceptions,
 * failed requests and responses with status >= 400.
 */
export class PageProblems {
  readonly console: string[] = [];
  readonly exceptions: string[] = [];
  readonly failedRequests: string[] = [];
  /** "STATUS URL" */
  readonly badResponses: string[] = [];

  constructor(page: Page) {
    page.on("console", (m) => {
      if (m.type() === "error") this.console.push(m.text());
    });
    page.on("pageerror", (e) => this.exceptions.push(e.message));
    page.on("requestfailed", (r) => {
      // A request the page cancelled itself (left the page, typed a newer search) is no failure.
      if (r.failure()?.errorText === "net::ERR_ABORTED") return;
      this.failedRequests.push(`${r.url()} (${r.failure()?.errorText})`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) this.badResponses.push(`${r.status()} ${r.url()}`);
    });
  }

  /** Forgets what was seen so far. */
  clear(): void {
    for (const list of [this.console, this.exceptions, this.failedRequests, this.badResponses]) {
      list.length = 0;
    }
  }

  /** Everything seen, one line each. */
  all(): string[] {
    return [
      ...this.console.map((s) => `console: ${s}`),
      ...this.exceptions.map((s) => `exception: ${s}`),
      ...this.failedRequests.map((s) => `failed: ${s}`),
      ...this.badResponses.map((s) => `response: ${s}`),
    ];
  }
}

/** Waits until the viewer's <main> and everything in it has finished loading (aria-busy). */
export async function waitIdle(page: Page, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const main = document.getElementById("main");
      return (
        main?.getAttribute("aria-busy") === "false" &&
        main.querySelector('[aria-busy="true"]') === null
      );
    },
    null,
    { timeout },
  );
}

/** Pixel statistics of what is drawn: how many pixels differ from the most common colour. */
export interface Ink {
  width: number;
  height: number;
  /** Pixels whose colour differs from the most common one (the background). */
  inked: number;
  /** Distinct colours (capped at 4096). */
  colours: number;
  /** Pixels with R, G and B not all equal (a colormap other than gray). */
  coloured: number;
  /** A short digest of the pixels, to tell two renderings apart. */
  digest: string;
}

/**
 * Reads back the pixels of a <canvas> or a loaded <img> (drawn into a scratch canvas) matched by
 * `selector` (the `index`-th match).
 */
export async function inkOf(page: Page, selector: string, index = 0): Promise<Ink> {
  return page.evaluate(
    ([sel, i]) => {
      const el = document.querySelectorAll(sel)[i];
      if (!el) throw new Error(`no element ${sel} [${i}]`);
      let canvas: HTMLCanvasElement;
      if (el instanceof HTMLCanvasElement) canvas = el;
      else if (el instanceof HTMLImageElement) {
        if (!el.complete || el.naturalWidth === 0) throw new Error(`${sel} [${i}] is not loaded`);
        canvas = document.createElement("canvas");
        canvas.width = el.naturalWidth;
        canvas.height = el.naturalHeight;
        canvas.getContext("2d")!.drawImage(el, 0, 0);
      } else throw new Error(`${sel} [${i}] is neither a canvas nor an image`);
      const { width, height } = canvas;
      const data = canvas.getContext("2d")!.getImageData(0, 0, width, height).data;
      const counts = new Map<number, number>();
      let coloured = 0;
      let hash = 0;
      for (let k = 0; k < data.length; k += 4) {
        const r = data[k]!;
        const g = data[k + 1]!;
        const b = data[k + 2]!;
        const a = data[k + 3]!;
        const key = ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
        if (counts.size < 4096 || counts.has(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
        if (a > 0 && !(r === g && g === b)) coloured++;
        hash = (Math.imul(hash, 31) + key) | 0;
      }
      let top = 0;
      for (const c of counts.values()) top = Math.max(top, c);
      return {
        width,
        height,
        inked: width * height - top,
        colours: counts.size,
        coloured,
        digest: (hash >>> 0).toString(16),
      };
    },
    [selector, index] as const,
  );
}

/** Directory of the screenshots kept as test artefacts (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-artifacts", "web");

/** Saves a full-page screenshot as `test-artifacts/web/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
