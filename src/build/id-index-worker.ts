// The object_id index thread (id-index-thread.ts): merges the units' sorted indexes, file
// ordinals shifted to the dataset's list, and writes the index.
import { parentPort, workerData } from "node:worker_threads";
import { serializeError } from "../core/errors.ts";
import { exitWhenAsked } from "../core/worker-stop.ts";
import { ExternalSorter } from "../storage/external-sort.ts";
import { ID_INDEX_COLUMNS, writeIdIndex } from "../storage/id-index.ts";
import type { IdIndexJob, IdIndexMessage } from "./id-index-thread.ts";

const job = workerData as IdIndexJob;
const port = parentPort!;
const send = (m: IdIndexMessage) => port.postMessage(m);

async function run(): Promise<IdIndexMessage> {
  const sorter = new ExternalSorter(ID_INDEX_COLUMNS, "id_key", job.scratch, job.memoryBytes);
  try {
    // Each unit's index is sorted by id_key already: merged as it is, not sorted again.
    for (const input of job.inputs) {
      await sorter.addSortedFile(input.path, {
        rows: input.rows,
        adjust: (b) => {
          const f = b.file as Uint32Array;
          for (let i = 0; i < f.length; i++) f[i] += input.offset;
        },
      });
    }
    const entry = await writeIdIndex(job.root, job.config, sorter, job.fileList);
    return { type: "done", entry };
  } finally {
    await sorter.close();
  }
}

exitWhenAsked(port);
run().then(send, (err: unknown) => send({ type: "error", error: serializeError(err) }));
