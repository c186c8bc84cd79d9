// The build's scratch row files (src/build/rows-file.ts): what the writer appends the reader gives
// back block by block, a loop left early closes the file, and a damaged file is a BuildStateError
// naming it, found at the block that is damaged (the intact blocks before it are read).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type RowBlock, RowFileWriter, readRowFile } from "../../src/build/rows-file.ts";
import type { Dtype } from "../../src/core/columns.ts";
import { tempDir } from "../helpers/tmp.ts";

const DTYPES: Record<string, Dtype> = { mag: "float32", flag: "bool", id: "int64" };

function block(n: number, first: number): RowBlock {
  return {
    rows: n,
    file: Uint32Array.from({ length: n }, (_, i) => (first + i) % 3),
    row: Float64Array.from({ length: n }, (_, i) => first + i),
    key: BigInt64Array.from({ length: n }, (_, i) => BigInt(first + i) * 1_000_003n - 7n),
    columns: {
      mag: Float32Array.from({ length: n }, (_, i) => 10 + (first + i) / 8),
      flag: Uint8Array.from({ length: n }, (_, i) => (first + i) % 2),
      id: BigInt64Array.from({ length: n }, (_, i) => -BigInt(first + i)),
      name: Array.from({ length: n }, (_, i) => `star "${first + i}"`),
    },
    carry: { note: Array.from({ length: n }, (_, i) => `n${first + i}`) },
  };
}

function plain(b: RowBlock): unknown {
  const arr = (v: unknown) => (Array.isArray(v) ? v : Array.from(v as ArrayLike<unknown>));
  return {
    rows: b.rows,
    file: arr(b.file),
    row: arr(b.row),
    key: arr(b.key),
    columns: Object.fromEntries(Object.entries(b.columns).map(([k, v]) => [k, arr(v)])),
    carry: { ...b.carry },
  };
}

async function writeBlocks(path: string, blocks: RowBlock[]): Promise<number[]> {
  // A small buffer: the file is written in many pieces. Returns each block's start byte.
  const w = await RowFileWriter.create(path, DTYPES, { bufferBytes: 4096 });
  const starts: number[] = [];
  for (const b of blocks) {
    starts.push(w.bytes);
    await w.append(b);
  }
  await w.close();
  return starts;
}

async function readAll(path: string): Promise<RowBlock[]> {
  const out: RowBlock[] = [];
  for await (const b of readRowFile(path)) out.push(b);
  return out;
}

/**
 * Descriptors this process holds open on `path`. (Counting all descriptors was flaky: another
 * handle of the process may close meanwhile.)
 */
function openOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed between the listing and the read
    }
  }
  return n;
}

test("blocks written come back in order, equal, whatever their sizes", async () => {
  const dir = tempDir();
  const blocks = [1, 300, 7, 4096, 0, 55].map((n, i) => block(n, i * 10_000));
  const path = join(dir, "rows.bin");
  await writeBlocks(path, blocks);
  const got = await readAll(path);
  // An empty block is not written.
  assert.deepEqual(got.map(plain), blocks.filter((b) => b.rows > 0).map(plain));
  assert.deepEqual(await readAll(await emptyFile(dir)), []);
});

async function emptyFile(dir: string): Promise<string> {
  const path = join(dir, "empty.bin");
  await writeBlocks(path, []);
  return path;
}

test("a loop left early closes the file; a damaged block after it is never reported", async () => {
  const dir = tempDir();
  const path = join(dir, "rows.bin");
  const starts = await writeBlocks(path, [block(100, 0), block(100, 100), block(100, 200)]);
  // The third block damaged: a loop that stops before it never hears of it.
  const bytes = readFileSync(path);
  bytes.writeUInt32LE(0, starts[2]!);
  writeFileSync(path, bytes);
  for (const stop of [100, 200]) {
    let seen = 0;
    for await (const b of readRowFile(path)) {
      seen += b.rows;
      if (seen >= stop) {
        assert.equal(openOn(path), 1, "open while read");
        break;
      }
    }
    assert.equal(seen, stop);
    assert.equal(openOn(path), 0, "the file is closed");
  }
});

test("damaged row files: a BuildStateError naming the file, after the intact blocks", async () => {
  const dir = tempDir();
  const blocks = [block(50, 0), block(60, 50), block(70, 110)];
  const cases: Array<[string, (bytes: Buffer, starts: number[]) => Buffer, RegExp]> = [
    ["truncated in a block", (b) => b.subarray(0, b.length - 40), /truncated block/],
    ["truncated in a header", (b, s) => b.subarray(0, s[2]! + 12), /truncated header/],
    [
      "no block where one should start",
      (b, s) => {
        b.writeUInt32LE(0x12345678, s[2]!);
        return b;
      },
      /no block at byte/,
    ],
    [
      "a header that is not JSON",
      (b, s) => {
        b.write("{{{{", s[2]! + 8, "latin1");
        return b;
      },
      /unreadable header/,
    ],
    [
      "a column whose bytes do not fit its rows",
      (b, s) => {
        // The first column's byte length in the JSON header ("file", 70 rows * 4 bytes).
        const at = b.indexOf('"uint32",280]', s[2]!, "latin1");
        assert.ok(at > 0);
        b.write('"uint32",276]', at, "latin1");
        return b;
      },
      /does not fit its rows/,
    ],
  ];
  for (const [label, damage, why] of cases) {
    const path = join(dir, `${label.replaceAll(" ", "-")}.bin`);
    const starts = await writeBlocks(path, blocks);
    writeFileSync(path, damage(readFileSync(path), starts));
    let rows = 0;
    await assert.rejects(
      (async () => {
        for await (const b of readRowFile(path)) rows += b.rows;
      })(),
      (err: Error & { file?: string }) => {
        assert.equal(err.name, "BuildStateError", label);
        assert.match(err.message, why, label);
        assert.match(err.message, /\.astropile-build/, label);
        assert.equal(err.file, path, label);
        return true;
      },
    );
    assert.equal(rows, 110, `${label}: the two intact blocks were read first`);
  }
});
