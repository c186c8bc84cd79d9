// The metadata of an HDF5 file in the structures AstroPile's own writer uses (hdf5-writer.ts),
// read without libhdf5: superblock version 2 or 3, a root group whose links and attributes are
// kept in its version-2 object header, datasets the fast read path covers, and scalar string or
// number attributes. Opening such a file this way spares a process loading h5wasm (~0.2 s).
// Anything else (older superblocks, symbol-table or dense groups, shared or dense attributes,
// variable-length types) throws NotCovered and the caller opens the file through libhdf5, which
// then reports damage in its own words. Every structure read here is under a lookup3 checksum.
import { CorruptFileError, type ErrorPlace } from "../core/errors.ts";
import { UNDEFINED } from "./hdf5-chunk-index.ts";
import {
  checkLookup3,
  type DirectFile,
  type DirectLayout,
  dv,
  type HeaderMessage,
  layoutOf,
  NotCovered,
  parseDatatype,
  uint,
} from "./hdf5-direct.ts";

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

const MSG_NIL = 0x00;
const MSG_LINK_INFO = 0x02;
const MSG_GROUP_INFO = 0x0a;
const MSG_LINK = 0x06;
const MSG_ATTRIBUTE = 0x0c;
const MSG_SYMBOL_TABLE = 0x11;
const MSG_ATTRIBUTE_INFO = 0x15;
/** Messages of a dataset's header this reader understands or may ignore when reading. */
const DATASET_MESSAGES = new Set([
  MSG_NIL,
  0x01, // dataspace
  0x03, // datatype
  0x05, // fill value
  0x08, // layout
  0x0b, // filter pipeline
  MSG_ATTRIBUTE,
  0x12, // modification time
  MSG_ATTRIBUTE_INFO,
]);
const GROUP_MESSAGES = new Set([
  MSG_NIL,
  MSG_LINK_INFO,
  MSG_GROUP_INFO,
  MSG_LINK,
  MSG_ATTRIBUTE,
  0x12,
  MSG_ATTRIBUTE_INFO,
]);

/** Most links or attributes one header may hold here (the writer's files have a few dozen). */
const MAX_ENTRIES = 4096;

/** A hard link of the root group; `order` its creation order where the group tracks it. */
interface Link {
  name: string;
  address: number;
  order?: number;
}

/** A dataset at the root of the file. */
export interface DatasetMetadata {
  name: string;
  /** Address of its object header. */
  address: number;
  layout: DirectLayout;
  attrs: Record<string, string | number>;
}

export interface FileMetadata {
  attrs: Record<string, string | number>;
  /** Root datasets, in the order libhdf5 lists links (creation order if tracked, else name). */
  datasets: DatasetMetadata[];
}

/** The root attributes and datasets of a file of the structures above; NotCovered otherwise. */
export function readFileMetadata(file: DirectFile, place: ErrorPlace): FileMetadata {
  const head = file.read(0, Math.min(48, file.length), place, "superblock");
  if (head.length < 48 || !SIGNATURE.every((b, i) => head[i] === b))
    throw new NotCovered("no HDF5 signature at byte 0");
  const version = head[8];
  if (version !== 2 && version !== 3) throw new NotCovered(`superblock version ${version}`);
  if (head[9] !== 8 || head[10] !== 8) throw new NotCovered("offsets or lengths not 8 bytes");
  // A file marked open for writing (or SWMR): libhdf5 decides what to make of it.
  if (head[11] !== 0) throw new NotCovered(`superblock flags ${head[11]}`);
  checkLookup3(head, place, "superblock");
  const v = dv(head);
  if (uint(v, 12, 8) !== 0) throw new NotCovered("base address not 0");
  if (uint(v, 20, 8) !== UNDEFINED) throw new NotCovered("superblock extension");
  // A file shorter than its end-of-file address is truncated: libhdf5 says so.
  if (uint(v, 28, 8) > file.length) throw new NotCovered("file shorter than its superblock says");
  const root = uint(v, 36, 8);
  // Version-1 headers carry no checksum: left to libhdf5.
  const messages = file.headerMessages(root, place, { checksummed: true });
  const links: Link[] = [];
  for (const m of messages) {
    if (!GROUP_MESSAGES.has(m.type)) {
      if (m.type === MSG_SYMBOL_TABLE) throw new NotCovered("symbol-table group");
      throw new NotCovered(`root header message ${m.type}`);
    }
    if (m.flags & 0x02) throw new NotCovered(`shared message ${m.type}`);
    if (m.type === MSG_LINK_INFO) checkCompact(m.body, place, "link info", 8);
    if (m.type === MSG_LINK) links.push(parseLink(m.body, place));
  }
  if (links.length > MAX_ENTRIES) throw new NotCovered("too many links");
  if (new Set(links.map((l) => l.name)).size !== links.length)
    throw new CorruptFileError("the root group links one name twice", place);
  const attrs = attributesOf(messages, place);
  // libhdf5 lists links in creation order where the group tracks it, else by name.
  if (links.every((l) => l.order !== undefined)) links.sort((a, b) => a.order! - b.order!);
  else {
    const enc = new TextEncoder();
    const bytes = new Map(links.map((l) => [l.name, enc.encode(l.name)]));
    links.sort((a, b) => Buffer.compare(bytes.get(a.name)!, bytes.get(b.name)!));
  }
  const datasets: DatasetMetadata[] = [];
  for (const link of links) {
    const at = { ...place, column: link.name };
    const dsMessages = file.headerMessages(link.address, at, { checksummed: true });
    for (const m of dsMessages) {
      if (!DATASET_MESSAGES.has(m.type)) throw new NotCovered(`dataset header message ${m.type}`);
      if (m.flags & 0x02) throw new NotCovered(`shared message ${m.type}`);
    }
    datasets.push({
      name: link.name,
      address: link.address,
      layout: layoutOf(dsMessages, at),
      attrs: attributesOf(dsMessages, at),
    });
  }
  return { attrs, datasets };
}

/**
 * Link info or attribute info: its fractal heap must be undefined (links/attributes compact).
 * Flag bit 0: a maximum creation index comes first (8 bytes in link info, 2 in attribute info).
 */
function checkCompact(b: Uint8Array, place: ErrorPlace, what: string, indexBytes: number): void {
  if (b.length < 2 || b[0] !== 0) throw new NotCovered(`${what} version ${b[0]}`);
  const at = b[1] & 0x01 ? 2 + indexBytes : 2;
  let heap: number;
  try {
    heap = uint(dv(b), at, 8);
  } catch {
    throw new CorruptFileError(`${what} message is truncated`, place);
  }
  if (heap !== UNDEFINED) throw new NotCovered(`${what}: dense storage`);
}

/** A link message (version 1): a hard link's name and object header address. */
function parseLink(b: Uint8Array, place: ErrorPlace): Link {
  try {
    const v = dv(b);
    if (b[0] !== 1) throw new NotCovered(`link message version ${b[0]}`);
    const flags = b[1];
    let p = 2;
    if (flags & 0x08) {
      if (b[p] !== 0) throw new NotCovered(`link type ${b[p]}`);
      p++;
    }
    let order: number | undefined;
    if (flags & 0x04) {
      order = uint(v, p, 8);
      p += 8;
    }
    let utf8 = false;
    if (flags & 0x10) {
      if (b[p] > 1) throw new NotCovered(`link name charset ${b[p]}`);
      utf8 = b[p] === 1;
      p++;
    }
    const width = 1 << (flags & 0x03);
    const length = uint(v, p, width);
    p += width;
    if (length < 1 || p + length + 8 > b.length)
      throw new CorruptFileError("link message is truncated", place);
    const name = decodeText(b.subarray(p, p + length), utf8);
    const address = uint(v, p + length, 8);
    if (address === UNDEFINED) throw new CorruptFileError(`link "${name}" has no address`, place);
    return { name, address, order };
  } catch (err) {
    if (err instanceof RangeError || err instanceof TypeError)
      throw new CorruptFileError("link message is unreadable", place, { cause: err });
    throw err;
  }
}

function attributesOf(
  messages: HeaderMessage[],
  place: ErrorPlace,
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  let n = 0;
  for (const m of messages) {
    if (m.type === MSG_ATTRIBUTE_INFO) checkCompact(m.body, place, "attribute info", 2);
    if (m.type !== MSG_ATTRIBUTE) continue;
    if (++n > MAX_ENTRIES) throw new NotCovered("too many attributes");
    const [name, value] = parseAttribute(m.body, place);
    // Assigning "__proto__" on a plain object does not make a key: left to the other path.
    if (name === "__proto__") throw new NotCovered("an attribute named __proto__");
    if (Object.hasOwn(out, name)) throw new CorruptFileError(`attribute "${name}" twice`, place);
    out[name] = value;
  }
  return out;
}

/**
 * An attribute message (versions 1-3) holding a scalar: a fixed-length string (null-terminated
 * or null-padded) or an integer of up to 4 bytes or a float, decoded as h5wasm decodes it.
 */
function parseAttribute(b: Uint8Array, place: ErrorPlace): [string, string | number] {
  try {
    const v = dv(b);
    const version = b[0];
    if (version < 1 || version > 3) throw new NotCovered(`attribute message version ${version}`);
    if (version >= 2 && b[1] !== 0) throw new NotCovered("shared attribute type or space");
    const nameSize = v.getUint16(2, true);
    const typeSize = v.getUint16(4, true);
    const spaceSize = v.getUint16(6, true);
    let utf8 = false;
    let p = 8;
    if (version === 3) {
      if (b[8] > 1) throw new NotCovered(`attribute name charset ${b[8]}`);
      utf8 = b[8] === 1;
      p = 9;
    }
    const pad = (n: number) => (version === 1 ? Math.ceil(n / 8) * 8 : n);
    const nameBytes = b.subarray(p, p + nameSize);
    if (nameSize < 1 || nameBytes.length !== nameSize || nameBytes[nameSize - 1] !== 0)
      throw new CorruptFileError("attribute name is not null-terminated", place);
    const name = decodeText(nameBytes.subarray(0, nameSize - 1), utf8);
    p += pad(nameSize);
    const typeBytes = b.subarray(p, p + typeSize);
    p += pad(typeSize);
    const spaceBytes = b.subarray(p, p + spaceSize);
    p += pad(spaceSize);
    const type = parseDatatype(typeBytes);
    if (!isScalar(spaceBytes, place)) throw new NotCovered(`attribute "${name}" is not a scalar`);
    const data = b.subarray(p, p + type.elementSize);
    if (data.length !== type.elementSize)
      throw new CorruptFileError(`attribute "${name}" value is truncated`, place);
    const d = dv(data);
    const le = !type.bigEndian;
    if (type.typeClass === 3) {
      // Padding (bits 0-3): 0 null-terminated, 1 null-padded; space-padded left to libhdf5.
      if ((typeBytes[1] & 0x0f) > 1) throw new NotCovered("space-padded string attribute");
      let end = data.indexOf(0);
      if (end < 0) end = data.length;
      return [name, decodeText(data.subarray(0, end), type.cset === 1)];
    }
    if (type.typeClass === 1 && type.elementSize === 8) return [name, d.getFloat64(0, le)];
    if (type.typeClass === 1 && type.elementSize === 4) return [name, d.getFloat32(0, le)];
    if (type.typeClass === 0) {
      const s = type.signed;
      switch (type.elementSize) {
        case 1:
          return [name, s ? d.getInt8(0) : d.getUint8(0)];
        case 2:
          return [name, s ? d.getInt16(0, le) : d.getUint16(0, le)];
        case 4:
          return [name, s ? d.getInt32(0, le) : d.getUint32(0, le)];
      }
    }
    throw new NotCovered(`attribute "${name}" of type class ${type.typeClass}`);
  } catch (err) {
    if (err instanceof RangeError || err instanceof TypeError)
      throw new CorruptFileError("attribute message is unreadable", place, { cause: err });
    throw err;
  }
}

/** A dataspace message of a scalar (version 1 rank 0, or version 2 type scalar). */
function isScalar(b: Uint8Array, place: ErrorPlace): boolean {
  if (b.length < 4) throw new CorruptFileError("attribute dataspace is truncated", place);
  if (b[0] === 2) return b[3] === 0;
  if (b[0] === 1) return b[1] === 0;
  throw new NotCovered(`dataspace version ${b[0]}`);
}

/**
 * Text of a name or string value: UTF-8 (invalid bytes refused), or ASCII. Bytes past 0x7f in
 * "ASCII" text are decoded differently by different readers: left to libhdf5.
 */
function decodeText(bytes: Uint8Array, utf8: boolean): string {
  if (!utf8 && bytes.some((x) => x > 0x7f)) throw new NotCovered("non-ASCII bytes in ASCII text");
  return new TextDecoder(utf8 ? "utf-8" : "ascii", { fatal: utf8 }).decode(bytes);
}
