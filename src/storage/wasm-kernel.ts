// What the hand-assembled WebAssembly kernels (fletcher32.ts, shuffle.ts) share: the module's
// bytes around its one function, and compiling it where the runtime can.

/** Unsigned LEB128, as the format spells sizes. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}

/**
 * A module of `head` (the header and every section before the code) and one function `body`:
 * the code section counts the body and its own size rather than typing them.
 */
export function moduleBytes(head: number[], body: number[]): Uint8Array {
  const code = [0x01, ...leb(body.length), ...body];
  return Uint8Array.from([...head, 0x0a, ...leb(code.length), ...code]);
}

/** The little of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** An instance of a kernel: its exports, and its memory `m`. */
export interface KernelInstance {
  exports: Record<string, unknown>;
  memory: ArrayBuffer;
}

/**
 * A getter of the kernel `unpack` makes from an instance of `bytes`, compiled on the first call
 * and kept; null where this runtime cannot compile it (no WebAssembly SIMD): the caller then does
 * everything in JavaScript.
 */
export function lazyKernel<K>(
  bytes: Uint8Array,
  unpack: (instance: KernelInstance) => K,
): () => K | null {
  let kernel: K | null | undefined;
  return () => {
    if (kernel === undefined) {
      const instance = instantiate(bytes);
      kernel = instance && unpack(instance);
    }
    return kernel;
  };
}

function instantiate(bytes: Uint8Array): KernelInstance | null {
  try {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const instance = new wasm.Instance(new wasm.Module(bytes));
    const memory = (instance.exports.m as { buffer: ArrayBuffer }).buffer;
    return { exports: instance.exports, memory };
  } catch {
    return null;
  }
}
