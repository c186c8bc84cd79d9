// Publishing a local dataset to S3 (the design's push_to_hub). Order and checks:
//  1. plan: every file of the dataset directory; files already at the destination with the same
//     size and sha256 (recorded as object metadata at upload) are skipped, so a re-publish moves
//     only changed files and a publish killed half-way resumes where it stopped;
//  2. data files uploaded in parallel (multipart above one part, 16 MiB by default, the parts of
//     a file in order, each read straight from the file), each
//     verified: the bytes sent are hashed on the way (sha256 against the manifest's, so a file
//     changed under the publish is caught, and MD5 per part), and the store's ETag must be the
//     MD5 of what it received (S3's ETag of a plain or multipart upload); a store whose ETag is
//     not that (SSE-KMS, some S3-compatible stores) or disagrees has the object read back and
//     hashed against the local sha256 instead;
//  3. the dataset card, then the manifest, last: a reader opening the destination sees the
//     previous manifest until the new one is complete.
// A file the destination already has with other bytes (a partition file rewritten since the last
// publish) is not overwritten while it uploads: it goes to `<prefix>/.astropile-staging/` and is
// copied into place (a server-side copy, verified) only once every file is up, just before the
// card and the manifest. A publish that fails while uploading leaves the previous version whole.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import { UsageError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { readManifest } from "../storage/manifest.ts";
import { PublishError, redactUrl } from "./errors.ts";
import {
  bounded,
  parseS3,
  s3Client,
  s3Sdk,
  type TransportOptions,
  withRetries,
} from "./transport.ts";

/** Options of {@link publishDataset}. */
export interface PublishOptions extends TransportOptions {
  /** List what would move, upload nothing. */
  dryRun?: boolean;
  /** Files uploaded at once (default 4). */
  concurrency?: number;
  /**
   * Part size of multipart uploads (default 16 MiB; S3's minimum is 5 MiB): a file larger than
   * one part goes up in parts, in order, each read straight from the file (files go up in
   * parallel: `concurrency`).
   */
  partBytes?: number;
  /**
   * Check each uploaded object (default true): by its ETag when the store makes it the MD5 of
   * the bytes received (S3), else by reading it back and comparing its sha256.
   */
  verify?: boolean;
  /** Called after each file. */
  onProgress?: (p: PublishProgress) => void;
  /**
   * API key with the write scope, for an AstroPile server destination (`http(s)://host/api/v1/
   * datasets/NAME`); default $ASTROPILE_API_KEY. Sent as `Authorization: Bearer`, never logged.
   */
  apiKey?: string;
  /** AstroPile server destination: replace a dataset already published under that name. */
  replace?: boolean;
}

export interface PublishProgress {
  file: string;
  action: "upload" | "skip";
  filesDone: number;
  filesTotal: number;
  bytesUploaded: number;
}

/** One file of a publish plan. */
export interface PublishItem {
  /** Path relative to the dataset root (POSIX separators). */
  path: string;
  bytes: number;
  sha256: string;
  action: "upload" | "skip";
}

export interface PublishResult {
  destination: string;
  files: PublishItem[];
  uploadedBytes: number;
  skippedBytes: number;
  dryRun: boolean;
}

/** The manifest (uploaded last: the commit) and the dataset card (just before it). */
export const MANIFEST = "astropile.json";
export const CARD = "README.md";
/** Where replacements of files the destination already has wait until the commit (S3). */
export const STAGING = ".astropile-staging";
/**
 * The x-amz-copy-source of an object: its key URL-encoded, but "=" left as it is (AstroPile's
 * `healpix=N` paths): s3rver decodes the header with decodeURI, which leaves "%3D" encoded.
 */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key
    .split("/")
    .map((seg) => encodeURIComponent(seg).replace(/%3D/g, "="))
    .join("/")}`;
}

/** S3's largest single CopyObject: larger replaced files are overwritten in place. */
const MAX_COPY_BYTES = 5 * 2 ** 30;

/** Files of a dataset directory to publish (lock, temporary and hidden files left out). */
export async function datasetFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".") || /\.(tmp|part|lock)$/.test(e.name) || e.name.includes(".tmp"))
        continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(root, p).split(sep).join(posix.sep));
    }
  };
  await walk(root);
  return out.sort();
}

/** sha256 the destination recorded for an object, with its size; undefined when absent. */
async function remoteState(
  bucket: string,
  key: string,
  options: TransportOptions,
): Promise<{ bytes: number; sha256?: string } | undefined> {
  try {
    const h = await (await s3Client(options)).send(
      new (await s3Sdk()).HeadObjectCommand({ Bucket: bucket, Key: key }),
    );
    return { bytes: h.ContentLength ?? -1, sha256: h.Metadata?.sha256 };
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === "NotFound" || e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404)
      return undefined;
    throw publishFailure(err, `s3://${bucket}/${key}`, "cannot inspect the destination");
  }
}

function publishFailure(err: unknown, where: string, what: string): PublishError {
  const e = err as { name?: string; message?: string };
  // The SDK's messages name the operation and the error code, never the credentials.
  return new PublishError(`${what}: ${e.name ?? "Error"}: ${e.message ?? String(err)}`, {
    file: redactUrl(where),
  });
}

async function hashObject(bucket: string, key: string, options: TransportOptions): Promise<string> {
  const out = await (await s3Client(options)).send(
    new (await s3Sdk()).GetObjectCommand({ Bucket: bucket, Key: key }),
  );
  const hash = createHash("sha256");
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Checks an object just written: its ETag is one of `etags` (the MD5s of the bytes sent, S3's
 * rule), else it is read back and its sha256 must be `sha256`.
 */
async function checkObject(
  bucket: string,
  key: string,
  sha256: string,
  etag: string,
  etags: string[],
  options: TransportOptions,
  what: "uploaded" | "moved",
): Promise<void> {
  if (etags.includes(etag)) return;
  const where = `s3://${bucket}/${key}`;
  let got: string;
  try {
    got = await hashObject(bucket, key, options);
  } catch (err) {
    throw publishFailure(err, where, `cannot read back the ${what} object`);
  }
  if (got !== sha256)
    throw new PublishError(`${what} object has sha256 ${got}, not the local file's ${sha256}`, {
      file: redactUrl(where),
    });
}

/** Is `rel` already at the destination with these bytes and sha256 (then it is skipped)? */
export type AlreadyThere = (rel: string, bytes: number, sha256: string) => Promise<boolean>;

/**
 * What a publish of `dir` moves: every file of the dataset directory, checked against the
 * manifest (listed files present, sizes as recorded), with its sha256 (the manifest's, else
 * hashed) and `skip` where `lookup` (made once the dataset checked out) says the destination
 * holds it already.
 */
export async function planPublish(
  dir: string,
  destination: string,
  options: Pick<PublishOptions, "dryRun">,
  lookup: () => Promise<AlreadyThere>,
): Promise<PublishResult> {
  const manifest = await readManifest(dir);
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  const files = await datasetFiles(dir);
  if (!files.includes(MANIFEST)) throw new UsageError(`no ${MANIFEST} in ${dir}`);
  for (const f of manifest.files)
    if (!files.includes(f.path))
      throw new PublishError("file listed in the manifest is missing", { file: join(dir, f.path) });
  const there = await lookup();
  // Local sha256: the manifest's where it has one, checked against the file's size.
  const plan: PublishItem[] = await bounded(
    4,
    files.map((rel) => async () => {
      const path = join(dir, rel);
      const { size } = await stat(path);
      const entry = listed.get(rel);
      if (entry && entry.bytes !== size)
        throw new PublishError(`file has ${size} bytes but the manifest says ${entry.bytes}`, {
          file: path,
        });
      const sha256 = entry?.sha256 ?? (await sha256File(path));
      const same = await there(rel, size, sha256);
      return { path: rel, bytes: size, sha256, action: same ? "skip" : "upload" } as PublishItem;
    }),
  );
  return {
    destination,
    files: plan,
    uploadedBytes: plan.filter((p) => p.action === "upload").reduce((s, p) => s + p.bytes, 0),
    skippedBytes: plan.filter((p) => p.action === "skip").reduce((s, p) => s + p.bytes, 0),
    dryRun: options.dryRun === true,
  };
}

/**
 * Uploads the planned files with `upload` (those marked `upload`; the others only counted): the
 * data files `concurrency` at a time, then the dataset card, then the manifest, the commit point
 * of a publish. Progress after each file.
 */
export async function carryOut(
  plan: PublishItem[],
  options: Pick<PublishOptions, "concurrency" | "onProgress">,
  upload: (item: PublishItem) => Promise<void>,
  /** Runs after the data files, before the card and the manifest (S3: staged files into place). */
  beforeCommit?: () => Promise<void>,
): Promise<void> {
  let done = 0;
  let uploaded = 0;
  const put = async (item: PublishItem) => {
    if (item.action === "upload") {
      await upload(item);
      uploaded += item.bytes;
    }
    done++;
    options.onProgress?.({
      file: item.path,
      action: item.action,
      filesDone: done,
      filesTotal: plan.length,
      bytesUploaded: uploaded,
    });
  };
  const last = new Set([MANIFEST, CARD]);
  await bounded(
    options.concurrency ?? 4,
    plan.filter((p) => !last.has(p.path)).map((p) => () => put(p)),
  );
  await beforeCommit?.();
  for (const name of [CARD, MANIFEST]) {
    const item = plan.find((p) => p.path === name);
    if (item) await put(item);
  }
}

/**
 * Hashes a file's bytes as they go up, in order: sha256 of the whole, MD5 of each `partBytes`
 * part (from which S3's ETag of the upload follows: the MD5 itself for one part, the MD5 of the
 * parts' MD5s for a multipart upload) and, for several parts, the MD5 of the whole (the ETag
 * some S3-compatible stores, s3rver among them, give a multipart upload).
 */
class UploadHasher {
  private readonly sha = createHash("sha256");
  private readonly whole: ReturnType<typeof createHash> | null;
  private part = createHash("md5");
  private inPart = 0;
  private readonly parts: Buffer[] = [];

  constructor(
    private readonly partBytes: number,
    bytes: number,
  ) {
    this.whole = bytes > partBytes ? createHash("md5") : null;
  }

  /** A stream of `path`'s bytes [start, end) passing through this hasher. */
  read(path: string, start: number, end: number): Readable {
    const hasher = this;
    const pass = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        hasher.update(chunk);
        done(null, chunk);
      },
    });
    if (end <= start) {
      pass.end();
      return pass;
    }
    const source = createReadStream(path, { start, end: end - 1 });
    source.on("error", (err) => pass.destroy(err));
    return source.pipe(pass);
  }

  private update(chunk: Buffer): void {
    this.sha.update(chunk);
    this.whole?.update(chunk);
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, this.partBytes - this.inPart);
      this.part.update(chunk.subarray(at, at + take));
      this.inPart += take;
      at += take;
      if (this.inPart === this.partBytes) {
        this.parts.push(this.part.digest());
        this.part = createHash("md5");
        this.inPart = 0;
      }
    }
  }

  /** The sha256 of the bytes sent, and the ETags S3 gives them (as one object, or in parts). */
  digests(): { sha256: string; etags: string[] } {
    const parts =
      this.inPart > 0 || this.parts.length === 0 ? [...this.parts, this.part.digest()] : this.parts;
    const multipart = `${createHash("md5").update(Buffer.concat(parts)).digest("hex")}-${parts.length}`;
    const whole = this.whole ? this.whole.digest("hex") : parts[0]!.toString("hex");
    const etags = [whole, multipart];
    return { sha256: this.sha.digest("hex"), etags };
  }
}

/**
 * Uploads one file: a PutObject up to `partBytes`, else a multipart upload of `partBytes` parts
 * read straight from the file in order (no part is buffered in memory; a failed one aborts the
 * upload). Returns the store's ETag and the hashes of what was sent.
 */
async function uploadFile(
  options: TransportOptions,
  target: { bucket: string; key: string },
  path: string,
  bytes: number,
  metadata: Record<string, string>,
  partBytes: number,
): Promise<{ etag: string; sent: { sha256: string; etags: string[] } }> {
  const client = await s3Client(options);
  const { bucket: Bucket, key: Key } = target;
  const hasher = new UploadHasher(partBytes, bytes);
  let etag: string | undefined;
  if (bytes <= partBytes) {
    const out = await client.send(
      new (await s3Sdk()).PutObjectCommand({
        Bucket,
        Key,
        Body: hasher.read(path, 0, bytes),
        ContentLength: bytes,
        Metadata: metadata,
      }),
    );
    etag = out.ETag;
  } else {
    const { UploadId } = await client.send(
      new (await s3Sdk()).CreateMultipartUploadCommand({ Bucket, Key, Metadata: metadata }),
    );
    try {
      const parts: Array<{ ETag?: string; PartNumber: number }> = [];
      for (let start = 0, n = 1; start < bytes; start += partBytes, n++) {
        const end = Math.min(bytes, start + partBytes);
        const out = await client.send(
          new (await s3Sdk()).UploadPartCommand({
            Bucket,
            Key,
            UploadId,
            PartNumber: n,
            Body: hasher.read(path, start, end),
            ContentLength: end - start,
          }),
        );
        parts.push({ ETag: out.ETag, PartNumber: n });
      }
      const out = await client.send(
        new (await s3Sdk()).CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      etag = out.ETag;
    } catch (err) {
      await client
        .send(new (await s3Sdk()).AbortMultipartUploadCommand({ Bucket, Key, UploadId }))
        .catch(() => {});
      throw err;
    }
  }
  return { etag: etag?.replace(/"/g, "") ?? "", sent: hasher.digests() };
}

/**
 * Publishes the dataset at `dir` to `dest`: an S3 prefix (`s3://bucket/prefix`) or an AstroPile
 * server (`http(s)://host:port/api/v1/datasets/NAME`: each file is PUT with its sha256, files
 * already staged with the same sha256 are skipped, the manifest goes last and publishes; see
 * {@link PublishOptions.apiKey}). To S3 it uploads files that are not already there with the same sha256 (parallel, multipart for large files), verifies each (the sha256 of the bytes sent,
 * and the store's ETag as their MD5, else by reading it back), then uploads the dataset card and the manifest last. Re-running after a
 * failure or a kill resumes: what is already there and verified is skipped. Credentials come
 * from the standard AWS chain ($AWS_ACCESS_KEY_ID, profiles, roles); `endpoint` (or
 * $AWS_ENDPOINT_URL) points at an S3-compatible store (MinIO, Ceph).
 */
export async function publishDataset(
  dir: string,
  dest: string,
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (/^https?:\/\//.test(dest)) {
    const { publishToServer } = await import("./publish-http.ts");
    return publishToServer(dir, dest, options);
  }
  if (!dest.startsWith("s3://"))
    throw new UsageError(
      `publish destination must be s3://bucket/prefix or http(s)://host/api/v1/datasets/NAME, got ${redactUrl(dest)}`,
    );
  const { bucket, key: prefixRaw } = parseS3(dest);
  const prefix = prefixRaw.replace(/\/+$/, "");
  const keyOf = (rel: string) => (prefix ? `${prefix}/${rel}` : rel);
  const stagedKeyOf = (rel: string) => keyOf(`${STAGING}/${rel}`);
  // Files the destination has with other bytes: uploaded to staging, moved at the commit.
  const replaced = new Set<string>();
  const result = await planPublish(dir, redactUrl(dest), options, async () => {
    return async (rel, bytes, sha256) => {
      const there = await remoteState(bucket, keyOf(rel), options);
      if (there !== undefined && there.bytes === bytes && there.sha256 === sha256) return true;
      if (there !== undefined && rel !== MANIFEST && rel !== CARD && bytes <= MAX_COPY_BYTES)
        replaced.add(rel);
      return false;
    };
  });
  if (options.dryRun) return result;
  /** What each staged file's bytes hash to, for checking the copy into place. */
  const stagedEtags = new Map<string, string[]>();
  const commitStaged = async () => {
    const staged = result.files.filter((f) => f.action === "upload" && replaced.has(f.path));
    await bounded(
      options.concurrency ?? 4,
      staged.map((item) => async () => {
        const from = stagedKeyOf(item.path);
        const to = keyOf(item.path);
        const where = `s3://${bucket}/${to}`;
        let etag: string;
        try {
          const out = await (await s3Client(options)).send(
            new (await s3Sdk()).CopyObjectCommand({
              Bucket: bucket,
              Key: to,
              CopySource: copySource(bucket, from),
              MetadataDirective: "COPY",
            }),
          );
          etag = out.CopyObjectResult?.ETag?.replace(/"/g, "") ?? "";
        } catch (err) {
          throw publishFailure(err, where, "cannot move the staged file into place");
        }
        if (options.verify !== false)
          await checkObject(
            bucket,
            to,
            item.sha256,
            etag,
            stagedEtags.get(item.path) ?? [],
            options,
            "moved",
          );
      }),
    );
    // The staged copies go one at a time once all are in place (s3rver's file store fails
    // concurrent deletes in sibling directories); a leftover is harmless, but is retried.
    for (const item of staged) {
      const from = stagedKeyOf(item.path);
      await withRetries(options, async () =>
        (await s3Client(options)).send(
          new (await s3Sdk()).DeleteObjectCommand({ Bucket: bucket, Key: from }),
        ),
      ).catch((err) => {
        throw publishFailure(err, `s3://${bucket}/${from}`, "cannot remove the staged file");
      });
    }
  };
  await carryOut(
    result.files,
    options,
    async (item) => {
      const staging = replaced.has(item.path);
      const key = staging ? stagedKeyOf(item.path) : keyOf(item.path);
      const path = join(dir, item.path);
      if (staging) {
        // Staged by a publish that stopped before its commit: verified then, moved now.
        const there = await remoteState(bucket, key, options);
        if (there?.bytes === item.bytes && there.sha256 === item.sha256) return;
      }
      const partSize = Math.max(5 << 20, options.partBytes ?? 16 << 20);
      let etag: string;
      let sent: { sha256: string; etags: string[] };
      try {
        ({ etag, sent } = await uploadFile(
          options,
          { bucket, key },
          path,
          item.bytes,
          { sha256: item.sha256 },
          partSize,
        ));
      } catch (err) {
        throw publishFailure(err, `s3://${bucket}/${key}`, "upload failed");
      }
      stagedEtags.set(item.path, sent.etags);
      if (sent.sha256 !== item.sha256)
        throw new PublishError(
          `the file's bytes have sha256 ${sent.sha256}, not the manifest's ${item.sha256}: it changed during the publish, or the manifest is wrong`,
          { file: path },
        );
      // The store's ETag is the MD5 of what it received (S3's rule): it agrees, nothing to read back.
      if (options.verify !== false)
        await checkObject(bucket, key, item.sha256, etag, sent.etags, options, "uploaded");
    },
    commitStaged,
  );
  return result;
}
