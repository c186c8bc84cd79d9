// Loaded with `node --import` before tsx in `npm test`: libhdf5 (h5wasm, a 4 MB generated
// module) is imported natively, so tsx's loader never transforms it (~2 s and ~600 MB per test
// file otherwise). Later imports of h5wasm reuse this module.
import "h5wasm/node";
