// The fuzz suite: seeded cases of each family (family-*.ts), run in child processes under a time
// and a memory bound (harness.ts). Each case must end in a typed AstroPile error or the right
// answer; the counts are printed per family and in total.
//
//   ASTROPILE_FUZZ_CASES=N     cases per family instead of the defaults below
//   ASTROPILE_FUZZ_FAMILY=F    only family F (datasets, inputs, specs)
//   ASTROPILE_FUZZ_SEED=S      another seed ("random" draws one and prints it)
//   ASTROPILE_FUZZ_CASE=K      replay case K of the family alone (with its seed)
import assert from "node:assert/strict";
import { test } from "node:test";
import { type FamilyReport, runFamily, SEED, summary } from "./harness.ts";

/**
 * Cases of each family in a normal run: 950 in all. `datasets` is the costly family (about 0.2 s
 * of CPU a case, every read on two configs plus verify): 200 cases reach most of its mutation
 * kinds with the default seed; ASTROPILE_FUZZ_CASES=1000 or another seed reach the rare ones.
 */
export const FAMILIES: Record<string, number> = {
  datasets: 200,
  inputs: 600,
  specs: 150,
};

const only = process.env.ASTROPILE_FUZZ_FAMILY;
const reports: FamilyReport[] = [];

for (const [family, cases] of Object.entries(FAMILIES)) {
  if (only && only !== family) continue;
  test(`fuzz ${family}: a typed error or the right answer, within the time and memory bounds`, async (t) => {
    const r = await runFamily(family, cases, { workers: 2, testFile: "test/fuzz/fuzz.test.ts" });
    reports.push(r);
    t.diagnostic(summary(r));
    assert.deepEqual(
      r.failures,
      [],
      `${r.failures.length} failing cases:\n${r.failures.join("\n\n")}`,
    );
  });
}

test("fuzz: totals", (t) => {
  const sum = (k: "cases" | "correct" | "typed") => reports.reduce((s, r) => s + r[k], 0);
  const ms = reports.reduce((s, r) => s + r.ms, 0);
  t.diagnostic(
    `fuzz total (seed ${SEED}): ${sum("cases")} cases, ${sum("correct")} correct answers, ${sum("typed")} typed errors, ${reports.reduce((s, r) => s + r.failures.length, 0)} failures, ${(ms / 1000).toFixed(1)} s`,
  );
});
