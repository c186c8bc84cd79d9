// Errors of the build layer, on top of the shared typed errors (src/errors.ts).
import { AstroPileError } from "../core/errors.ts";

/** A builder spec that is not valid JSON, misses a field, or names something that is not there. */
export class SpecError extends AstroPileError {}

/** The build state on disk cannot be resumed (a file it relies on vanished or changed). */
export class BuildStateError extends AstroPileError {}
