// The catalog scan's worker thread (scan-pool.ts): scans the jobs it is sent, one at a time, each
// into its own row file, and posts each outcome. A failure is posted, not raised: the main thread
// decides (it reads the rest of a split file itself, so an error names the right line; a whole
// file's error it raises in file order).
import { parentPort, workerData } from "node:worker_threads";
import { serializeError } from "../core/errors.ts";
import { exitWhenAsked, isStopMessage } from "../core/worker-stop.ts";
import { CellHistogram } from "../storage/partitioning.ts";
import { checkSourceColumns, openCatalog } from "./catalog.ts";
import { FIRST_CARRY, RejectLog, rowDtypes, scanBatches } from "./plan.ts";
import { RowFileWriter } from "./rows-file.ts";
import type { ScanBatchInfo, ScanJob, ScanMessage, ScanOutcome, ScanSetup } from "./scan-pool.ts";

const setup = workerData as ScanSetup;
const port = parentPort!;
const send = (m: ScanMessage) => port.postMessage(m);

async function run(job: ScanJob): Promise<ScanOutcome> {
  const reader = await openCatalog(job.path, setup.source);
  const batches: ScanBatchInfo[] = [];
  const hist = new CellHistogram();
  const log = new RejectLog();
  const firstCarry: Array<Record<string, string>> = [];
  try {
    checkSourceColumns(reader, setup.needed);
    const writer = await RowFileWriter.create(job.rowsPath, rowDtypes(setup.outputs));
    try {
      // The rest of a split file: rows numbered from 0 at its start, no header there.
      const range = job.start === undefined ? undefined : { start: job.start, header: false };
      const { needed, outputs, carry } = setup;
      for await (const b of scanBatches(reader, needed, outputs, carry, job.file, hist, range)) {
        await writer.append(b.block);
        batches.push({ rows: b.rows, valid: b.block.rows });
        for (const [row, objectId, reason] of b.rejected)
          log.add({ stage: "catalog", file: job.fileName, row, objectId, reason });
        for (const c of b.firstCarry) if (firstCarry.length < FIRST_CARRY) firstCarry.push(c);
        send({ type: "rows", rows: b.rows });
      }
    } catch (err) {
      await writer.abort();
      throw err;
    }
    await writer.close(false);
  } finally {
    await reader.close();
  }
  return { ok: true, batches, rejected: log.summary(), firstCarry, hist: hist.toJson() };
}

exitWhenAsked(port);
port.on("message", (msg: { job: ScanJob }) => {
  if (isStopMessage(msg)) return;
  run(msg.job).then(
    (outcome) => send({ type: "outcome", outcome }),
    (err: unknown) => send({ type: "outcome", outcome: { ok: false, error: serializeError(err) } }),
  );
});
