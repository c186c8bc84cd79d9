// Child process of the lock tests: takes the writer lock of a directory as a real, separate
// process would, and reports on stdout, one line per event. The job is JSON in argv[2]:
//   { mode: "hold", dir }            take the lock, print "won", then wait (to be killed)
//   { mode: "exit", dir }            take the lock, print "won", end without releasing it
//   { mode: "race", dir, sync, rounds }
//        for each round r: wait for <sync>/go-<r>, try the lock once (no waiting), print
//        "<r> won" or "<r> locked", wait for <sync>/end-<r>, release if won, print "<r> done"
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isAstroPileError } from "../../src/core/errors.ts";
import { acquireWriterLock } from "../../src/core/lock.ts";

type Job =
  | { mode: "hold" | "exit"; dir: string }
  | { mode: "race"; dir: string; sync: string; rounds: number };

const job = JSON.parse(process.argv[2]!) as Job;
const say = (line: string) => process.stdout.write(`${line}\n`);

async function until(path: string): Promise<void> {
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 2));
}

if (job.mode === "race") {
  say("ready");
  for (let r = 0; r < job.rounds; r++) {
    await until(join(job.sync, `go-${r}`));
    let lock: Awaited<ReturnType<typeof acquireWriterLock>> | null = null;
    try {
      lock = await acquireWriterLock(job.dir, { command: `racer ${process.pid}` });
      say(`${r} won`);
    } catch (err) {
      if (!isAstroPileError(err, "ASTROPILE_LOCKED")) throw err;
      say(`${r} locked`);
    }
    await until(join(job.sync, `end-${r}`));
    await lock?.release();
    say(`${r} done`);
  }
} else {
  await acquireWriterLock(job.dir, { command: `lock-child ${job.mode}` });
  say("won");
  if (job.mode === "hold") setInterval(() => {}, 1 << 30);
}
