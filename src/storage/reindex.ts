// `astropile index DIR --force`: rebuilds a config's sidecars (positions, object_id index) from
// its partition files, for the file list the manifest has now, after checking every file; files
// written before identities existed are given one first. The manifest changes last, once.
//
// A file without identity is checked in full (size, SHA-256 against the manifest, structure,
// columns, key range), then rewritten under a temporary name with two root attributes added:
// `astropile_content` = its former SHA-256 and `astropile_identity` computed from its manifest
// entry and that content digest (see identity.ts); then fsynced and renamed over the old one. A
// crash after some renames leaves files whose size differs from the manifest (readers refuse
// them, loudly); running the command again recognises them (their identity is the one this
// entry gives) and finishes.
import { copyFile, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fsyncPath } from "../core/atomic-file.ts";
import { ManifestMismatchError, UsageError, WriteError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import type { WriterLock } from "../core/lock.ts";
import { ExternalSorter } from "./external-sort.ts";
import { guard, h5wasm, hdf5Ready, writeAttribute } from "./hdf5.ts";
import { clearObjectTimes } from "./hdf5-times.ts";
import { FENCE_ROWS, ID_INDEX_COLUMNS, idKeyFunction, writeIdIndex } from "./id-index.ts";
import {
  CONTENT_ATTRIBUTE,
  fileIdentity,
  fileListIdentity,
  IDENTITY_ATTRIBUTE,
} from "./identity.ts";
import { checkFileList, expectationOf } from "./integrity.ts";
import { MANIFEST_NAME } from "./layout.ts";
import {
  type FileEntry,
  type IdIndexEntry,
  type Manifest,
  type PositionsEntry,
  readManifest,
  writeManifest,
} from "./manifest.ts";
import { lockOutput } from "./output-lock.ts";
import { PartitionFile } from "./partition-file.ts";
import { copyPositions, objectIdSpecOf } from "./positions.ts";

export interface ReindexProgress {
  config: string;
  /** "check": files checked (and stamped); "positions", "id-index": sidecars being written. */
  phase: "check" | "positions" | "id-index";
  done: number;
  total: number;
}

export interface ReindexOptions {
  onProgress?: (progress: ReindexProgress) => void;
  /** The writer lock of `root` the caller holds; else it is taken here (see lockOutput). */
  lock?: WriterLock;
  /** Without `lock`: wait for another writer of `root` instead of failing with a LockedError. */
  wait?: boolean;
  /** Memory for sorting the id index (default 256 MiB). */
  memoryBytes?: number;
}

export interface ReindexResult {
  config: string;
  /** Files given an identity (written before identities existed). */
  stamped: number;
  positions: PositionsEntry;
  idIndex: IdIndexEntry;
}

/** Rows read per call while copying ids. */
const READ_ROWS = 65536;

/**
 * Checks every file of a config against the manifest, gives an identity to those without one,
 * and rebuilds the positions sidecar and the object_id index for the manifest's file list.
 * Refuses (ManifestMismatchError naming the file) a file that is not what the manifest says:
 * it cannot vouch for it. The manifest is written once, at the end, if the config did not
 * change meanwhile.
 */
export async function reindexConfig(
  root: string,
  config: string,
  options: ReindexOptions = {},
): Promise<ReindexResult> {
  const own = options.lock
    ? null
    : await lockOutput(root, {
        wait: options.wait,
        command: `index --force "${config}"`,
        create: false,
      });
  const lock = options.lock ?? own!;
  try {
    if (lock.dir !== resolve(root))
      throw new UsageError(`the lock given is the lock of ${lock.dir}, not of ${resolve(root)}`);
    return await reindexLocked(root, config, options, lock);
  } finally {
    await own?.release();
  }
}

async function reindexLocked(
  root: string,
  config: string,
  options: ReindexOptions,
  lock: WriterLock,
): Promise<ReindexResult> {
  const manifestPath = join(root, MANIFEST_NAME);
  const manifest = await readManifest(root);
  const entry = manifest.configs[config];
  if (!entry) throw new ManifestMismatchError(`no config "${config}"`, { file: manifestPath });
  checkFileList(root, manifest, config);
  const before = manifest.files.filter((f) => f.config === config);
  const files: FileEntry[] = [];
  let stamped = 0;
  const report = (phase: ReindexProgress["phase"], done: number, total: number) =>
    options.onProgress?.({ config, phase, done, total });
  for (const [i, f] of before.entries()) {
    report("check", i, before.length);
    if (f.identity) {
      // Its identity binds it to the entry: the open checks are enough.
      (
        await PartitionFile.open(join(root, f.path), {
          expectRows: f.rows,
          expect: expectationOf(entry.columns, f),
        })
      ).close();
      files.push(f);
    } else {
      files.push(await stamp(root, entry.columns, f));
      stamped++;
    }
  }
  report("check", before.length, before.length);
  const fileList = fileListIdentity(config, files);
  const idSpec = objectIdSpecOf(manifest, config, manifestPath);
  report("positions", 0, 1);
  const positions = await copyPositions(
    root,
    config,
    idSpec,
    files.map((f) => ({ path: join(root, f.path), fileRows: f.rows, start: 0, end: f.rows })),
    fileList,
  );
  report("positions", 1, 1);
  report("id-index", 0, files.length);
  const idIndex = await buildIdIndex(root, config, manifest, files, fileList, options, (done) =>
    report("id-index", done, files.length),
  );
  // Re-read: record the result only if the config's files did not change meanwhile.
  const now = await readManifest(root);
  const current = now.files.filter((f) => f.config === config);
  if (
    !now.configs[config] ||
    current.length !== before.length ||
    current.some((f, i) => f.path !== before[i].path || f.sha256 !== before[i].sha256)
  )
    throw new ManifestMismatchError(`config "${config}" changed while it was indexed; run again`, {
      file: manifestPath,
    });
  let k = 0;
  now.files = now.files.map((f) => (f.config === config ? files[k++] : f));
  now.configs[config] = { ...now.configs[config], positions, idIndex };
  lock.assertHeld();
  await writeManifest(root, now);
  return { config, stamped, positions, idIndex };
}

/**
 * Checks a file written before identities in full and rewrites it with one (see the module
 * comment); returns its new manifest entry.
 */
async function stamp(
  root: string,
  columns: Manifest["configs"][string]["columns"],
  f: FileEntry,
): Promise<FileEntry> {
  const path = join(root, f.path);
  const content = f.sha256;
  const identity = fileIdentity({ ...f, content });
  // A file stamped by an interrupted run: the identity this very entry gives.
  const resumed = await stampedEarlier(path, identity, content);
  if (resumed) return { ...f, ...resumed, identity };
  const size = (await stat(path).catch(() => null))?.size;
  if (size === undefined)
    throw new ManifestMismatchError("file listed in the manifest does not exist", { file: path });
  if (size !== f.bytes)
    throw new ManifestMismatchError(`file has ${size} bytes but the manifest says ${f.bytes}`, {
      file: path,
    });
  if ((await sha256File(path)) !== f.sha256)
    throw new ManifestMismatchError(
      "SHA-256 differs from the manifest: the file is not the one the manifest lists, so no identity is given to it",
      { file: path },
    );
  // Structure, rows, columns, first and last key.
  const check = await PartitionFile.open(path, {
    expectRows: f.rows,
    expect: expectationOf(columns, { ...f, identity: null }),
  });
  try {
    check.columns(); // every column described: rows and types compared with the manifest
  } finally {
    check.close();
  }
  await hdf5Ready();
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.stamp.tmp`);
  try {
    await copyFile(path, temp);
    guard({ file: temp }, "cannot add the identity", WriteError, () => {
      const h5 = new (h5wasm().File)(temp, "a");
      try {
        writeAttribute(h5, CONTENT_ATTRIBUTE, content);
        writeAttribute(h5, IDENTITY_ATTRIBUTE, identity);
      } finally {
        h5.close();
      }
    });
    clearObjectTimes(temp);
    const handle = await open(temp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const sha256 = await sha256File(temp);
    const bytes = (await stat(temp)).size;
    await rename(temp, path);
    await fsyncPath(dirname(path));
    return { ...f, bytes, sha256, identity };
  } finally {
    await rm(temp, { force: true });
  }
}

/** The new size and SHA-256 of a file an earlier run stamped with `identity`, else null. */
async function stampedEarlier(
  path: string,
  identity: string,
  content: string,
): Promise<{ bytes: number; sha256: string } | null> {
  let file: PartitionFile;
  try {
    file = await PartitionFile.open(path);
  } catch {
    return null;
  }
  try {
    const attrs = file.attrs();
    if (attrs[IDENTITY_ATTRIBUTE] !== identity || attrs[CONTENT_ATTRIBUTE] !== content) return null;
  } finally {
    file.close();
  }
  return { bytes: (await stat(path)).size, sha256: await sha256File(path) };
}

/** The object_id index of the config's files (in this order), sorted out of core. @internal */
export async function buildIdIndex(
  root: string,
  config: string,
  manifest: Manifest,
  files: FileEntry[],
  fileList: string,
  options: ReindexOptions,
  progress: (done: number) => void,
): Promise<IdIndexEntry> {
  const spec = objectIdSpecOf(manifest, config);
  const key = idKeyFunction(spec);
  const scratch = join(root, `.astropile-scratch-${process.pid}-index`);
  const sorter = new ExternalSorter(
    ID_INDEX_COLUMNS,
    "id_key",
    scratch,
    options.memoryBytes ?? 256 * 2 ** 20,
  );
  const columns = manifest.configs[config].columns;
  try {
    for (const [ordinal, f] of files.entries()) {
      const file = await PartitionFile.open(join(root, f.path), {
        expectRows: f.rows,
        expect: expectationOf(columns, f),
      });
      try {
        for (let at = 0; at < f.rows; at += READ_ROWS) {
          const end = Math.min(f.rows, at + READ_ROWS);
          const ids = file.readRange(["object_id"], at, end).object_id;
          const n = end - at;
          const id_key = new BigInt64Array(n);
          for (let i = 0; i < n; i++) id_key[i] = key(ids, i);
          const row = Uint32Array.from({ length: n }, (_, i) => at + i);
          await sorter.add({ id_key, file: new Uint32Array(n).fill(ordinal), row }, n);
        }
      } finally {
        file.close();
      }
      progress(ordinal + 1);
    }
    const blockRows = manifest.configs[config].idIndex?.blockRows ?? FENCE_ROWS;
    return await writeIdIndex(root, config, sorter, fileList, blockRows);
  } finally {
    await sorter.close();
    await rm(scratch, { recursive: true, force: true });
  }
}
