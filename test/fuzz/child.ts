// The process that runs the cases of one fuzz family, one after the other, under the parent's
// watchdog (harness.ts): it reports each case as it starts and ends, on stdout, one JSON line
// each prefixed with "@fuzz ", so the parent knows which case hung, crashed or ran out of memory.
//
//   node --import h5wasm/node --import tsx test/fuzz/child.ts FAMILY SEED FROM TO WORK
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Family } from "./family.ts";
import { FuzzFailure } from "./family.ts";
import { Rng } from "./rng.ts";

const [family, seedText, fromText, toText, work] = process.argv.slice(2);
const seed = Number(seedText);
const from = Number(fromText);
const to = Number(toText);

function say(line: object): void {
  process.stdout.write(`@fuzz ${JSON.stringify(line)}\n`);
}

const mod = (await import(`./family-${family}.ts`)) as { family: Family };
const started = Date.now();
mkdirSync(work, { recursive: true });
await mod.family.setup(join(work, "clean"));
say({ t: "ready", ms: Date.now() - started, rss: process.memoryUsage().rss });

for (let i = from; i < to; i++) {
  const dir = join(work, `case-${i}`);
  mkdirSync(dir, { recursive: true });
  say({ t: "start", i });
  const t0 = Date.now();
  try {
    const r = await mod.family.run(Rng.forCase(seed, family, i), dir, (what) =>
      say({ t: "note", i, what }),
    );
    say({
      t: "done",
      i,
      outcome: r.outcome,
      what: r.what,
      ms: Date.now() - t0,
      rss: process.memoryUsage().rss,
    });
  } catch (err) {
    const e = err as Error;
    say({
      t: "done",
      i,
      outcome: "fail",
      what: e instanceof FuzzFailure ? e.message : `harness error: ${e?.stack ?? String(err)}`,
      ms: Date.now() - t0,
      rss: process.memoryUsage().rss,
    });
  }
  rmSync(dir, { recursive: true, force: true });
}
say({ t: "end" });
