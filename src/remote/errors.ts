// Errors of remote reads and publishing. Each has a stable code; none carries credentials (URLs
// are printed without query strings or user info).
import { AstroPileError } from "../core/errors.ts";

/** A server or network failure that retries did not overcome (5xx, resets, short bodies, timeouts). */
export class RemoteError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_REMOTE";
  /** HTTP status of the last attempt, when there was a response. */
  status?: number;
}

/**
 * The file changed on the server while it was open (its ETag / Last-Modified / size differs
 * from the one seen when it was opened): no bytes of the two versions are ever mixed. Reopen
 * the dataset to read the new version.
 */
export class RemoteChangedError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_REMOTE_CHANGED";
}

/** The server refused access (HTTP 401/403, S3 AccessDenied): credentials missing or wrong. */
export class RemoteAccessDeniedError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_REMOTE_DENIED";
}

/** Offline mode, and the bytes asked for are not in the range cache. */
export class RemoteOfflineError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_REMOTE_OFFLINE";
}

/** Publishing failed; the destination's previous version (manifest and files) is still readable. */
export class PublishError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_PUBLISH";
}

export { redactUrl } from "../core/remote-path.ts";
