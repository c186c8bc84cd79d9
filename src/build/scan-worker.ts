// The catalog scan's worker thread (scan-pool.ts): scans its part of a plain CSV into its own
// row file and posts the outcome. Its errors are not raised here: the main thread reads the part
// again itself, so an error names the right line.
import { parentPort, workerData } from "node:worker_threads";
import { exitWhenAsked } from "../core/worker-stop.ts";
import { CellHistogram } from "../storage/partitioning.ts";
import { openCatalog } from "./catalog.ts";
import { FIRST_CARRY, RejectLog, rowDtypes, scanBatches } from "./plan.ts";
import { RowFileWriter } from "./rows-file.ts";
import type { ScanBatchInfo, ScanJob, ScanMessage, ScanOutcome } from "./scan-pool.ts";

const job = workerData as ScanJob;
const port = parentPort!;
const send = (m: ScanMessage) => port.postMessage(m);

async function run(): Promise<ScanOutcome> {
  const reader = await openCatalog(job.path, job.source);
  const writer = await RowFileWriter.create(job.rowsPath, rowDtypes(job.outputs));
  const batches: ScanBatchInfo[] = [];
  const hist = new CellHistogram();
  const log = new RejectLog();
  const firstCarry: Array<Record<string, string>> = [];
  try {
    // Rows numbered from 0 at the part's start; no header there.
    const range = { start: job.start, header: false };
    for await (const b of scanBatches(
      reader,
      job.needed,
      job.outputs,
      job.carry,
      job.file,
      hist,
      range,
    )) {
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
  } finally {
    await reader.close();
  }
  await writer.close(false);
  return { ok: true, batches, rejected: log.summary(), firstCarry, hist: hist.toJson() };
}

exitWhenAsked(port);
run().then(
  (outcome) => send({ type: "outcome", outcome }),
  (err: Error) => send({ type: "outcome", outcome: { ok: false, message: err.message } }),
);
