// The public API as a snapshot: what each entry point in package.json `exports` exports (run-time
// values and type-only names) must equal test/package/api-surface.json, so that adding, removing
// or renaming an export is a deliberate change, seen in review as a diff of that file.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type ApiSurface, apiSurface, SNAPSHOT } from "../../scripts/api-surface.ts";

test("the exports of every entry point match test/package/api-surface.json", async () => {
  const current = await apiSurface();
  const committed = JSON.parse(readFileSync(SNAPSHOT, "utf8")) as ApiSurface;
  const changes: string[] = [];
  for (const subpath of new Set([...Object.keys(committed), ...Object.keys(current)])) {
    const name = subpath === "." ? "astropile" : `astropile${subpath.slice(1)}`;
    const was = committed[subpath];
    const now = current[subpath];
    if (!was || !now) {
      changes.push(`${name}: entry point ${was ? "removed" : "added"}`);
      continue;
    }
    for (const kind of ["values", "types"] as const) {
      const before = new Set(was[kind]);
      const after = new Set(now[kind]);
      const added = now[kind].filter((n) => !before.has(n));
      const removed = was[kind].filter((n) => !after.has(n));
      if (added.length > 0) changes.push(`${name}: ${kind} added: ${added.join(", ")}`);
      if (removed.length > 0) changes.push(`${name}: ${kind} removed: ${removed.join(", ")}`);
    }
    if (was.source !== now.source) changes.push(`${name}: source ${was.source} -> ${now.source}`);
  }
  assert.deepEqual(
    changes,
    [],
    `The public API changed:\n  ${changes.join("\n  ")}\nIf this is deliberate, run \`npm run api:update\` and commit test/package/api-surface.json.`,
  );
});
