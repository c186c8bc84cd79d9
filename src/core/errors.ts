// The one error hierarchy of the library. Every error AstroPile throws on purpose is an
// AstroPileError with a stable `code` (part of the public API: branch on it, not on messages),
// and names the file and, where known, the place in it (column, HDU, row, byte offset), so a
// user with a 100 TB dataset can find the bad part.
import { displayPath } from "./remote-path.ts";

export interface ErrorPlace {
  /** File the problem is in. */
  file?: string;
  /** Column (HDF5 dataset, FITS column) the problem is in. */
  column?: string;
  /** Any further place: row, byte offset, HDU. */
  detail?: string;
}

export interface ErrorOptions {
  cause?: unknown;
  /** Overrides the class's code (subclasses that cover several codes, e.g. cache errors). */
  code?: string;
}

// A brand instead of `instanceof` alone: errors stay recognisable when two copies of the
// package are loaded, or after crossing a worker-thread boundary.
const BRAND = Symbol.for("astropile.error");

/** Base class of every error AstroPile throws on purpose. */
export class AstroPileError extends Error {
  /** The code of errors of this class (see {@link AstroPileError.code}). */
  static readonly code: string = "ASTROPILE_ERROR";
  /** Stable machine-readable code, e.g. `"ASTROPILE_CORRUPT_FILE"`. */
  readonly code: string;
  /** File the problem is in, when known. */
  readonly file?: string;
  /** Column (HDF5 dataset, FITS column) the problem is in, when known. */
  readonly column?: string;

  constructor(message: string, place: ErrorPlace = {}, options: ErrorOptions = {}) {
    // A remote file is named by its URL, not the virtual path storage reads it under.
    const file = place.file === undefined ? undefined : displayPath(place.file);
    const where = [
      file ? `file ${file}` : "",
      place.column ? `column "${place.column}"` : "",
      place.detail ?? "",
    ]
      .filter(Boolean)
      .join(", ");
    super(
      where ? `${message} (${where})` : message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.code = options.code ?? (new.target as typeof AstroPileError).code;
    this.file = file;
    this.column = place.column;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True when `err` is an error AstroPile threw on purpose (and, with `code`, one with that code).
 * Works across copies of the package and for errors re-thrown from worker threads.
 */
export function isAstroPileError(err: unknown, code?: string): err is AstroPileError {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { [BRAND]?: boolean; code?: unknown };
  if (e[BRAND] !== true || typeof e.code !== "string") return false;
  return code === undefined || e.code === code;
}

/** A file that is not HDF5, is truncated, or whose structure HDF5 cannot read. */
export class CorruptFileError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_CORRUPT_FILE";
}
/** A column asked for that a file or dataset does not have. */
export class MissingColumnError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_MISSING_COLUMN";
}
/** Columns of one file with different row counts, or a batch with ragged columns. */
export class ColumnLengthError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_COLUMN_LENGTH";
}
/** A value or array that does not fit the column's declared type or shape. */
export class SchemaError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_SCHEMA";
}
/** The manifest says one thing and the files on disk another. */
export class ManifestMismatchError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_MANIFEST_MISMATCH";
}
/** A manifest that is missing, unreadable JSON, or does not follow the manifest schema. */
export class ManifestError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_BAD_MANIFEST";
}
/** Writing failed (disk full, library error); the final file was not created. */
export class WriteError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_WRITE_FAILED";
}
/** An object id, row, config, file or directory that is not there. */
export class NotFoundError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_NOT_FOUND";
}
/** Arguments out of range: rows past the end, bad options, invalid numbers. */
export class UsageError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_USAGE";
}
/** An outside format (FITS, CSV, ECSV, YAML) whose content breaks its standard. */
export class FormatError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_FORMAT";
}
/** A builder spec that is not valid JSON, misses a field, or names something that is not there. */
export class SpecError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_BAD_SPEC";
}
/** The build state on disk cannot be resumed (a file it relies on vanished or changed). */
export class BuildStateError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_BUILD_STATE";
}
/**
 * Another process (or another writer in this process) is writing the same output: its lock file
 * names who, where and since when. Also thrown by a writer that lost its lock (taken over after
 * its heartbeat stopped) before it publishes anything.
 */
export class LockedError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_LOCKED";
}
/**
 * A size taken from outside (a file header, a manifest, a dataset's rows) that needs more memory
 * than the budget allows (`--memory`, `memoryBytes`, a reader's `maxBytes`); refused before
 * anything was allocated. The message names the file, the place and the bytes.
 */
export class MemoryBudgetError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_MEMORY_BUDGET";
}
/**
 * An optional dependency a feature needs is not installed (or has no native build for this
 * platform); the message names the package and how to install it.
 */
export class DependencyError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_MISSING_DEPENDENCY";
}
/** Something that cannot happen did: a bug in AstroPile. Please report it with the message. */
export class InternalError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_INTERNAL";
}

/** An error as it crosses a worker-thread boundary (structured clone keeps no class). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  file?: string;
  column?: string;
  stack?: string;
}

/** @internal */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; file?: string; column?: string };
    return {
      name: e.name,
      message: e.message,
      code: isAstroPileError(err) ? err.code : undefined,
      file: e.file,
      column: e.column,
      stack: e.stack,
    };
  }
  return { name: "Error", message: String(err) };
}

const CORE_CLASSES: Array<typeof AstroPileError> = [
  AstroPileError,
  CorruptFileError,
  MissingColumnError,
  ColumnLengthError,
  SchemaError,
  ManifestMismatchError,
  ManifestError,
  WriteError,
  NotFoundError,
  UsageError,
  FormatError,
  SpecError,
  BuildStateError,
  LockedError,
  MemoryBudgetError,
  DependencyError,
  InternalError,
];

/**
 * @internal The error a worker thread serialised, rebuilt in this thread as the same class with
 * the same message, code, file and column; any other error becomes a plain AstroPileError
 * (code ASTROPILE_ERROR) carrying its name and message.
 */
export function deserializeError(s: SerializedError): Error {
  const Cls = CORE_CLASSES.find((c) => c.name === s.name);
  let err: Error;
  if (Cls && s.code !== undefined) {
    err = new Cls("", {}, { code: s.code });
    // The message already names the place; keep the fields for callers that read them.
    Object.assign(err, { message: s.message, file: s.file, column: s.column });
  } else {
    err = new AstroPileError(`${s.name}: ${s.message}`);
  }
  if (s.stack) err.stack = s.stack;
  return err;
}
