// The write side of the service (docs/service.md, "Write"): a dataset published over HTTP.
// Each file goes up with `PUT /api/v1/datasets/:name/files/<path>` and its sha256 in
// `X-Checksum-SHA256`; it is streamed to a temporary file of the dataset's staging area
// (`<root>/.staging/<name>/`), hashed while written, and renamed into place only when the hash
// matches. The manifest comes last: it is parsed by the storage layer's reader, every file it
// names must be staged with its bytes and sha256, and the staged directory is then renamed to
// `<root>/<name>` (a replaced dataset is renamed away first, deleted after), so readers never see
// half a dataset. One staging area per name, owned by the key that opened it; a publish commits
// under an in-process lock (the server is one process).

import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, type Dirent } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { isAstroPileError } from "../core/errors.ts";
import { type Manifest, parseManifest } from "../storage/manifest.ts";
import type { ServerContext, ServerRoutes } from "./app.ts";
import { badParameter, notFound, ServiceError, tooLarge } from "./errors.ts";
import { NAME_PARAM, NAME_PARAMS } from "./params.ts";

/** Options of {@link uploadRoutes}. */
export interface UploadOptions {
  /**
   * Directory receiving published datasets: each lands in `<root>/<name>`; staging areas live in
   * `<root>/.staging` (same file system, so the final move is a rename).
   */
  root: string;
  /**
   * Called after a dataset was moved into place (`dir` = `<root>/<name>`), before the answer is
   * sent: the directory serving datasets adds (or re-reads) it here. An error it throws is
   * answered as the publish's error, the dataset staying published.
   */
  onPublished?: (name: string, dir: string) => void | Promise<void>;
  /** Largest file accepted (bytes). Default 64 GiB. */
  maxFileBytes?: number;
  /** Largest manifest accepted (bytes). Default 256 MiB. */
  maxManifestBytes?: number;
  /**
   * A staging area with no upload for this long is abandoned (a publisher that died and never
   * resumed): it is removed by a sweep (at start, then hourly) and another key may take the name
   * over. Default 24 hours.
   */
  stagingTtlMs?: number;
}

/** One file of a staging area, as listed by `GET /api/v1/datasets/:name/upload`. */
export interface StagedFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** The answer of `GET /api/v1/datasets/:name/upload`. */
export interface UploadStatus {
  name: string;
  /** A dataset of this name is already published (a new publish needs `?replace=true`). */
  published: boolean;
  /** Files staged so far, each verified against its sha256. */
  files: StagedFile[];
}

/** The answer of the manifest's `PUT`: the dataset is published. */
export interface PublishedAnswer {
  name: string;
  files: number;
  bytes: number;
  /** A previous version was replaced. */
  replaced: boolean;
}

const MANIFEST = "astropile.json";
const CHECKSUM_HEADER = "x-checksum-sha256";
const MAX_PATH_LENGTH = 1024;
const STAGING = ".staging";

/**
 * Checks a file path of an upload (or named by an uploaded manifest): relative, forward slashes,
 * no empty, `.` or `..` segment, no NUL, control character, backslash or `%` (a path still
 * percent-encoded after the router decoded it is a double-encoding attempt). Throws 400 naming
 * `parameter`.
 */
export function checkUploadPath(path: string, parameter = "path"): void {
  if (path.length === 0) throw badParameter(parameter, "no file path given");
  if (path.length > MAX_PATH_LENGTH) throw badParameter(parameter, "file path too long");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw badParameter(parameter, "file path contains a control character");
  if (path.includes("\\")) throw badParameter(parameter, "file path contains a backslash");
  if (path.includes("%")) throw badParameter(parameter, "file path contains an encoded character");
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path))
    throw badParameter(parameter, "file path must be relative to the dataset");
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..")
      throw badParameter(parameter, `file path segment "${segment}" is not allowed`);
  }
}

/** A hex sha256 header value, lower-cased; 400 naming the header otherwise. */
function checksumOf(req: FastifyRequest): string {
  const raw = req.headers[CHECKSUM_HEADER];
  if (typeof raw !== "string" || raw.trim() === "")
    throw badParameter(
      "X-Checksum-SHA256",
      "the X-Checksum-SHA256 header (hex sha256) is required",
    );
  const hex = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw badParameter("X-Checksum-SHA256", "X-Checksum-SHA256 must be 64 hex digits");
  return hex;
}

/** Where a name's staging area keeps things. */
class Staging {
  readonly dir: string;
  readonly files: string;
  readonly sums: string;
  readonly tmp: string;
  readonly owner: string;
  constructor(root: string, name: string) {
    this.dir = join(root, STAGING, name);
    this.files = join(this.dir, "files");
    this.sums = join(this.dir, "sums");
    this.tmp = join(this.dir, "tmp");
    this.owner = join(this.dir, "owner.json");
  }
  /** The sidecar recording a staged file's verified sha256, size and modification time. */
  sumPath(rel: string): string {
    return join(this.sums, `${rel}.json`);
  }
}

interface SumRecord {
  sha256: string;
  bytes: number;
  mtimeMs: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** When the staging area last received an upload (ms since the epoch; its owner file is touched by each). */
async function lastActivity(staging: Staging): Promise<number> {
  const s = await stat(staging.owner).catch(() => stat(staging.dir));
  return s.mtimeMs;
}

const DEFAULT_STAGING_TTL_MS = 24 * 3600 * 1000;

/**
 * Removes the staging areas under `root` (a publish root) with no upload for `ttlMs`, except
 * those named in `busy` (being committed). Returns the names removed.
 */
export async function sweepStaging(
  root: string,
  ttlMs = DEFAULT_STAGING_TTL_MS,
  busy: ReadonlySet<string> = new Set(),
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(join(root, STAGING), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || busy.has(e.name)) continue;
    const staging = new Staging(root, e.name);
    const last = await lastActivity(staging).catch(() => now);
    if (now - last <= ttlMs) continue;
    await rm(staging.dir, { recursive: true, force: true });
    removed.push(e.name);
  }
  return removed;
}

/** The staged file's verified record, if the file is there unchanged since it was verified. */
async function stagedRecord(staging: Staging, rel: string): Promise<SumRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(staging.sumPath(rel), "utf8")) as SumRecord;
    const s = await stat(join(staging.files, rel));
    if (!s.isFile() || s.size !== record.bytes || s.mtimeMs !== record.mtimeMs) return undefined;
    return record;
  } catch {
    return undefined;
  }
}

/** Every staged file with a valid record (paths relative, forward slashes). */
async function listStaged(staging: Staging): Promise<StagedFile[]> {
  const out: StagedFile[] = [];
  const walk = async (dir: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), rel);
      else if (e.isFile()) {
        const record = await stagedRecord(staging, rel);
        if (record) out.push({ path: rel, bytes: record.bytes, sha256: record.sha256 });
      }
    }
  };
  await walk(staging.files, "");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Streams `body` into `target` through a temporary file, hashing as it goes; the temporary file
 * is renamed to `target` only when the size is within `maxBytes` and the sha256 is `expected`.
 * Nothing is left behind on failure.
 */
async function receive(
  body: Readable,
  staging: Staging,
  target: string,
  expected: string,
  maxBytes: number,
  parameter: string,
): Promise<SumRecord> {
  await mkdir(staging.tmp, { recursive: true });
  const tmp = join(staging.tmp, `${randomBytes(8).toString("hex")}.part`);
  const hash = createHash("sha256");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done(tooLarge(`file is larger than the ${maxBytes}-byte limit`, parameter));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(tmp, { flags: "wx" }));
    const got = hash.digest("hex");
    if (got !== expected)
      throw badParameter(
        "X-Checksum-SHA256",
        `${parameter}: the body's sha256 is ${got}, not the X-Checksum-SHA256 header's ${expected}`,
      );
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
    const s = await stat(target);
    return { sha256: got, bytes, mtimeMs: s.mtimeMs };
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof ServiceError) throw err;
    const e = err as NodeJS.ErrnoException;
    // The client went away or the stream broke: a 400 nobody reads, nothing kept.
    // A file where the path needs a directory, or the reverse (`a` staged, then `a/b`).
    if (e.code === "ENOTDIR" || e.code === "EISDIR" || e.code === "EEXIST")
      throw new ServiceError(
        409,
        "ASTROPILE_UPLOAD_CONFLICT",
        `${parameter} clashes with a file or directory already staged`,
        "path",
      );
    if (e.code === "ERR_STREAM_PREMATURE_CLOSE" || e.code === "ECONNRESET" || e.code === "EPIPE")
      throw new ServiceError(400, "ASTROPILE_UPLOAD_ABORTED", `${parameter}: upload interrupted`);
    throw err;
  }
}

/** The files a manifest needs staged: partition files and the sidecars, with bytes and sha256. */
function requiredFiles(manifest: Manifest): { path: string; bytes: number; sha256?: string }[] {
  const out = manifest.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 }));
  for (const c of Object.values(manifest.configs)) {
    if (c.idIndex)
      out.push({ path: c.idIndex.path, bytes: c.idIndex.bytes, sha256: c.idIndex.sha256 });
    if (c.positions)
      out.push({ path: c.positions.path, bytes: c.positions.bytes, sha256: c.positions.sha256 });
  }
  return out;
}

/**
 * The routes receiving published datasets, for `createServer({ routes: [uploadRoutes(...)] })`
 * (docs/service.md, "Write"), all needing an API key with the `write` scope:
 * - `PUT /api/v1/datasets/:name/files/<path>` with `X-Checksum-SHA256`: stage one file
 *   (streamed, not limited by the app's body limit, capped by `maxFileBytes`); the manifest
 *   `astropile.json` last publishes the dataset (`?replace=true` to replace a published one);
 * - `GET /api/v1/datasets/:name/upload`: the staged files with their sha256 (a resuming client
 *   skips them) and whether the name is published;
 * - `DELETE /api/v1/datasets/:name/upload`: abort, removing the staging area.
 */
export function uploadRoutes(options: UploadOptions): ServerRoutes {
  const maxFileBytes = options.maxFileBytes ?? 64 * 1024 ** 3;
  const maxManifestBytes = options.maxManifestBytes ?? 256 * 1024 ** 2;
  const stagingTtlMs = options.stagingTtlMs ?? DEFAULT_STAGING_TTL_MS;
  /** Names whose publish is being committed (the manifest's PUT holds it). */
  const committing = new Set<string>();

  return async (app: FastifyInstance, _context: ServerContext) => {
    const sweep = () =>
      sweepStaging(options.root, stagingTtlMs, committing).then(
        (names) => {
          if (names.length > 0) app.log.info({ names }, "abandoned staging areas removed");
        },
        (err) => app.log.error({ err }, "staging sweep failed"),
      );
    await sweep();
    const timer = setInterval(sweep, Math.min(stagingTtlMs, 3600 * 1000));
    timer.unref();
    app.addHook("onClose", async () => clearInterval(timer));
    await app.register(async (scope) => {
      // Bodies reach the handler as the raw stream, whatever their content type.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

      /** 409 while `name`'s manifest is being committed (uploads and aborts wait for it). */
      const refuseWhileCommitting = (name: string): void => {
        if (committing.has(name))
          throw new ServiceError(
            409,
            "ASTROPILE_UPLOAD_BUSY",
            `dataset ${name} is being published right now`,
            "name",
          );
      };

      /** Opens (or joins) the staging area of `name` for the request's key; 409 otherwise. */
      const openStaging = async (req: FastifyRequest, name: string): Promise<Staging> => {
        const staging = new Staging(options.root, name);
        refuseWhileCommitting(name);
        const keyId = req.apiKey?.id ?? "";
        await mkdir(staging.dir, { recursive: true });
        try {
          await writeFile(
            staging.owner,
            JSON.stringify({ keyId, started: new Date().toISOString() }),
            {
              flag: "wx",
            },
          );
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          const owner = JSON.parse(await readFile(staging.owner, "utf8").catch(() => "{}")) as {
            keyId?: string;
          };
          if (owner.keyId !== keyId) {
            // Abandoned (no upload for the TTL): the new publisher starts afresh.
            if (Date.now() - (await lastActivity(staging)) > stagingTtlMs) {
              await rm(staging.dir, { recursive: true, force: true });
              return openStaging(req, name);
            }
            throw new ServiceError(
              409,
              "ASTROPILE_UPLOAD_BUSY",
              `another API key is uploading dataset ${name}; it must finish, or DELETE /api/v1/datasets/${name}/upload aborts it (or it is abandoned after ${Math.round(stagingTtlMs / 3.6e6)} h without uploads)`,
              "name",
            );
          }
          const now = new Date();
          await utimes(staging.owner, now, now);
        }
        return staging;
      };

      scope.route<{
        Params: { name: string; "*": string };
        Querystring: { replace?: boolean };
      }>({
        method: "PUT",
        url: "/api/v1/datasets/:name/files/*",
        config: { scope: "write" },
        bodyLimit: Math.max(maxFileBytes, maxManifestBytes),
        schema: {
          summary: "Upload one file of a dataset being published (the manifest last publishes it)",
          tags: ["write"],
          params: {
            type: "object",
            properties: { name: NAME_PARAM, "*": { type: "string" } },
            required: ["name"],
          },
          querystring: {
            type: "object",
            properties: {
              replace: {
                type: "boolean",
                description: "With the manifest: replace a published dataset of this name.",
              },
            },
          },
          headers: {
            type: "object",
            properties: {
              "x-checksum-sha256": { type: "string", description: "Hex sha256 of the body." },
            },
          },
        },
        handler: async (req, reply) => {
          const name = req.params.name;
          const rel = req.params["*"] ?? "";
          checkUploadPath(rel);
          const expected = checksumOf(req);
          const declared = Number(req.headers["content-length"]);
          const isManifest = rel === MANIFEST;
          const cap = isManifest ? maxManifestBytes : maxFileBytes;
          if (Number.isFinite(declared) && declared > cap)
            throw tooLarge(`${rel} is larger than the ${cap}-byte limit`, "body");
          const published = join(options.root, name);
          if (isManifest && req.query.replace !== true && (await exists(published)))
            throw new ServiceError(
              409,
              "ASTROPILE_DATASET_EXISTS",
              `dataset ${name} is already published; publish with ?replace=true to replace it`,
              "name",
            );
          const staging = await openStaging(req, name);
          const body = (req.body as Readable | undefined) ?? req.raw;
          if (!isManifest) {
            const record = await receive(
              body,
              staging,
              join(staging.files, rel),
              expected,
              maxFileBytes,
              rel,
            );
            await mkdir(dirname(staging.sumPath(rel)), { recursive: true });
            await writeFile(staging.sumPath(rel), JSON.stringify(record));
            return reply
              .status(201)
              .send({ path: rel, bytes: record.bytes, sha256: record.sha256 });
          }
          committing.add(name);
          try {
            return reply
              .status(201)
              .send(await commit(req, staging, name, expected, body, req.query.replace === true));
          } finally {
            committing.delete(name);
          }
        },
      });

      /** Receives the manifest, checks the staged files against it, moves the dataset in place. */
      const commit = async (
        req: FastifyRequest,
        staging: Staging,
        name: string,
        expected: string,
        body: Readable,
        replace: boolean,
      ): Promise<PublishedAnswer> => {
        const manifestTmp = join(staging.tmp, `manifest-${randomBytes(6).toString("hex")}.json`);
        await receive(body, staging, manifestTmp, expected, maxManifestBytes, MANIFEST);
        try {
          let manifest: Manifest;
          try {
            manifest = parseManifest(await readFile(manifestTmp, "utf8"), MANIFEST);
          } catch (err) {
            if (isAstroPileError(err)) throw new ServiceError(400, err.code, err.message, MANIFEST);
            throw err;
          }
          const required = requiredFiles(manifest);
          const missing: string[] = [];
          let bytes = 0;
          for (const f of required) {
            checkUploadPath(f.path, MANIFEST);
            const record = await stagedRecord(staging, f.path);
            if (!record) {
              missing.push(`${f.path} (not uploaded)`);
              continue;
            }
            if (record.bytes !== f.bytes)
              missing.push(
                `${f.path} (${record.bytes} bytes staged, the manifest says ${f.bytes})`,
              );
            else if (f.sha256 && record.sha256 !== f.sha256)
              missing.push(
                `${f.path} (staged sha256 ${record.sha256}, the manifest says ${f.sha256})`,
              );
            bytes += record.bytes;
          }
          if (missing.length > 0)
            throw new ServiceError(
              409,
              "ASTROPILE_UPLOAD_INCOMPLETE",
              `the manifest names files not staged as it describes them: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}; upload them first, the manifest last`,
              MANIFEST,
            );
          await rename(manifestTmp, join(staging.files, MANIFEST));
          // Move in: the old version (if any) away, the new one in, the old one deleted.
          const target = join(options.root, name);
          let old: string | undefined;
          if (await exists(target)) {
            if (!replace)
              throw new ServiceError(
                409,
                "ASTROPILE_DATASET_EXISTS",
                `dataset ${name} is already published; publish with ?replace=true to replace it`,
                "name",
              );
            old = join(options.root, STAGING, `${name}.old-${randomBytes(6).toString("hex")}`);
            await rename(target, old);
          }
          try {
            await rename(staging.files, target);
          } catch (err) {
            if (old) await rename(old, target).catch(() => {});
            throw err;
          }
          await rm(staging.dir, { recursive: true, force: true });
          req.log.info({ dataset: name, replaced: old !== undefined }, "dataset published");
          try {
            await options.onPublished?.(name, target);
          } finally {
            if (old) await rm(old, { recursive: true, force: true });
          }
          return { name, files: required.length, bytes, replaced: old !== undefined };
        } finally {
          await rm(manifestTmp, { force: true });
        }
      };

      scope.route<{ Params: { name: string } }>({
        method: "GET",
        url: "/api/v1/datasets/:name/upload",
        config: { scope: "write" },
        schema: {
          summary: "Files staged so far for a dataset being published (to resume a publish)",
          tags: ["write"],
          params: NAME_PARAMS,
        },
        handler: async (req): Promise<UploadStatus> => {
          const name = req.params.name;
          const staging = new Staging(options.root, name);
          return {
            name,
            published: await exists(join(options.root, name, MANIFEST)),
            files: await listStaged(staging),
          };
        },
      });

      scope.route<{ Params: { name: string } }>({
        method: "DELETE",
        url: "/api/v1/datasets/:name/upload",
        config: { scope: "write" },
        schema: {
          summary: "Abort a publish: remove the dataset's staging area",
          tags: ["write"],
          params: NAME_PARAMS,
        },
        handler: async (req, reply) => {
          const name = req.params.name;
          refuseWhileCommitting(name);
          const staging = new Staging(options.root, name);
          if (!(await exists(staging.dir)))
            throw notFound(`no upload of dataset ${name} in progress`, "name");
          await rm(staging.dir, { recursive: true, force: true });
          return reply.status(204).send();
        },
      });
    });
  };
}
