// The storage layer's one door to files that live on a server. Storage never speaks HTTP or S3:
// a remote dataset root is given to it as a virtual absolute path (`/@remote/https/host/a/b` for
// `https://host/a/b`), so every `join(root, file)` in the layers above works unchanged, and the
// few places that touch bytes (h5wasm's file system, the direct reader, the manifest) ask the
// registered RemoteAccess (installed by src/remote) for them.
import { readlinkSync } from "node:fs";
import { UsageError } from "../core/errors.ts";
import { REMOTE_PREFIX, remoteUrl } from "../core/remote-path.ts";

export { REMOTE_PREFIX, remoteUrl };

const SCHEMES = new Set(["http", "https", "s3"]);

/** True for `http://`, `https://` and `s3://` locations. */
export function isRemoteUrl(location: string): boolean {
  const m = /^([a-z0-9]+):\/\//i.exec(location);
  return m !== null && SCHEMES.has(m[1].toLowerCase());
}

/** The virtual path of a remote URL (`https://h:8080/a/b` → `/@remote/https/h:8080/a/b`). */
export function remotePath(url: string): string {
  const m = /^([a-z0-9]+):\/\/(.*)$/i.exec(url);
  if (!m || !SCHEMES.has(m[1].toLowerCase()))
    throw new UsageError(`not an http(s):// or s3:// location: ${url}`);
  const rest = m[2].replace(/\/+$/, "");
  return `${REMOTE_PREFIX}${m[1].toLowerCase()}/${rest}`;
}

/**
 * The path to read for `path`: the index of an adopted remote Multimodal Universe tree
 * (interop/mmu-adopt.ts) links each data file to its virtual remote path, so a link whose target
 * is one stands for that remote file; any other path is itself.
 */
export function followRemoteLink(path: string): string {
  if (path.startsWith(REMOTE_PREFIX)) return path;
  let target: string;
  try {
    target = readlinkSync(path);
  } catch {
    return path; // not a link (EINVAL), or no such file: the caller's open says so
  }
  return target.startsWith(REMOTE_PREFIX) ? target : path;
}

/** A remote file read synchronously by byte ranges (h5wasm's reads are synchronous). */
export interface RemoteBytes {
  /** The file's length in bytes, as the server reported it when first opened. */
  readonly size: number;
  /**
   * Read only the rows asked for from chunks without compression, instead of whole chunks: fewer
   * bytes over the wire, but a Fletcher32 chunk checksum cannot be verified on a partial read.
   */
  readonly partialChunks?: boolean;
  /** Fills `buf[offset, offset+length)` with the file's bytes at `position`; throws on failure. */
  read(buf: Uint8Array, offset: number, length: number, position: number): void;
}

/** What src/remote provides to the storage layer. */
export interface RemoteAccess {
  /** Opens (or reuses) a remote file for synchronous ranged reads. */
  open(url: string): RemoteBytes;
  /** A whole small file (manifest, card) as bytes; NotFoundError when the server has none. */
  readWhole(url: string): Promise<Uint8Array>;
}

let access: RemoteAccess | undefined;

/** Installs the remote byte provider (done by importing src/remote). */
export function setRemoteAccess(a: RemoteAccess): void {
  access = a;
}

/** The provider, or a UsageError when no remote layer was loaded. */
export function remoteAccess(path: string): RemoteAccess {
  if (!access)
    throw new UsageError(
      `${path} is a remote location but remote access is not loaded (import "astropile" or "astropile/remote")`,
    );
  return access;
}

/** Opens the remote file behind a virtual path. */
export function openRemote(path: string): RemoteBytes {
  const url = remoteUrl(path);
  if (url === null) throw new UsageError(`not a remote path: ${path}`);
  return remoteAccess(path).open(url);
}
