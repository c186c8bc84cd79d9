// Publishing a local dataset to an AstroPile server (docs/service.md, "Write"), over plain HTTP:
//  1. `GET <dest>/upload` lists what the server already staged (path, bytes, sha256) and whether
//     the name is published; staged files with the local sha256 are skipped (a killed publish
//     resumes), and a published name needs `replace`;
//  2. every other file goes up with `PUT <dest>/files/<path>` and `X-Checksum-SHA256` (streamed
//     from disk; the server verifies the hash before keeping the file; network failures, 5xx and
//     429 retried with backoff);
//  3. the manifest last (`?replace=true` when asked): the server checks every file it names and
//     moves the dataset into place.
import { createReadStream } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { PublishError, RemoteAccessDeniedError, redactUrl } from "./errors.ts";
import {
  carryOut,
  MANIFEST,
  type PublishOptions,
  type PublishResult,
  planPublish,
} from "./publish.ts";

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
  json: any;
  text: string;
}

/** One request; the body (a file) is streamed. Answers are small JSON documents. */
function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  file?: { path: string; bytes: number },
  timeoutMs = 120_000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      {
        method,
        // A connection per request: no idle keep-alive socket the server may close under a
        // reused request ("socket hang up"); a file's upload costs far more than a handshake.
        agent: false,
        headers: file
          ? { ...headers, "content-type": "application/octet-stream", "content-length": file.bytes }
          : headers,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    if (file) {
      const stream = createReadStream(file.path);
      stream.on("error", (err) => req.destroy(err));
      stream.pipe(req);
    } else req.end();
  });
}

/** The error an answer other than 2xx stands for: access denied (401/403) or a failed publish. */
function failure(answer: Answer, where: string, what: string): Error {
  const e = answer.json?.error as { code?: string; message?: string } | undefined;
  const detail = e?.message ?? answer.text.slice(0, 300);
  const message = `${what}: HTTP ${answer.status}${e?.code ? ` ${e.code}` : ""}: ${detail}`;
  if (answer.status === 401 || answer.status === 403)
    return new RemoteAccessDeniedError(message, { file: redactUrl(where) });
  return new PublishError(message, { file: redactUrl(where) });
}

function networkFailure(err: unknown, where: string, what: string): PublishError {
  return new PublishError(`${what}: ${(err as Error).message}`, { file: redactUrl(where) });
}

/** `http(s)://host/api/v1/datasets/NAME` split into its base (no trailing slash) and name. */
function parseDestination(dest: string): { base: string; name: string } {
  let u: URL;
  try {
    u = new URL(dest);
  } catch {
    throw new UsageError(`not a URL: ${redactUrl(dest)}`);
  }
  const m = /^(.*\/api\/v1\/datasets)\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\/?$/.exec(u.pathname);
  if (!m || u.search)
    throw new UsageError(
      `an AstroPile server destination is http(s)://host:port/api/v1/datasets/NAME, got ${redactUrl(dest)}`,
    );
  u.pathname = `${m[1]}/${m[2]}`;
  return { base: u.toString(), name: m[2]! };
}

/** Publishes `dir` to an AstroPile server; see {@link publishDataset}. */
export async function publishToServer(
  dir: string,
  dest: string,
  options: PublishOptions,
): Promise<PublishResult> {
  const { base } = parseDestination(dest);
  const apiKey = options.apiKey ?? process.env.ASTROPILE_API_KEY;
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const retries = options.retries ?? 3;

  const result = await planPublish(dir, redactUrl(base), options, async () => {
    // What the server already holds for this name.
    let status: Answer;
    try {
      status = await send("GET", `${base}/upload`, headers, undefined, timeoutMs);
    } catch (err) {
      throw networkFailure(err, base, "cannot reach the server");
    }
    if (status.status !== 200) throw failure(status, base, "cannot read the upload status");
    const staged = new Map<string, { bytes: number; sha256: string }>();
    for (const f of (status.json?.files ?? []) as { path: string; bytes: number; sha256: string }[])
      staged.set(f.path, f);
    if (status.json?.published === true && !options.replace && !options.dryRun)
      throw new PublishError(
        "a dataset of this name is already published; pass replace (--replace) to replace it",
        { file: redactUrl(base) },
      );
    return async (rel, bytes, sha256) => {
      const there = staged.get(rel);
      // The manifest always goes up: it is the commit.
      return rel !== MANIFEST && there?.bytes === bytes && there.sha256 === sha256;
    };
  });
  if (options.dryRun) return result;

  await carryOut(result.files, options, async (item) => {
    const encoded = item.path.split("/").map(encodeURIComponent).join("/");
    const query = item.path === MANIFEST && options.replace ? "?replace=true" : "";
    const url = `${base}/files/${encoded}${query}`;
    // Network failures, 5xx and 429 are retried (the server keeps nothing of a failed PUT);
    // other refusals are final.
    let answer: Answer | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        answer = await send(
          "PUT",
          url,
          { ...headers, "x-checksum-sha256": item.sha256 },
          { path: join(dir, item.path), bytes: item.bytes },
          timeoutMs,
        );
        if ((answer.status < 500 && answer.status !== 429) || attempt >= retries) break;
      } catch (err) {
        if (attempt >= retries) throw networkFailure(err, url, `upload of ${item.path} failed`);
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    if (answer.status !== 201 && answer.status !== 200)
      throw failure(answer, url, `upload of ${item.path} refused`);
  });
  return result;
}
