// Fuzz family "datasets": a copy of a small clean dataset (two configs, written by the real
// writer) damaged in one to three ways: bytes of partition files, sidecars and the manifest
// flipped, truncated, zeroed or appended to; manifest fields edited (rows, bytes, key ranges,
// pixels, paths, identities, shapes, dtypes, sidecar entries; huge and ill-typed values; entries
// reordered, duplicated, dropped); files swapped, deleted or replaced by a later version's.
//
// Oracle, for every read (open, length, batches, take, cone, nearest, getById, filter, cross-match
// both ways): an AstroPileError or exactly the clean dataset's answer; `verifyDataset` (with
// checksums) reports a problem whenever a read failed; reads write nothing into the dataset.
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type H5File, h5wasm, hdf5Ready } from "../../src/storage/hdf5.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { answer, type Clean, CONFIGS, makeClean, probes } from "./clean-datasets.ts";
import { type Family, FuzzFailure, typedOrValue } from "./family.ts";
import type { Rng } from "./rng.ts";

const MANIFEST = "astropile.json";
let clean: Clean;

// biome-ignore lint/suspicious/noExplicitAny: the manifest is edited as untyped JSON on purpose
type Json = any;

interface Target {
  root: string;
  manifest: Json;
  partitions: string[];
  sidecars: string[];
  /** The config each file belongs to (from the manifest). */
  configOf: Map<string, string>;
  /** Configs a mutation touched: their reads are all checked. */
  touched: Set<string>;
}

/** The clean manifest's files: every mutation picks from these, never from a path layout. */
function target(root: string, touched: Set<string>): Target {
  const manifest = JSON.parse(readFileSync(join(clean.a, MANIFEST), "utf8"));
  const configOf = new Map<string, string>();
  const sidecars: string[] = [];
  for (const [name, c] of Object.entries(manifest.configs) as Array<[string, Json]>) {
    sidecars.push(c.positions.path, c.idIndex.path);
    configOf.set(c.positions.path, name).set(c.idIndex.path, name);
  }
  for (const f of manifest.files) configOf.set(f.path, f.config);
  let current = manifest;
  try {
    const now = JSON.parse(readFileSync(join(root, MANIFEST), "utf8"));
    // Edits need files and configs to edit; an earlier step may have left neither (e.g. files
    // emptied): edits then go to the clean one, as when the text no longer parses.
    if (editable(now)) current = now;
  } catch {
    // Already damaged by an earlier step: edits go to the clean one.
  }
  return {
    root,
    manifest: current,
    partitions: manifest.files.map((f: Json) => f.path),
    sidecars,
    configOf,
    touched,
  };
}

/** A manifest editManifest can edit: two or more file entries, configs with column lists. */
function editable(m: Json): boolean {
  const isObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  return (
    isObject(m) &&
    Array.isArray(m.files) &&
    m.files.length >= 2 &&
    m.files.every(isObject) &&
    isObject(m.configs) &&
    Object.keys(m.configs).length > 0 &&
    Object.values(m.configs as Record<string, Json>).every(
      (c) => isObject(c) && Array.isArray(c.columns) && c.columns.length > 0,
    )
  );
}

/** Marks the config of `rel` (every config for the manifest) as touched. */
function touch(t: Target, rel: string): void {
  const c = t.configOf.get(rel);
  if (c) t.touched.add(c);
  else for (const n of CONFIGS) t.touched.add(n);
}

// ---- byte-level damage ----------------------------------------------------------------------

function flip(path: string, rng: Rng, where: "head" | "tail" | "any"): string {
  const buf = readFileSync(path);
  if (buf.length === 0) return "flip (empty file)";
  const count = rng.weighted([
    [6, 1],
    [2, 2],
    [1, 8],
  ] as const);
  const at: number[] = [];
  for (let k = 0; k < count; k++) {
    const span = Math.min(buf.length, 4096);
    const i =
      where === "head"
        ? rng.int(span)
        : where === "tail"
          ? buf.length - 1 - rng.int(span)
          : rng.int(buf.length);
    buf[i] ^= 1 + rng.int(255);
    at.push(i);
  }
  writeFileSync(path, buf);
  return `flip bytes ${at.join(",")} of ${buf.length}`;
}

function damageBytes(t: Target, rng: Rng): string {
  const rel = rng.weighted([
    [6, () => rng.pick(t.partitions)],
    [3, () => rng.pick(t.sidecars)],
    [1, () => MANIFEST],
  ] as const)();
  const path = join(t.root, rel);
  touch(t, rel);
  if (!existsSync(path)) return `${rel}: already gone`;
  const size = statSync(path).size;
  const op = rng.weighted([
    [4, "flip-head"],
    [4, "flip-any"],
    [1, "flip-tail"],
    [2, "truncate"],
    [2, "zero"],
    [1, "append"],
  ] as const);
  let what: string;
  switch (op) {
    case "flip-head":
      what = flip(path, rng, "head");
      break;
    case "flip-any":
      what = flip(path, rng, "any");
      break;
    case "flip-tail":
      what = flip(path, rng, "tail");
      break;
    case "truncate": {
      const to = rng.pick([0, 1, 8, 512, size >> 1, size - 1, rng.int(size)]);
      writeFileSync(path, readFileSync(path).subarray(0, Math.max(0, Math.min(size - 1, to))));
      what = `truncate to ${to} of ${size}`;
      break;
    }
    case "zero": {
      const buf = readFileSync(path);
      const len = rng.pick([1, 4, 16, 64, 512, 4096]);
      const from = rng.chance(0.5) ? rng.int(Math.min(size, 4096)) : rng.int(size);
      buf.fill(0, from, Math.min(size, from + len));
      writeFileSync(path, buf);
      what = `zero [${from}, ${from + len}) of ${size}`;
      break;
    }
    case "append": {
      const extra = rng.chance(0.3) ? readFileSync(path) : rng.bytes(rng.pick([1, 7, 512, 4096]));
      writeFileSync(path, Buffer.concat([readFileSync(path), extra]));
      what = `append ${extra.length} bytes to ${size}`;
      break;
    }
  }
  return `${rel}: ${what}`;
}

// ---- whole files ----------------------------------------------------------------------------

function sameConfigPair(t: Target, rng: Rng): [string, string] | null {
  const f = t.manifest.files as Json[];
  const a = rng.pick(f);
  const others = f.filter((x) => x.config === a.config && x.path !== a.path);
  return others.length ? [a.path, rng.pick(others).path] : null;
}

function damageFiles(t: Target, rng: Rng): string {
  const op = rng.weighted([
    [3, "swap"],
    [2, "other-config"],
    [3, "later-version"],
    [2, "sidecar-swap"],
    [2, "later-sidecar"],
    [1, "delete"],
    [2, "stale-manifest"],
    [1, "copy-over-itself-older"],
    [4, "edit-attr"],
  ] as const);
  const p = (rel: string) => join(t.root, rel);
  for (const n of CONFIGS) t.touched.add(n);
  switch (op) {
    case "swap": {
      const pair = sameConfigPair(t, rng);
      if (!pair) return "swap: no pair";
      const [x, y] = pair;
      const bx = readFileSync(p(x));
      writeFileSync(p(x), readFileSync(p(y)));
      writeFileSync(p(y), bx);
      return `swap ${x} <-> ${y}`;
    }
    case "other-config": {
      const a = rng.pick(t.manifest.files as Json[]);
      const b = rng.pick((t.manifest.files as Json[]).filter((f) => f.config !== a.config));
      cpSync(p(b.path), p(a.path));
      return `${a.path} replaced by ${b.path}`;
    }
    case "later-version": {
      const rel = rng.pick(t.partitions);
      cpSync(join(clean.alt, rel), p(rel));
      return `${rel} replaced by the later version's`;
    }
    case "sidecar-swap": {
      const x = rng.pick(t.sidecars);
      const y = rng.pick(t.sidecars.filter((s) => s !== x));
      cpSync(p(y), p(x));
      return `${x} replaced by ${y}`;
    }
    case "later-sidecar": {
      const rel = rng.pick(t.sidecars);
      cpSync(join(clean.alt, rel), p(rel));
      return `${rel} replaced by the later version's`;
    }
    case "delete": {
      const rel = rng.pick([...t.partitions, ...t.sidecars]);
      rmSync(p(rel), { force: true });
      return `delete ${rel}`;
    }
    case "stale-manifest": {
      cpSync(join(clean.alt, MANIFEST), p(MANIFEST));
      return "manifest replaced by the later version's";
    }
    case "edit-attr":
      return editAttribute(t, rng);
    case "copy-over-itself-older": {
      // The later version's manifest entry for one file (its identity, sha256, key range)
      // with this version's file on disk.
      const alt = JSON.parse(readFileSync(join(clean.alt, MANIFEST), "utf8"));
      const k = rng.int(t.manifest.files.length);
      t.manifest.files[k] = alt.files[k];
      writeFileSync(p(MANIFEST), JSON.stringify(t.manifest, null, 1));
      return `files.${k}: the later version's entry`;
    }
  }
}

/**
 * An HDF5 attribute of a partition file or sidecar rewritten in place by libhdf5 (the file stays
 * a valid HDF5 file): the identity, the file-list binding, the bool marker of a column, or a new
 * attribute.
 */
function editAttribute(t: Target, rng: Rng): string {
  const rel = rng.pick(rng.chance(0.7) ? t.partitions : t.sidecars);
  const path = join(t.root, rel);
  if (!existsSync(path)) return `${rel}: already gone`;
  const lib = h5wasm();
  let file: H5File;
  try {
    file = new lib.File(path, "a");
  } catch {
    return `${rel}: does not open for writing`;
  }
  try {
    const objects: Array<
      { name: string; attrs: Record<string, unknown> } & {
        create_attribute: (n: string, v: string | number) => void;
        delete_attribute: (n: string) => number;
      }
    > = [file as never];
    for (const k of file.keys()) objects.push(file.get(k) as never);
    const o = rng.pick(objects);
    const names = Object.keys(o.attrs);
    if (names.length && rng.chance(0.8)) {
      const name = rng.pick(names);
      const old = (o.attrs[name] as { value: unknown }).value;
      o.delete_attribute(name);
      const value = rng.chance(0.2)
        ? 1
        : typeof old === "string" && old.length
          ? rng.chance(0.5)
            ? flipHex(rng, old)
            : old.toUpperCase()
          : "int8";
      if (rng.chance(0.85)) o.create_attribute(name, value);
      return `${rel}: attribute ${name} of ${o.name} ${JSON.stringify(old)} -> ${JSON.stringify(value)}`;
    }
    const name = rng.pick(["astropile_dtype", "astropile_identity", "units", "x"]);
    if (names.includes(name)) o.delete_attribute(name);
    o.create_attribute(name, rng.pick(["bool", "0".repeat(64), "deg"]));
    return `${rel}: attribute ${name} added to ${o.name}`;
  } finally {
    file.close();
  }
}

// ---- manifest fields ------------------------------------------------------------------------

function numberLike(rng: Rng, v: number): unknown {
  return rng.pick([
    v + 1,
    v - 1,
    0,
    1,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 + 1,
    2 ** 53,
    1e15,
    -1,
    1.5,
    String(v),
    null,
    1e308,
  ]);
}

function keyLike(rng: Rng, k: string, other: string): unknown {
  const b = BigInt(k);
  return rng.pick([
    (b + 1n).toString(),
    (b - 1n).toString(),
    (b + (1n << 40n)).toString(),
    "0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    other,
    "1e5",
    ` ${k}`,
    Number(k),
  ]);
}

function flipHex(rng: Rng, h: string): string {
  if (typeof h !== "string" || h.length === 0) return "0";
  const i = rng.int(h.length);
  const c = "0123456789abcdef"[(parseInt(h[i], 16) + 1 + rng.int(15)) % 16];
  return h.slice(0, i) + c + h.slice(i + 1);
}

function setOwn(obj: Json, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Sets `obj[key]` and says so. */
function set(obj: Json, key: string, value: unknown, label: string): string {
  const before = obj[key];
  if (value === undefined) delete obj[key];
  else obj[key] = value;
  return `${label}.${key}: ${JSON.stringify(before)} -> ${JSON.stringify(value)}`;
}

function editManifest(t: Target, rng: Rng): string {
  const m = t.manifest;
  const files = m.files as Json[];
  const k = rng.int(files.length);
  const f = files[k];
  const other = files[(k + 1 + rng.int(files.length - 1)) % files.length];
  const cname = rng.pick(Object.keys(m.configs));
  const c = m.configs[cname];
  const j = rng.int(c.columns.length);
  const col = c.columns[j];
  const fk = `files.${k}`;
  const cc = `configs.${cname}`;
  const cj = `${cc}.columns.${j} (${col.name})`;
  const edits: Array<[number, () => string]> = [
    [3, () => set(f, "rows", numberLike(rng, f.rows), fk)],
    [2, () => set(f, "bytes", numberLike(rng, f.bytes), fk)],
    [
      3,
      () => {
        const which = rng.pick(["keyMin", "keyMax"]);
        return set(f, which, keyLike(rng, f[which], other[which]), fk);
      },
    ],
    [
      1,
      () => {
        [f.keyMin, f.keyMax] = [f.keyMax, f.keyMin];
        return `${fk}: keyMin <-> keyMax`;
      },
    ],
    [
      2,
      () => {
        // Two entries of one config trade paths (each names the other's file).
        const o = rng.pick(files.filter((x) => x.config === f.config && x !== f));
        [f.path, o.path] = [o.path, f.path];
        return `${fk}.path <-> files.${files.indexOf(o)}.path`;
      },
    ],
    [
      2,
      () =>
        set(
          f,
          "pixel",
          rng.pick([f.pixel + 1, f.pixel - 1, other.pixel, 0, 3071, 3072, 12 * 4 ** 10, -1, 1e15]),
          fk,
        ),
    ],
    [
      3,
      () =>
        set(
          f,
          "path",
          rng.pick([
            other.path,
            `../${f.path}`,
            "/etc/hostname",
            `${f.path}/`,
            `./${f.path}`,
            f.path.toUpperCase(),
            f.path.replaceAll("/", "\\"),
            MANIFEST,
            rng.pick(t.sidecars),
            `${f.path}\u0000`,
            "",
            `${f.config}/../${f.path}`,
            `${f.path}.tmp`,
          ]),
          fk,
        ),
    ],
    [
      3,
      () =>
        set(
          f,
          "identity",
          rng.pick([
            flipHex(rng, f.identity),
            other.identity,
            f.sha256,
            undefined,
            f.identity?.toUpperCase(),
          ]),
          fk,
        ),
    ],
    [1, () => set(f, "sha256", rng.pick([flipHex(rng, f.sha256), other.sha256]), fk)],
    [
      2,
      () =>
        set(
          f,
          "config",
          rng.pick([...Object.keys(m.configs), "__proto__", "constructor", "nope"]),
          fk,
        ),
    ],
    [
      2,
      () => {
        const [a, b] = [rng.int(files.length), rng.int(files.length)];
        [files[a], files[b]] = [files[b], files[a]];
        return `files ${a} <-> ${b}`;
      },
    ],
    [
      1,
      () => {
        files.reverse();
        return "files reversed";
      },
    ],
    [
      1,
      () => {
        files.splice(rng.int(files.length + 1), 0, { ...f });
        return `${fk} duplicated`;
      },
    ],
    [
      2,
      () => {
        files.splice(k, 1);
        return `${fk} dropped`;
      },
    ],
    [2, () => set(c, "rows", numberLike(rng, c.rows), cc)],
    [
      2,
      () =>
        set(
          col,
          "shape",
          rng.pick([
            [],
            [2, 3, 4],
            [0],
            [1e9],
            [1e15, 1e15],
            [...col.shape, 1],
            col.shape.slice(1),
            [-1],
          ]),
          cj,
        ),
    ],
    [
      2,
      () =>
        set(
          col,
          "dtype",
          rng.pick([
            "float32",
            "float64",
            "int8",
            "int32",
            "int64",
            "uint64",
            "bool",
            "string",
            "complex128",
          ]),
          cj,
        ),
    ],
    [1, () => set(col, "stringLength", rng.pick([1, 5, 17, 1e9, undefined, 0]), cj)],
    [
      1,
      () =>
        set(
          col,
          "name",
          rng.pick([
            c.columns[(j + 1) % c.columns.length].name,
            "__proto__",
            "constructor",
            `${col.name}_x`,
            "healpix",
          ]),
          cj,
        ),
    ],
    [
      1,
      () => {
        c.columns.splice(j, 1);
        return `${cj} dropped`;
      },
    ],
    [
      1,
      () => {
        c.columns.push({ ...col });
        return `${cj} duplicated`;
      },
    ],
    [
      1,
      () => {
        c.columns.reverse();
        return `${cc}.columns reversed`;
      },
    ],
    [3, () => editIdIndex(m, cname, rng)],
    [3, () => editPositions(m, cname, rng)],
    [1, () => set(m, "formatVersion", rng.pick([0, 3, "1", 1.5]), "")],
    [1, () => set(m, "partitionOrder", rng.pick([3, 5, 29, "4"]), "")],
    [1, () => set(m, "files", [], "")],
    [
      1,
      () => {
        const [a, b] = Object.keys(m.configs);
        const ca = m.configs[a];
        setOwn(m.configs, a, m.configs[b]);
        setOwn(m.configs, b, ca);
        return `configs ${a} <-> ${b}`;
      },
    ],
    [
      1,
      () => {
        const name = rng.pick(["__proto__", "constructor", "toString"]);
        setOwn(m.configs, name, { ...c });
        return `configs.${name}: a copy of ${cc}`;
      },
    ],
  ];
  const what = rng.weighted(edits)();
  for (const n of CONFIGS) t.touched.add(n);
  writeFileSync(join(t.root, MANIFEST), JSON.stringify(m, null, rng.chance(0.5) ? 1 : 0));
  return `manifest ${what}`;
}

function editIdIndex(m: Json, cname: string, rng: Rng): string {
  const c = m.configs[cname];
  const x = c.idIndex;
  const label = `configs.${cname}.idIndex`;
  switch (rng.int(8)) {
    case 0: {
      const i = rng.int(x.fence.length);
      return set(
        x.fence,
        String(i),
        keyLike(rng, x.fence[i], x.fence[(i + 1) % x.fence.length]),
        `${label}.fence`,
      );
    }
    case 1:
      x.fence.splice(rng.int(x.fence.length), 1);
      return `${label}.fence: one dropped`;
    case 2:
      x.fence.reverse();
      return `${label}.fence reversed`;
    case 3:
      return set(x, "blockRows", rng.pick([x.blockRows + 1, x.blockRows - 1, 1, 1e9]), label);
    case 4:
      return set(x, "rows", numberLike(rng, x.rows), label);
    case 5:
      return set(x, "path", c.positions.path, label);
    case 6:
      return set(x, "fileList", flipHex(rng, x.fileList), label);
    default:
      delete c.idIndex;
      return `${label} removed`;
  }
}

function editPositions(m: Json, cname: string, rng: Rng): string {
  const c = m.configs[cname];
  const x = c.positions;
  const label = `configs.${cname}.positions`;
  switch (rng.int(6)) {
    case 0:
      return set(x, "rows", numberLike(rng, x.rows), label);
    case 1:
      return set(x, "path", c.idIndex.path, label);
    case 2:
      return set(x, "fileList", flipHex(rng, x.fileList), label);
    case 3:
      return set(x, "bytes", numberLike(rng, x.bytes), label);
    case 4: {
      const o = m.configs[Object.keys(m.configs).find((n) => n !== cname)!];
      [c.positions, o.positions] = [o.positions, c.positions];
      return "the positions entries of the two configs swapped";
    }
    default:
      delete c.positions;
      return `${label} removed`;
  }
}

function editManifestText(t: Target, rng: Rng): string {
  const path = join(t.root, MANIFEST);
  let text = readFileSync(path, "utf8");
  const op = rng.int(6);
  let what: string;
  switch (op) {
    case 0: {
      const at = rng.int(text.length);
      text = text.slice(0, at);
      what = `text truncated at ${at}`;
      break;
    }
    case 1: {
      // A number replaced by one JSON reads as Infinity, or by a huge integer.
      const nums = [...text.matchAll(/(?<=[:[,]\s*)\d+(?=\s*[,}\]])/g)];
      if (!nums.length) return "no number";
      const n = rng.pick(nums);
      const by = rng.pick([
        "1e400",
        "-1e400",
        "1e15",
        "123456789012345678901234567890",
        "-0",
        "1E2",
      ]);
      text = text.slice(0, n.index) + by + text.slice(n.index! + n[0].length);
      what = `number ${n[0]} at ${n.index} -> ${by}`;
      break;
    }
    case 2:
      text = `\uFEFF${text}`;
      what = "byte-order mark";
      break;
    case 3: {
      // Duplicate keys: JSON.parse keeps the last.
      text = text.replace(/^\{/, `{"files": [], "configs": {},`);
      what = "duplicate files/configs keys before the real ones";
      break;
    }
    case 4: {
      const at = rng.int(text.length);
      text =
        text.slice(0, at) + rng.pick(['"', "{", "]", "\\", "\u0000", "\uD800"]) + text.slice(at);
      what = `a character inserted at ${at}`;
      break;
    }
    default: {
      text = text.replace(/"configs": ?\{/, '"configs": {"__proto__": {"rows": 0, "columns": []},');
      what = "configs.__proto__ injected";
      break;
    }
  }
  for (const n of CONFIGS) t.touched.add(n);
  writeFileSync(path, text);
  return `manifest ${what}`;
}

// ---- the oracle -----------------------------------------------------------------------------

/** Where two answers first differ, with some context. */
function difference(got: string, want: string): string {
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  const from = Math.max(0, i - 120);
  return `    first difference at character ${i}:\n    got  …${got.slice(from, i + 120)}\n    want …${want.slice(from, i + 120)}`;
}

function listing(root: string): string {
  const out: string[] = [];
  for (const rel of (readdirSync(root, { recursive: true }) as string[]).sort()) {
    const s = statSync(join(root, rel));
    out.push(`${rel}:${s.isDirectory() ? "dir" : s.size}:${s.mtimeMs}`);
  }
  return out.join("\n");
}

export const family: Family = {
  async setup(work) {
    // editAttribute rewrites attributes through libhdf5, synchronously: load it now.
    await hdf5Ready();
    clean = await makeClean(work);
  },

  async run(rng, dir, note) {
    const root = join(dir, "a");
    cpSync(clean.a, root, { recursive: true });
    const n = rng.weighted([
      [7, 1],
      [2, 2],
      [1, 3],
    ] as const);
    const done: string[] = [];
    const touched = new Set<string>();
    for (let i = 0; i < n; i++) {
      const t = target(root, touched);
      const mutate = rng.weighted([
        [40, damageBytes],
        [35, editManifest],
        [15, damageFiles],
        [10, editManifestText],
      ] as const);
      done.push(mutate(t, rng));
    }
    const what = done.join("; ");
    note(what);
    const before = listing(root);
    const failed: string[] = [];
    for (const config of CONFIGS) {
      const ps = probes(root, config, clean.b, clean.picks[config]);
      // A touched config: the full scan and two other reads at random; else the full scan.
      const chosen = new Set([1]);
      if (touched.has(config)) while (chosen.size < 3) chosen.add(rng.int(ps.length));
      for (const k of [...chosen].sort((x, y) => x - y)) {
        const p = ps[k];
        const want = clean.answers[config][k];
        const got = await answer(p, root);
        if (got.ok) {
          if (!want.ok)
            throw new FuzzFailure(
              `${what}\n  ${config} ${p.name}: a value where the clean dataset throws ${want.code}: ${got.text.slice(0, 300)}`,
            );
          if (got.text !== want.text)
            throw new FuzzFailure(
              `${what}\n  ${config} ${p.name}: WRONG ANSWER\n${difference(got.text, want.text)}`,
            );
        } else if (want.ok || want.code !== got.code) {
          failed.push(`${config} ${p.name}: ${got.code} ${got.message.slice(0, 200)}`);
        }
      }
    }
    const after = listing(root);
    if (after !== before)
      throw new FuzzFailure(`${what}\n  the reads changed the dataset directory`);
    // verify always runs (it must not throw anything untyped either); with checksums only when
    // a read failed and the quick level found nothing (a damaged chunk that only reads meet).
    let v = await typedOrValue("verifyDataset", () => verifyDataset(root));
    if (failed.length && v.ok && v.value.length === 0)
      v = await typedOrValue("verifyDataset --checksums", () =>
        verifyDataset(root, { checksums: true }),
      );
    const flagged = v.ok ? v.value.length > 0 : true;
    if (failed.length && !flagged)
      throw new FuzzFailure(
        `${what}\n  reads failed but verifyDataset --checksums reports nothing:\n    ${failed.join("\n    ")}`,
      );
    return { outcome: failed.length ? "typed" : "correct", what };
  },
};
