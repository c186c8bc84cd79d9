// Reference tools (h5py, healpy, astropy, h5dump) come from Debian packages and run under
// /usr/bin/python3. Interop tests use them when present; in CI (CI=true) they are required,
// so a missing package fails the run instead of silently skipping.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const PYTHON = "/usr/bin/python3";

const cache = new Map<string, string | null>();

/** Returns null when every module imports, else the reason it does not. */
function missingReason(modules: string[]): string | null {
  const key = modules.join(",");
  if (cache.has(key)) return cache.get(key) ?? null;
  let reason: string | null = null;
  if (!existsSync(PYTHON)) reason = `${PYTHON} not found`;
  else {
    const r = spawnSync(PYTHON, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
    if (r.status !== 0)
      reason = `${PYTHON} cannot import ${key}: ${r.stderr.trim().split("\n").pop()}`;
  }
  cache.set(key, reason);
  return reason;
}

/**
 * For `test(name, { skip: referenceSkip(["h5py"]) }, fn)`: false when the modules are there,
 * a visible skip message when not; throws under CI=true, where they must be installed.
 */
export function referenceSkip(modules: string[], tools: string[] = []): false | string {
  let reason = modules.length > 0 ? missingReason(modules) : null;
  for (const tool of tools) {
    if (reason) break;
    const r = spawnSync("sh", ["-c", `command -v ${tool}`]);
    if (r.status !== 0) reason = `${tool} not found on PATH`;
  }
  if (!reason) return false;
  if (process.env.CI === "true") {
    throw new Error(`interop reference missing in CI: ${reason} (see .ci/run)`);
  }
  return `SKIPPED (reference tool missing: ${reason}; install python3-h5py python3-astropy python3-healpy hdf5-tools)`;
}

/** Runs a Python snippet under the Debian interpreter; returns stdout. Throws with stderr on failure. */
export function runPython(code: string, args: string[] = [], input?: string): string {
  return execFileSync(PYTHON, ["-c", code, ...args], {
    encoding: "utf8",
    input,
    maxBuffer: 1 << 30,
    stdio: ["pipe", "pipe", "pipe"],
  });
}
