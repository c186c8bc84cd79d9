// A server process whose job worker is killed mid-job by test/server/jobs.test.ts: it opens a
// JobQueue (worker on) on each queue name given, with short locks, and a dataset resolver that
// never answers, so every job it takes stays running here until the process is killed. It
// prints "RUNNING <queue>" when a job of that queue started. Its data directory is the test's
// (a killed process removes nothing).
import { JobQueue } from "../../src/server/jobs.ts";

const [url, dataDir, ...queueNames] = process.argv.slice(2);
for (const queueName of queueNames) {
  await JobQueue.open({
    connection: url!,
    dataDir: dataDir!,
    queueName,
    lockDurationMs: 1000,
    stalledIntervalMs: 500,
    resolveDataset: () => {
      process.stdout.write(`RUNNING ${queueName}\n`);
      return new Promise<string>(() => {});
    },
  });
}
process.stdout.write("READY\n");
