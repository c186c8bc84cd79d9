// Where a dataset's bytes go, and what the positions sidecar buys (issue "Fast on real catalogs",
// output size): `node --import ./test/helpers/preload.mjs --import tsx bench/sidecar-bytes.ts DIR`.
// Prints bytes per row of the partition files, the positions sidecar and the id index (manifest
// sizes); what shuffle + deflate (level 4, as h5py's gzip) would make of the sidecar's columns
// (the first 262,144 rows) and how long inflating them takes; and the time to read every row's
// ra/dec from the sidecar against from the partition files (twice each). Not a part of
// `npm run bench`: a measurement for BENCHMARKS.md ("catalog", output size).
import { join } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";
import { readManifest } from "../src/storage/manifest.ts";
import { PartitionFile } from "../src/storage/partition-file.ts";
import { PositionsFile } from "../src/storage/positions.ts";

const root = process.argv[2];
if (!root) throw new Error("usage: bench/sidecar-bytes.ts DATASET_DIR");
const manifest = await readManifest(root);
const config = Object.keys(manifest.configs)[0]!;
const entry = manifest.configs[config]!;
if (!entry.positions) throw new Error(`${root}: config "${config}" has no positions sidecar`);
const files = manifest.files.filter((f) => f.config === config);
const rows = files.reduce((s, f) => s + f.rows, 0);
const perRow = (bytes: number) => (bytes / rows).toFixed(2);
console.log(
  `${root} (config ${config}): ${rows} rows, ${files.length} files; bytes per row: partition files ${perRow(
    files.reduce((s, f) => s + f.bytes, 0),
  )}, positions sidecar ${perRow(entry.positions.bytes)}, id index ${perRow(entry.idIndex?.bytes ?? 0)}`,
);

function shuffle(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const n = bytes.length / size;
  for (let i = 0; i < n; i++) for (let b = 0; b < size; b++) out[b * n + i] = bytes[i * size + b]!;
  return out;
}

const sample = Math.min(rows, 1 << 18);
const sidecar = await PositionsFile.open(root, entry.positions);
const { ra, dec } = await sidecar.readRange(0, sample);
const ids = await sidecar.readIdRange(0, sample);
let packed = 0;
let inflateMs = 0;
const parts: string[] = [];
for (const [name, values] of [
  ["ra", ra],
  ["dec", dec],
  ["object_id", ids],
] as const) {
  if (!ArrayBuffer.isView(values)) continue; // string ids: not measured
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const z = deflateSync(shuffle(bytes, 8), { level: 4 });
  const t = performance.now();
  inflateSync(z);
  inflateMs += performance.now() - t;
  packed += z.length;
  parts.push(`${name} ${(z.length / sample).toFixed(2)}`);
}
console.log(
  `sidecar columns with shuffle + deflate 4 (first ${sample} rows): ${parts.join(", ")} bytes per row (${(packed / sample).toFixed(2)} in all); inflating: ${((inflateMs * 1e6) / sample).toFixed(0)} ns a row`,
);

for (let round = 0; round < 2; round++) {
  let t = performance.now();
  let cpu = process.cpuUsage();
  for (let a = 0; a < rows; a += 1 << 18) await sidecar.readRange(a, Math.min(rows, a + (1 << 18)));
  let used = process.cpuUsage(cpu);
  const fromSidecar = `sidecar ${((performance.now() - t) / 1000).toFixed(2)} s (CPU ${((used.user + used.system) / 1e6).toFixed(2)} s)`;
  t = performance.now();
  cpu = process.cpuUsage();
  for (const f of files) {
    const file = await PartitionFile.open(join(root, f.path), { expectRows: f.rows });
    for (let a = 0; a < f.rows; a += 1 << 18)
      file.readRange(["ra", "dec"], a, Math.min(f.rows, a + (1 << 18)));
    file.close();
  }
  used = process.cpuUsage(cpu);
  console.log(
    `ra/dec of every row: ${fromSidecar}; partition files ${((performance.now() - t) / 1000).toFixed(2)} s (CPU ${((used.user + used.system) / 1e6).toFixed(2)} s)`,
  );
}
sidecar.close();
