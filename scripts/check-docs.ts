// `npm run docs:check`: regenerates the API reference (TypeDoc, typedoc.json) into a temporary
// directory and fails when it differs from the committed docs/api, i.e. when the TSDoc of the
// public API changed and `npm run docs` was not run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const COMMITTED = join(ROOT, "docs", "api");

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.set(relative(dir, path), readFileSync(path, "utf8"));
  }
  return out;
}

/** Problems with docs/api (empty: up to date), from a fresh TypeDoc run into a temp dir. */
function check(): string[] | null {
  const tmp = mkdtempSync(join(tmpdir(), "astropile-docs-"));
  try {
    const typedoc = join(ROOT, "node_modules", ".bin", "typedoc");
    const r = spawnSync(typedoc, ["--out", tmp, "--logLevel", "Error"], {
      cwd: ROOT,
      stdio: "inherit",
    });
    if (r.status !== 0) {
      console.error(`docs:check: typedoc failed (exit ${r.status ?? r.signal})`);
      return null;
    }
    const want = files(tmp);
    let have: Map<string, string>;
    try {
      have = files(COMMITTED);
    } catch {
      have = new Map();
    }
    const problems: string[] = [];
    for (const [name, text] of want) {
      const old = have.get(name);
      if (old === undefined) problems.push(`missing: docs/api/${name}`);
      else if (old !== text) problems.push(`out of date: docs/api/${name}`);
    }
    for (const name of have.keys()) {
      if (!want.has(name)) problems.push(`not generated any more: docs/api/${name}`);
    }
    return problems;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const problems = check();
if (problems === null) {
  process.exitCode = 1;
} else if (problems.length > 0) {
  console.error(
    `docs:check: docs/api does not match the TSDoc of the sources:\n  ${problems.join("\n  ")}\nRun \`npm run docs\` and commit docs/api.`,
  );
  process.exitCode = 1;
} else {
  console.log("docs:check: docs/api is up to date");
}
