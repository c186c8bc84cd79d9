// The files of a served dataset, for byte-range readers (`openDataset("http://host/api/v1/
// datasets/NAME/files/")`): GET and HEAD with a strong ETag, Range (206, 416), If-None-Match
// (304), If-Match (412), If-Range. Only the files the manifest names (and the manifest and card)
// are served, and only when their real path lies inside the dataset root: `..`, absolute paths,
// NUL, encoded traversal and symlinks out of the root are refused.

import { type FileHandle, open, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Manifest } from "../storage/manifest.ts";
import { isRemoteUrl } from "../storage/remote-hook.ts";
import type { ServerContext } from "./app.ts";
import { badParameter, notFound, ServiceError } from "./errors.ts";
import { NAME_PARAM } from "./params.ts";
import { datasetNamed, entryNamed } from "./routes-datasets.ts";

/** Longest file path accepted (bytes of the decoded path). */
const MAX_PATH_LENGTH = 1024;

/** Paths a reader of the dataset may fetch: manifest, card, partition files, sidecars. */
export function servedPaths(manifest: Manifest): Set<string> {
  const paths = new Set(["astropile.json", "README.md"]);
  for (const f of manifest.files) paths.add(f.path);
  for (const c of Object.values(manifest.configs)) {
    if (c.idIndex) paths.add(c.idIndex.path);
    if (c.positions) paths.add(c.positions.path);
  }
  return paths;
}

/**
 * Checks a requested path before it touches the file system: relative, forward slashes, no
 * empty, `.` or `..` segment, no NUL or backslash, bounded length. Throws 400 on `path`.
 */
export function checkRequestPath(path: string): void {
  if (path.length === 0)
    throw notFound("no file named (directory listings are not served)", "path");
  if (path.length > MAX_PATH_LENGTH) throw badParameter("path", "file path too long");
  if (path.includes("\u0000")) throw badParameter("path", "file path contains NUL");
  if (path.includes("\\")) throw badParameter("path", "file path contains a backslash");
  if (path.startsWith("/")) throw badParameter("path", "file path must be relative to the dataset");
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..")
      throw badParameter("path", `file path segment "${segment}" is not allowed`);
  }
}

/** A strong validator from the file's identity: inode, size and modification time (ns). */
function etagOf(s: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `"${s.ino.toString(16)}-${s.size.toString(16)}-${s.mtimeNs.toString(16)}"`;
}

function contentTypeOf(path: string): string {
  if (path.endsWith(".json")) return "application/json";
  if (path.endsWith(".md")) return "text/markdown; charset=utf-8";
  if (/\.(hdf5|h5)$/.test(path)) return "application/x-hdf5";
  return "application/octet-stream";
}

/** Entity tags of an If-Match / If-None-Match header ("*" stays "*"). */
function tagList(header: string): string[] {
  return header
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** The byte range asked for, null for the whole file, "unsatisfiable" for 416. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | "unsatisfiable" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or a syntax this server does not know: the whole file (RFC 9110 allows it).
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (!(suffix > 0) || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return "unsatisfiable";
  if (end < start) return null; // An invalid byte-range-spec: the header is ignored.
  return { start, end };
}

export function registerFileRoutes(app: FastifyInstance, context: ServerContext): void {
  app.route<{ Params: { name: string; "*": string } }>({
    method: ["GET", "HEAD"],
    url: "/api/v1/datasets/:name/files/*",
    config: { scope: "read" },
    schema: {
      summary: "A file of the dataset (manifest, card, partition file, sidecar), by byte ranges",
      tags: ["files"],
      params: {
        type: "object",
        properties: { name: NAME_PARAM, "*": { type: "string" } },
        required: ["name"],
      },
    },
    handler: async (req, reply) => {
      const rel = req.params["*"] ?? "";
      checkRequestPath(rel);
      const entry = await entryNamed(context, req, req.params.name);
      if (isRemoteUrl(entry.location))
        throw notFound(
          `dataset ${entry.name} is read from ${entry.location}: fetch its files there`,
        );
      const { dataset } = await datasetNamed(context, req, req.params.name);
      if (!servedPaths(dataset.manifest).has(rel))
        throw notFound(`dataset ${entry.name} has no file ${rel.slice(0, 200)}`, "path");
      const root = await realpath(dataset.root);
      let real: string;
      try {
        real = await realpath(join(root, rel));
      } catch {
        throw notFound(`dataset ${entry.name} has no file ${rel}`, "path");
      }
      if (!real.startsWith(root + sep))
        throw badParameter("path", `${rel} leads out of the dataset directory`);
      let handle: FileHandle;
      try {
        handle = await open(real, "r");
      } catch {
        throw notFound(`dataset ${entry.name} has no readable file ${rel}`, "path");
      }
      try {
        return await sendFile(req.method, req.headers, reply, handle, rel);
      } catch (err) {
        await handle.close().catch(() => {});
        throw err;
      }
    },
  });
}

/** Answers a GET/HEAD of an open file; the handle is closed when the answer is done. */
async function sendFile(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  reply: FastifyReply,
  handle: FileHandle,
  rel: string,
): Promise<FastifyReply> {
  const s = await handle.stat({ bigint: true });
  if (!s.isFile()) throw notFound(`${rel} is not a file`, "path");
  const size = Number(s.size);
  const etag = etagOf(s);
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(",") : v;
  };
  reply.header("ETag", etag);
  reply.header("Accept-Ranges", "bytes");
  reply.header("Last-Modified", new Date(Number(s.mtimeNs / 1_000_000n)).toUTCString());
  reply.header("Cache-Control", "no-cache");

  const ifMatch = header("if-match");
  if (ifMatch !== undefined) {
    const tags = tagList(ifMatch);
    if (!tags.includes("*") && !tags.includes(etag)) {
      await handle.close();
      throw new ServiceError(
        412,
        "ASTROPILE_PRECONDITION_FAILED",
        `${rel} changed (its ETag is not the one given in If-Match)`,
        "if-match",
      );
    }
  }
  const ifNoneMatch = header("if-none-match");
  if (ifNoneMatch !== undefined) {
    const tags = tagList(ifNoneMatch).map((t) => t.replace(/^W\//, ""));
    if (tags.includes("*") || tags.includes(etag)) {
      await handle.close();
      return reply.status(304).send();
    }
  }
  let range = parseRange(header("range"), size);
  const ifRange = header("if-range");
  if (range && ifRange !== undefined && ifRange.trim() !== etag) range = null;
  if (range === "unsatisfiable") {
    await handle.close();
    reply.header("Content-Range", `bytes */${size}`);
    throw new ServiceError(
      416,
      "ASTROPILE_RANGE_NOT_SATISFIABLE",
      `range ${header("range")} is outside the file (${size} bytes)`,
      "range",
    );
  }
  reply.type(contentTypeOf(rel));
  const start = range ? range.start : 0;
  const end = range ? range.end : size - 1;
  if (range) {
    reply.status(206);
    reply.header("Content-Range", `bytes ${start}-${end}/${size}`);
  }
  reply.header("Content-Length", String(Math.max(0, end - start + 1)));
  if (method === "HEAD" || size === 0) {
    await handle.close();
    return reply.send();
  }
  return reply.send(handle.createReadStream({ start, end, autoClose: true }));
}
