// The memory budget. Every size that comes from outside (a builder spec, a file header, a
// manifest, the rows of a dataset) is turned into bytes here and checked against a budget
// before anything is allocated from it, so a hostile or mistaken number gives a one-line typed
// error naming the field and the bytes, never an allocation of what it claims.
//
// Sizes are multiplied exactly (bigint): header values go up to 2^53 and their products far
// beyond, where floating-point products round and overflow to Infinity.
import { type AstroPileError, type ErrorPlace, MemoryBudgetError } from "./errors.ts";
import { formatBytes } from "./units.ts";

/** Default memory budget of a build or a cross-match (`--memory`): 512 MiB. */
export const DEFAULT_MEMORY_BYTES = 512 * 2 ** 20;

/** Smallest memory budget a build or a cross-match accepts: 16 MiB. */
export const MIN_MEMORY_BYTES = 16 * 2 ** 20;

/** An error class that takes (message, place): who must change something decides which. */
export type BudgetErrorClass = new (message: string, place?: ErrorPlace) => AstroPileError;

/** Exact product of sizes (counts, bytes per element); a negative or fractional factor throws. */
export function sizeProduct(...factors: Array<number | bigint>): bigint {
  let p = 1n;
  for (const f of factors) {
    if (typeof f === "number" && !(Number.isSafeInteger(f) && f >= 0)) {
      throw new RangeError(`size factor ${f} is not a non-negative safe integer`);
    }
    if (typeof f === "bigint" && f < 0n) throw new RangeError(`size factor ${f} is negative`);
    p *= BigInt(f);
  }
  return p;
}

function bytesText(bytes: bigint | number): string {
  const n = Number(bytes);
  return `${bytes} bytes${Number.isFinite(n) && n >= 1024 ? ` (${formatBytes(n)})` : ""}`;
}

/**
 * Checks that `bytes` (of `what`, e.g. "one output row (image.stampSize 4096 x 4096 x 5 bands)")
 * fit in `budget` bytes; returns them as a number. Otherwise throws `ErrorClass` (default
 * MemoryBudgetError) naming what, the place, the bytes and the budget, before anything is
 * allocated. NaN, negative or infinite sizes are refused the same way.
 */
export function checkAllocation(
  bytes: number | bigint,
  what: string,
  place: ErrorPlace,
  budget: number,
  ErrorClass: BudgetErrorClass = MemoryBudgetError,
  hint?: string,
): number {
  const valid =
    typeof bytes === "bigint" ? bytes >= 0n : Number.isFinite(bytes) && (bytes as number) >= 0;
  if (!valid) throw new ErrorClass(`${what}: size ${bytes} is not a number of bytes`, place);
  const big = typeof bytes === "bigint" ? bytes : BigInt(Math.ceil(bytes));
  if (big > BigInt(Math.floor(budget))) {
    throw new ErrorClass(
      `${what} needs ${bytesText(big)} in memory, more than the budget of ${bytesText(Math.floor(budget))}${hint ? `; ${hint}` : ""}`,
      place,
    );
  }
  return Number(big);
}

/**
 * A memory budget in bytes, with a label for messages (e.g. "--memory"). `check` refuses a size
 * over it; `rowsFor` says how many rows of a given size a batch may hold within a part of it.
 */
export class MemoryBudget {
  readonly bytes: number;
  /** How the budget was set, for messages: "--memory 512MiB", "memoryBytes". */
  readonly label: string;

  constructor(bytes: number = DEFAULT_MEMORY_BYTES, label = "memory budget") {
    if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
      throw new RangeError(`a memory budget must be a positive integer of bytes, got ${bytes}`);
    }
    this.bytes = bytes;
    this.label = label;
  }

  /** Checks `bytes` against the whole budget (see {@link checkAllocation}). */
  check(
    bytes: number | bigint,
    what: string,
    place: ErrorPlace = {},
    ErrorClass?: BudgetErrorClass,
  ): number {
    return checkAllocation(
      bytes,
      what,
      place,
      this.bytes,
      ErrorClass,
      `raise ${this.label} or read less at once`,
    );
  }

  /** A part of this budget (e.g. per worker thread), with the same label. */
  part(fraction: number): MemoryBudget {
    return new MemoryBudget(Math.max(1, Math.floor(this.bytes * fraction)), this.label);
  }

  /**
   * Rows of `rowBytes` each that fit in `fraction` of the budget, between 1 and `maxRows`. A row
   * that alone does not fit is refused with `ErrorClass`, naming `what`.
   */
  rowsFor(
    rowBytes: number,
    what: string,
    options: {
      fraction?: number;
      maxRows?: number;
      place?: ErrorPlace;
      ErrorClass?: BudgetErrorClass;
    } = {},
  ): number {
    const share = Math.floor(this.bytes * (options.fraction ?? 1));
    checkAllocation(
      rowBytes,
      `one row of ${what}`,
      options.place ?? {},
      share,
      options.ErrorClass,
      `raise ${this.label}`,
    );
    const rows = rowBytes > 0 ? Math.floor(share / rowBytes) : Number.MAX_SAFE_INTEGER;
    return Math.max(1, Math.min(options.maxRows ?? Number.MAX_SAFE_INTEGER, rows));
  }
}
