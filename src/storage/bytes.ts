// Byte arrays whose every byte the caller writes before reading: not zeroed first, and outside
// Node's shared buffer pool (a pooled Buffer's ArrayBuffer holds other Buffers' bytes too).

/** `n` bytes, not zeroed, in an ArrayBuffer of their own. */
export function unzeroedBytes(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer as ArrayBuffer, 0, n);
}
