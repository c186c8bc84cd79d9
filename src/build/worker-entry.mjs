// Worker thread entry: the package runs TypeScript through tsx, which a worker thread does not
// inherit from a launcher that registered it programmatically (bin/astropile.mjs), so register
// it here before loading the worker module. libhdf5 (h5wasm) is imported first, natively: through
// tsx's loader its 4 MB module takes ~2 s to load, natively ~0.1 s, and the later import from
// the TypeScript side then finds it loaded.
await import("h5wasm/node");
const { register } = await import("tsx/esm/api");
register();
await import("./worker.ts");
