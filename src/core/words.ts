// The 32-bit word view of 64-bit arrays, apart from columns.ts so that modules bundled for the
// browser (sky/healpix.ts, in the web viewer) use it without Node's Buffer.

/**
 * The 32-bit words of a 64-bit array (low word first on this little-endian machine): int64
 * values read and moved without a BigInt each. Views the same memory.
 */
export function int64Words(values: BigInt64Array | BigUint64Array | Float64Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, 2 * values.length);
}
