// A worker of `serveDatasets({ workers: N })` (node:cluster runs this module in each worker): it
// builds the same service as one process would, listens (the primary shares one socket between
// the workers), tells the primary its port, and on the primary's "stop" finishes the requests
// under way and exits 0. It ignores SIGINT: Ctrl-C reaches every process of the terminal's group,
// and the primary decides the order of the stop. A lost primary ends the worker (node:cluster).

import { serializeError } from "../core/errors.ts";
import {
  buildService,
  closeService,
  WORKER_ENV,
  type WorkerMessage,
  type WorkerSetup,
} from "./serve.ts";

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  const raw = process.env[WORKER_ENV];
  if (!raw || !process.send) {
    process.stderr.write("astropile: serve-worker runs only as a worker of serveDatasets\n");
    process.exit(2);
  }
  const setup = JSON.parse(raw) as WorkerSetup;
  let stopping = false;
  let built: Awaited<ReturnType<typeof buildService>> | undefined;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (built) await closeService(built).catch(() => {});
    process.exit(0);
  };
  process.on("SIGINT", () => {});
  process.once("SIGTERM", () => void stop());
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "astropile:stop") void stop();
  });
  try {
    built = await buildService(setup.options, { index: setup.index, workers: setup.workers });
    if (stopping) {
      await closeService(built).catch(() => {});
      process.exit(0);
    }
    await built.app.listen({
      host: setup.options.host ?? "127.0.0.1",
      port: setup.options.port ?? 8765,
    });
  } catch (err) {
    await send({ type: "astropile:failed", error: serializeError(err) });
    process.exit(1);
  }
  const address = built.app.server.address();
  const port = address && typeof address === "object" ? address.port : -1;
  const datasets = (await built.directory.list()).map((e) => e.name);
  await send({ type: "astropile:listening", port, datasets });
}

await main();
