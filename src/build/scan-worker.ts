// The catalog scan's worker thread (scan-pool.ts): scans its byte range and posts the outcome.
import { parentPort, workerData } from "node:worker_threads";
import type { Dtype } from "../core/columns.ts";
import { csvByteBatches } from "../formats/csv-bytes.ts";
import { CellHistogram } from "../storage/partitioning.ts";
import type { CatalogReader } from "./catalog.ts";
import { scanBatches } from "./plan.ts";
import { RowFileWriter } from "./rows-file.ts";
import type { ScanBatchInfo, ScanJob, ScanOutcome } from "./scan-pool.ts";

const job = workerData as ScanJob;
const port = parentPort!;

async function run(): Promise<ScanOutcome> {
  const reader: CatalogReader = {
    path: job.path,
    specs: [],
    batches: () => {
      throw new Error("unused");
    },
    byteBatches: (columns, batchRows, range) => {
      const slotOf: Record<string, number> = Object.create(null);
      const fields = columns.map((c, k) => {
        slotOf[c] = k;
        return job.names.indexOf(c);
      });
      const options = {
        delimiter: job.source.delimiter ?? ",",
        comment: job.source.comment,
        file: job.path,
        width: job.names.length,
        fields,
        header: false,
        ...range,
      };
      return { slotOf, batches: csvByteBatches(job.path, options, batchRows) };
    },
    close: async () => {},
  };
  const writer = await RowFileWriter.create(job.rowsPath, job.dtypes as Record<string, Dtype>);
  const batches: ScanBatchInfo[] = [];
  const hist = new CellHistogram();
  try {
    for await (const b of scanBatches(reader, job.needed, job.outputs, job.carry, job.file, {
      start: job.start,
    })) {
      await writer.append(b.block);
      hist.addKeys(b.block.key);
      batches.push({
        rows: b.rows,
        valid: b.block.rows,
        rejected: b.rejected,
        firstCarry: b.firstCarry,
      });
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.close();
  return { ok: true, batches, hist: hist.toJson() };
}

run().then(
  (o) => port.postMessage(o),
  (err: Error) => port.postMessage({ ok: false, message: err.message } satisfies ScanOutcome),
);
