// libhdf5 stamps access/modification/change/birth times into every version-2 object header, and
// h5wasm offers no way to turn that off (H5Pset_obj_track_times), so two writes of the same rows
// differ in a few bytes. clearObjectTimes zeroes those times in a closed file and recomputes the
// headers' checksums, so equal content gives equal bytes (and sha256). It walks the file from the
// superblock through compact links only and patches a header only after its checksum verified:
// anything it does not recognise is left as libhdf5 wrote it.
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { lookup3 } from "./lookup3.ts";

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const MSG_LINK = 0x06;
const MSG_CONTINUATION = 0x10;
/** Larger "headers" are not what this walker expects. */
const MAX_HEADER_BYTES = 1 << 20;

function checksumOk(buf: Buffer): boolean {
  return lookup3(buf.subarray(0, buf.length - 4)) === buf.readUInt32LE(buf.length - 4);
}

function uintLE(buf: Buffer, at: number, width: number): number {
  return width === 8 ? Number(buf.readBigUInt64LE(at)) : buf.readUIntLE(at, width);
}

/**
 * Zeroes the object times of the root group's header, of every header reachable from it through
 * compact links, and of the headers at `objects` (addresses libhdf5 gave, e.g. the datasets of a
 * group whose links live in a fractal heap, which this walker does not read); returns how many.
 */
export function clearObjectTimes(path: string, objects: readonly number[] = []): number {
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    const read = (at: number, n: number): Buffer | null => {
      if (!(at >= 0 && n > 0 && n <= MAX_HEADER_BYTES && at + n <= size)) return null;
      const b = Buffer.alloc(n);
      return readSync(fd, b, 0, n, at) === n ? b : null;
    };
    // Superblock version 2 or 3 at offset 0 with 8-byte addresses: what h5wasm writes.
    const sb = read(0, 48);
    if (!sb?.subarray(0, 8).equals(SIGNATURE) || (sb[8] !== 2 && sb[8] !== 3) || sb[9] !== 8)
      return 0;
    if (!checksumOk(sb)) return 0;
    const pending = [...objects, Number(sb.readBigUInt64LE(36))];
    const seen = new Set<number>();
    let cleared = 0;
    while (pending.length > 0) {
      const at = pending.pop()!;
      if (seen.has(at)) continue;
      seen.add(at);
      const prefix = read(at, 6);
      if (prefix?.toString("latin1", 0, 4) !== "OHDR" || prefix[4] !== 2) continue;
      const flags = prefix[5];
      const timesAt = flags & 0x20 ? 6 : -1;
      const sizeAt = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
      const width = 1 << (flags & 3);
      const head = read(at, sizeAt + width);
      if (!head) continue;
      const dataAt = sizeAt + width;
      const header = read(at, dataAt + uintLE(head, sizeAt, width) + 4);
      if (!header || !checksumOk(header)) continue;
      const msgHead = flags & 0x04 ? 6 : 4;
      const messages = (buf: Buffer, from: number, to: number) => {
        for (let p = from; p + msgHead <= to; ) {
          const type = buf[p];
          const n = buf.readUInt16LE(p + 1);
          const body = buf.subarray(p + msgHead, p + msgHead + n);
          if (type === MSG_LINK) {
            const link = hardLink(body);
            if (link !== null) pending.push(link);
          } else if (type === MSG_CONTINUATION && body.length >= 16) {
            const chunk = read(Number(body.readBigUInt64LE(0)), Number(body.readBigUInt64LE(8)));
            if (chunk?.toString("latin1", 0, 4) === "OCHK" && checksumOk(chunk))
              messages(chunk, 4, chunk.length - 4);
          }
          p += msgHead + n;
        }
      };
      messages(header, dataAt, header.length - 4);
      if (timesAt < 0) continue;
      header.fill(0, timesAt, timesAt + 16);
      header.writeUInt32LE(lookup3(header.subarray(0, header.length - 4)), header.length - 4);
      writeSync(fd, header, 0, header.length, at);
      cleared++;
    }
    return cleared;
  } finally {
    closeSync(fd);
  }
}

/** The object address of a hard link message; null for soft and external links. */
function hardLink(body: Buffer): number | null {
  if (body.length < 2 || body[0] !== 1) return null;
  const flags = body[1];
  let p = 2;
  let type = 0;
  if (flags & 0x08) type = body[p++];
  if (flags & 0x04) p += 8;
  if (flags & 0x10) p += 1;
  const width = 1 << (flags & 3);
  if (type !== 0 || p + width > body.length) return null;
  p += width + uintLE(body, p, width);
  return p + 8 <= body.length ? Number(body.readBigUInt64LE(p)) : null;
}
