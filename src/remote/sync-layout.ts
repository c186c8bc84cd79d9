// Layout of the SharedArrayBuffer a synchronous ranged read is answered in: an Int32 state and
// the length of a JSON answer, the JSON, then the ranges' bytes back to back.
export const META_BYTES = 16 * 1024;
export const STATE_WAITING = 0;
export const STATE_DONE = 1;
export const STATE_FAILED = 2;
