// Small served datasets, written by the real writer, and a server on 127.0.0.1 that a test starts
// and stops itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { PNG } from "pngjs";
import { createServer, type ServerOptions } from "../../src/server/app.ts";
import { LocalDirectory } from "../../src/server/local-directory.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";

export const HSC_ROWS = 2000;

/** Writes `<dir>/hsc` (HSC-like images and catalog columns, several files) and returns its path. */
export async function writeHsc(dir: string, rows = HSC_ROWS): Promise<string> {
  const root = join(dir, "hsc");
  await writeDataset(root, IMAGE_COLUMNS, inBatches(imageRows(rows), IMAGE_COLUMNS, 500), {
    config: "pdr3",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    maxRowsPerFile: 400,
  });
  return root;
}

export interface Running {
  app: FastifyInstance;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** Starts a server over `locations` on 127.0.0.1, port 0. */
export async function startServer(
  locations: string[],
  options: Omit<ServerOptions, "directory"> = {},
): Promise<Running> {
  const app = await createServer({ directory: await LocalDirectory.open(locations), ...options });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/** GET (or another method) returning status, headers and parsed JSON (or text). */
export async function call(
  url: string,
  init: RequestInit = {},
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON, checked field by field
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** GET a PNG answer: 200 and image/png checked, decoded by pngjs (an independent reader). */
export async function getPng(url: string): Promise<{ png: PNG; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url);
  assert.equal(
    res.status,
    200,
    `${url}: ${res.status} ${res.status !== 200 ? await res.text() : ""}`,
  );
  assert.equal(res.headers.get("content-type"), "image/png");
  const bytes = Buffer.from(await res.arrayBuffer());
  return { png: PNG.sync.read(bytes), bytes, headers: res.headers };
}
