// The one place that talks to h5wasm (the HDF Group's libhdf5 compiled to WebAssembly).
// It loads the library once, installs the compression plugins (LZF, Blosc, Zstd, BZip2 ...),
// makes HDF5 errors throw instead of printing, and turns them into typed errors.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Dataset, File as H5File, Metadata } from "h5wasm/node";
import type { Dtype } from "../core/columns.ts";
import { AstroPileError, CorruptFileError, type ErrorPlace } from "../core/errors.ts";
import {
  followRemoteLink,
  openRemote,
  REMOTE_PREFIX,
  type RemoteBytes,
  remoteUrl,
} from "./remote-hook.ts";

export type { Dataset, H5File, Metadata };

/** h5wasm's module object (File, Dataset, ready, ...). */
export type H5wasm = typeof import("h5wasm/node").default;

let initialised: Promise<void> | null = null;
let lib: H5wasm | undefined;

/**
 * Loads libhdf5 once per process. Every h5wasm entry point awaits this first. Loading costs
 * ~0.2 s (compiling the WebAssembly), so it happens on first use, not at import: files the
 * own writer writes and the direct read path reads may never need it.
 */
export function hdf5Ready(): Promise<void> {
  initialised ??= (async () => {
    const loaded = (await import("h5wasm/node")).default;
    const module = await loaded.ready;
    // h5wasm-plugins' install_plugins fetches a file:// URL, which Node's fetch refuses; pointing
    // the plugin search path at the package's directory works because the Node build of h5wasm
    // reads the real file system.
    const require = createRequire(import.meta.url);
    const pluginsDir = join(dirname(require.resolve("h5wasm-plugins/package.json")), "plugins");
    module.insert_plugin_search_path(pluginsDir, 0);
    module.activate_throwing_error_handler();
    routeRemotePaths(module.FS as unknown as EmscriptenFs);
    lib = loaded;
  })();
  return initialised;
}

/** h5wasm, loaded: callers await {@link hdf5Ready} first. */
export function h5wasm(): H5wasm {
  if (!lib) throw new Error("internal: h5wasm used before hdf5Ready() resolved");
  return lib;
}

/** The library's messages without the source paths: the innermost causes, most specific last. */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const messages: string[] = [];
  for (const line of text.split("\n")) {
    const m = /in (\w+)\(\): (.*)$/.exec(line.trim());
    if (m && !messages.includes(m[2])) messages.push(m[2]);
  }
  if (messages.length === 0) return text.split("\n")[0].replace(/^Error: /, "");
  return messages.slice(-2).join(": ");
}

/** Wraps an h5wasm call so a library failure becomes a typed error naming the file and place. */
export function guard<T>(
  place: ErrorPlace,
  what: string,
  errorClass: typeof AstroPileError,
  fn: () => T,
): T {
  lastRemoteError = undefined;
  try {
    return fn();
  } catch (err) {
    if (err instanceof AstroPileError) throw err;
    const remote = takeRemoteError();
    if (remote instanceof AstroPileError) throw remote;
    throw new errorClass(`${what}: ${hdf5Reason(err)}`, place, { cause: err });
  }
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Checks the HDF5 signature (at 0, 512, 1024, ... as the spec allows for a user block) before
 * handing the file to libhdf5, so "not HDF5" is reported as such rather than as a library trace.
 */
export function checkSignature(path: string): void {
  if (remoteUrl(path) !== null) {
    const bytes = openRemote(path);
    const buf = new Uint8Array(8);
    for (let at = 0; at + 8 <= bytes.size; at = at === 0 ? 512 : at * 2) {
      bytes.read(buf, 0, 8, at);
      if (Buffer.from(buf).equals(SIGNATURE)) return;
    }
    throw new CorruptFileError(
      bytes.size === 0 ? "empty file, not HDF5" : "not an HDF5 file (no HDF5 signature)",
      { file: path },
    );
  }
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new CorruptFileError(`cannot open: ${(err as Error).message}`, { file: path });
  }
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      readSync(fd, buf, 0, 8, at);
      if (buf.equals(SIGNATURE)) return;
    }
  } finally {
    closeSync(fd);
  }
  throw new CorruptFileError(
    size === 0 ? "empty file, not HDF5" : "not an HDF5 file (no HDF5 signature)",
    { file: path },
  );
}

/** Opens an HDF5 file read-only with typed errors. */
export async function openHdf5(path: string): Promise<H5File> {
  await hdf5Ready();
  path = followRemoteLink(path);
  checkSignature(path);
  return guard(
    { file: path },
    "cannot open HDF5 file",
    CorruptFileError,
    () => new (h5wasm().File)(path, "r"),
  );
}

// The parts of Emscripten's file system (h5wasm's Node build: NODERAWFS, the real file system)
// that remote files are routed through.
interface EmscriptenStream {
  fd: number;
  position: number;
  remote?: RemoteBytes;
}
interface EmscriptenFs {
  open(path: string, flags: number | string, mode?: number): EmscriptenStream;
  fstat(fd: number): unknown;
  stat(path: string, dontFollow?: boolean): unknown;
  lstat(path: string): unknown;
  getStream(fd: number): EmscriptenStream | null;
  createStream(stream: object, fd?: number): EmscriptenStream;
  ErrnoError: new (errno: number) => Error;
}

const EIO = 29;
const EINVAL = 28;

/**
 * Makes libhdf5 read virtual remote paths (see remote-hook.ts) through their RemoteBytes: open
 * creates a stream whose read does a ranged read, fstat reports the remote size. A stream that
 * has stream_ops is read through Emscripten's VFS even under NODERAWFS, so only open and fstat
 * need wrapping; everything else (local files) goes on to the real file system untouched.
 */
function routeRemotePaths(fs: EmscriptenFs): void {
  const open = fs.open.bind(fs);
  const fstat = fs.fstat.bind(fs);
  fs.open = (path, flags, mode) => {
    if (typeof path !== "string" || !path.startsWith(REMOTE_PREFIX)) return open(path, flags, mode);
    let remote: RemoteBytes;
    try {
      remote = openRemote(path);
    } catch (err) {
      lastRemoteError = err;
      throw new fs.ErrnoError(EIO);
    }
    const node = { mode: 0o100444, id: 0, path, node_ops: {} };
    const streamOps = {
      read(_s: EmscriptenStream, buffer: Uint8Array, offset: number, length: number, pos: number) {
        const n = Math.max(0, Math.min(length, remote.size - pos));
        try {
          remote.read(buffer, offset, n, pos);
        } catch (err) {
          lastRemoteError = err;
          throw new fs.ErrnoError(EIO);
        }
        return n;
      },
      llseek(s: EmscriptenStream, offset: number, whence: number) {
        const at =
          whence === 0 ? offset : whence === 1 ? s.position + offset : remote.size + offset;
        if (at < 0) throw new fs.ErrnoError(EINVAL);
        return at;
      },
    };
    return fs.createStream({
      path,
      flags: 0,
      node,
      seekable: true,
      position: 0,
      stream_ops: streamOps,
      remote,
    });
  };
  const stat = fs.stat.bind(fs);
  const lstat = fs.lstat.bind(fs);
  const statOf = (path: string) => {
    try {
      return statRemote(openRemote(path));
    } catch (err) {
      lastRemoteError = err;
      throw new fs.ErrnoError(EIO);
    }
  };
  fs.stat = (path, dontFollow) =>
    typeof path === "string" && path.startsWith(REMOTE_PREFIX)
      ? statOf(path)
      : stat(path, dontFollow);
  fs.lstat = (path) =>
    typeof path === "string" && path.startsWith(REMOTE_PREFIX) ? statOf(path) : lstat(path);
  fs.fstat = (fd) => {
    const stream = fs.getStream(fd);
    return stream?.remote ? statRemote(stream.remote) : fstat(fd);
  };
}

/** Inode numbers of remote files: libhdf5 takes two files with one (dev, ino) for the same file. */
const inodes = new WeakMap<RemoteBytes, number>();
let nextInode = 1;

/** A stat record (as Emscripten's writeStat reads it) of a remote file: read-only, its size. */
function statRemote(remote: RemoteBytes): object {
  let ino = inodes.get(remote);
  if (ino === undefined) {
    ino = nextInode++;
    inodes.set(remote, ino);
  }
  const t = new Date(0);
  const size = remote.size;
  return {
    dev: 0x7e307e,
    ino,
    mode: 0o100444,
    nlink: 1,
    uid: 0,
    gid: 0,
    rdev: 0,
    size,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    atime: t,
    mtime: t,
    ctime: t,
  };
}

/**
 * The error a remote read raised inside libhdf5 (which only sees EIO): re-thrown by openHdf5 and
 * by reads, so a changed file or a network failure keeps its type instead of becoming "corrupt".
 */
let lastRemoteError: unknown;

/** Takes (and clears) the last remote read failure, if any. */
export function takeRemoteError(): unknown {
  const e = lastRemoteError;
  lastRemoteError = undefined;
  return e;
}

// HDF5 type classes as h5wasm reports them in Metadata.type.
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;
const H5T_ENUM = 8;

/** Attribute AstroPile puts on bool columns: h5wasm cannot create HDF5 enum types. */
export const BOOL_ATTRIBUTE = "astropile_dtype";

export interface StoredType {
  dtype: Dtype | "unsupported";
  stringLength?: number;
  /** Human-readable description of the HDF5 type, for errors about unsupported types. */
  describe: string;
}

/** Maps a dataset's HDF5 type to an AstroPile dtype. */
export function storedType(meta: Metadata, attrNames: string[] = []): StoredType {
  const order = meta.littleEndian ? "little-endian" : "big-endian";
  if (meta.type === H5T_FLOAT && (meta.size === 4 || meta.size === 8)) {
    return {
      dtype: meta.size === 4 ? "float32" : "float64",
      describe: `float${meta.size * 8} ${order}`,
    };
  }
  if (meta.type === H5T_INTEGER && [1, 2, 4, 8].includes(meta.size)) {
    const dtype = `${meta.signed ? "int" : "uint"}${meta.size * 8}` as Dtype;
    // h5wasm cannot write enums, so AstroPile stores bool as uint8 with a marker attribute.
    if (meta.size === 1 && attrNames.includes(BOOL_ATTRIBUTE))
      return { dtype: "bool", describe: "bool (uint8)" };
    return { dtype, describe: `${dtype} ${order}` };
  }
  if (meta.type === H5T_ENUM) {
    const members = meta.enum_type?.members ?? {};
    const keys = Object.keys(members);
    if (keys.length === 2 && members.FALSE === 0 && members.TRUE === 1 && meta.size === 1) {
      return { dtype: "bool", describe: "bool (HDF5 enum FALSE/TRUE)" };
    }
    return { dtype: "unsupported", describe: `enum {${keys.join(", ")}}` };
  }
  if (meta.type === H5T_STRING) {
    return meta.vlen
      ? { dtype: "string", describe: "variable-length string" }
      : {
          dtype: "string",
          stringLength: meta.size,
          describe: `fixed-length string of ${meta.size} bytes`,
        };
  }
  if (meta.type === H5T_FLOAT)
    return { dtype: "unsupported", describe: `float${meta.size * 8} ${order}` };
  return { dtype: "unsupported", describe: `HDF5 type class ${meta.type}, ${meta.size} bytes` };
}

/** h5wasm dtype string used when creating a dataset of this dtype. */
export function h5wasmDtype(dtype: Dtype, stringLength?: number): string {
  switch (dtype) {
    case "float32":
      return "<f";
    case "float64":
      return "<d";
    case "int8":
      return "<b";
    case "int16":
      return "<h";
    case "int32":
      return "<i";
    case "int64":
      return "<q";
    case "uint8":
    case "bool":
      return "<B";
    case "uint16":
      return "<H";
    case "uint32":
      return "<I";
    case "uint64":
      return "<Q";
    case "string":
      return stringLength === undefined ? "S" : `S${stringLength}`;
  }
}

/** HDF5 filter ids AstroPile knows by name. */
export const FILTER_NAMES: Record<number, string> = {
  1: "gzip",
  2: "shuffle",
  3: "fletcher32",
  4: "szip",
  307: "bzip2",
  32000: "lzf",
  32001: "blosc",
  32004: "lz4",
  32015: "zstd",
};

/** The compression of a column from its filter names (shuffle and checksums are not compression). */
export function compressionOf(filters: string[]): string {
  return filters.filter((n) => n !== "shuffle" && n !== "fletcher32").join("+") || "none";
}

/**
 * Writes an attribute. Strings are stored as fixed-length strings, not variable-length ones:
 * those live in a global heap, which has no checksum, and libhdf5 (h5py's too) loops forever on
 * some damaged global heaps. Fixed-length values sit in the object header, under its checksum.
 * ASCII text is stored null-terminated (exact, trailing spaces included); other UTF-8 text as
 * UTF-8 of exactly its bytes, except text ending in white space, which that type's space padding
 * would trim: it stays variable-length. h5py reads fixed-length strings as bytes (`.decode()`).
 */
export function writeAttribute(
  entity: {
    create_attribute(name: string, data: string | number, shape?: null, dtype?: string): void;
  },
  name: string,
  value: string | number,
): void {
  if (typeof value !== "string") {
    // h5wasm would store every integer as int32: larger ones as float64 (exact to 2^53).
    const int32 = Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
    entity.create_attribute(name, value, null, int32 ? "<i" : "<d");
    return;
  }
  const bytes = Buffer.byteLength(value, "utf8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII without NUL is the test
  if (/^[\x01-\x7f]*$/.test(value)) entity.create_attribute(name, value, null, `A${bytes + 1}`);
  else if (!/\s$/.test(value)) entity.create_attribute(name, value, null, `S${bytes}`);
  else entity.create_attribute(name, value);
}
