// Argument checks shared by the sky modules (internal). Every message names the argument and
// the offending value, so a bad row in a billion-row batch can be found.
import { UsageError } from "../core/errors.ts";

/** Highest HEALPix order: 29 (nside 2^29, ~0.4 mas pixels), the order of `_healpix_29` keys. */
export const MAX_ORDER = 29;

export function checkOrder(order: number, name = "order"): void {
  if (!Number.isInteger(order) || order < 0 || order > MAX_ORDER) {
    throw new UsageError(`${name} must be an integer in 0..${MAX_ORDER}, got ${order}`);
  }
}

export function checkRa(ra: number, name = "raDeg"): void {
  if (!Number.isFinite(ra)) throw new UsageError(`${name} must be a finite number, got ${ra}`);
}

export function checkDec(dec: number, name = "decDeg"): void {
  // Written so that NaN fails too.
  if (!(dec >= -90 && dec <= 90)) {
    throw new UsageError(`${name} must be a finite number in [-90, 90] degrees, got ${dec}`);
  }
}

export function checkRadius(radius: number, name = "radiusDeg"): void {
  if (!(radius >= 0) || !Number.isFinite(radius)) {
    throw new UsageError(`${name} must be a finite number >= 0 degrees, got ${radius}`);
  }
}

export function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, names: string): void {
  if (a.length !== b.length) {
    throw new UsageError(`${names} must have the same length, got ${a.length} and ${b.length}`);
  }
}
