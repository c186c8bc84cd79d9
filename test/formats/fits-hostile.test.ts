// Hostile FITS input: every malformed file gets a typed error naming the file and the place
// (HDU, card or byte offset); nothing crashes, hangs or allocates what a header claims.
import assert from "node:assert/strict";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { FormatError, MemoryBudgetError } from "../../src/core/errors.ts";
import { openFits, streamFits } from "../../src/formats/fits.ts";
import { headerBytes } from "../../src/formats/fits-header.ts";
import { tempDir } from "../helpers/tmp.ts";
import { fixture } from "./expected.ts";

const dir = tempDir("astropile-fits-hostile-");
let counter = 0;

function file(bytes: Uint8Array, ext = ".fits"): string {
  const path = join(dir, `case${counter++}${ext}`);
  writeFileSync(path, bytes);
  return path;
}

const card = (k: string, v: string) => `${k.padEnd(8)}= ${v.padStart(20)}`;
const primary = headerBytes([
  card("SIMPLE", "T"),
  card("BITPIX", "8"),
  card("NAXIS", "0"),
  card("EXTEND", "T"),
]);

function imageExtension(naxis: string[], bitpix = "16"): Buffer {
  return headerBytes([
    card("XTENSION", "'IMAGE   '"),
    card("BITPIX", bitpix),
    card("NAXIS", String(naxis.length)),
    ...naxis.map((n, k) => card(`NAXIS${k + 1}`, n)),
    card("PCOUNT", "0"),
    card("GCOUNT", "1"),
  ]);
}

/** Opens and reads everything; returns the error thrown. */
async function failure(path: string): Promise<Error> {
  try {
    const fits = await openFits(path);
    try {
      for (const hdu of fits.hdus) {
        if (hdu.kind === "primary" || hdu.kind === "image") await hdu.readImage();
        if (hdu.kind === "bintable" || hdu.kind === "table")
          for await (const _ of hdu.table().rows(2)) void _;
      }
    } finally {
      await fits.close();
    }
  } catch (e) {
    return e as Error;
  }
  throw new Error(`no error for ${path}`);
}

function assertNamed(e: Error, path: string, ...parts: (string | RegExp)[]): void {
  assert.ok(e instanceof FormatError, `expected FormatError, got ${e.name}: ${e.message}`);
  assert.ok(e.message.includes(path), `message names the file: ${e.message}`);
  for (const p of parts) {
    if (typeof p === "string") assert.ok(e.message.includes(p), `message has "${p}": ${e.message}`);
    else assert.match(e.message, p);
  }
}

/** A MemoryBudgetError (exit 1), one line, naming the file and the parts. */
function assertBudget(e: Error, path: string, ...parts: string[]): void {
  assert.ok(
    e instanceof MemoryBudgetError,
    `expected MemoryBudgetError, got ${e.name}: ${e.message}`,
  );
  assert.equal(e.code, "ASTROPILE_MEMORY_BUDGET");
  assert.ok(!e.message.includes("\n"), "one line");
  assert.ok(e.message.includes(path), `message names the file: ${e.message}`);
  for (const p of parts) assert.ok(e.message.includes(p), `message has "${p}": ${e.message}`);
}

describe("hostile FITS", () => {
  test("truncated at many offsets: FormatError naming the file, HDU and byte offset", async () => {
    const whole = readFileSync(fixture("tables.fits"));
    for (const cut of [
      0,
      10,
      2879,
      2880 + 80,
      2880 + 800,
      5760,
      5760 + 100,
      whole.length - 2880 - 1,
      whole.length - 3000,
    ]) {
      const path = file(whole.subarray(0, cut));
      const e = await failure(path);
      assertNamed(e, path, /HDU \d|byte offset 0/);
    }
    const images = readFileSync(fixture("images.fits"));
    for (const cut of [2880 * 2 + 5, images.length - 2881]) {
      const path = file(images.subarray(0, cut));
      assertNamed(await failure(path), path, "HDU");
    }
  });

  test("truncated gzip: FormatError, in openFits and in streamFits", async () => {
    const gz = readFileSync(fixture("tables.fits.gz"));
    for (const cut of [20, gz.length / 2, gz.length - 9]) {
      const path = file(gz.subarray(0, Math.floor(cut)), ".fits.gz");
      assertNamed(await failure(path), path);
      await assert.rejects(async () => {
        for await (const hdu of streamFits(path))
          if (hdu.kind === "bintable") for await (const _ of hdu.table().rows(1)) void _;
      }, FormatError);
    }
  });

  test("a header without END", async () => {
    const cards = [card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0")];
    const noEnd = Buffer.alloc(2880 * 2, 32);
    noEnd.write(cards.map((c) => c.padEnd(80)).join(""), 0, "latin1");
    const path = file(noEnd);
    assertNamed(await failure(path), path, "no END card", "HDU 0");
    const second = file(
      Buffer.concat([primary, noEnd.subarray(0, 2880)])
        .fill(32, 2880)
        .fill("XTENSION= 'IMAGE'", 2880),
    );
    assertNamed(await failure(second), second, "HDU 1");
  });

  test("absurd NAXIS and PCOUNT are refused before allocating", async () => {
    const huge = file(Buffer.concat([primary, imageExtension(["1048576", "1048576"])]));
    assertNamed(await failure(huge), huge, "HDU 1", /declares 2199023255552 bytes/);
    const overflow = file(Buffer.concat([primary, imageExtension(["99999999999999999999", "2"])]));
    assertNamed(await failure(overflow), overflow, "HDU 1", "card 4 (NAXIS1)", "out of range");
    const negative = file(Buffer.concat([primary, imageExtension(["-5", "2"])]));
    assertNamed(await failure(negative), negative, "card 4 (NAXIS1)");
    const table = headerBytes([
      card("XTENSION", "'BINTABLE'"),
      card("BITPIX", "8"),
      card("NAXIS", "2"),
      card("NAXIS1", "8"),
      card("NAXIS2", "1"),
      card("PCOUNT", "1000000000000"),
      card("GCOUNT", "1"),
      card("TFIELDS", "1"),
      card("TFORM1", "'PJ()    '"),
    ]);
    const pcount = file(Buffer.concat([primary, table, Buffer.alloc(2880)]));
    assertNamed(await failure(pcount), pcount, "HDU 1", "PCOUNT=1000000000000");
    // In gzip the bound is the compressed size times deflate's maximum ratio.
    const gz = file(
      gzipSync(Buffer.concat([primary, imageExtension(["1048576", "1048576"])])),
      ".fits.gz",
    );
    assertNamed(await failure(gz), gz, "HDU 1", "compressed file can hold at most");
  });

  test("bad BITPIX, TFORM, TDIM, THEAP and heap descriptors", async () => {
    const badBitpix = file(Buffer.concat([primary, imageExtension(["2"], "12")]));
    assertNamed(await failure(badBitpix), badBitpix, "card 2 (BITPIX)");
    const tableWith = (
      extra: string[],
      naxis1 = "8",
      rows: Buffer = Buffer.alloc(2880),
      pcount = "0",
    ) =>
      Buffer.concat([
        primary,
        headerBytes([
          card("XTENSION", "'BINTABLE'"),
          card("BITPIX", "8"),
          card("NAXIS", "2"),
          card("NAXIS1", naxis1),
          card("NAXIS2", "1"),
          card("PCOUNT", pcount),
          card("GCOUNT", "1"),
          card("TFIELDS", "1"),
          card("TTYPE1", "'col     '"),
          ...extra,
        ]),
        rows,
      ]);
    const tform = file(tableWith([card("TFORM1", "'8Z      '")]));
    assertNamed(await failure(tform), tform, "TFORM1", 'column "col"');
    const wide = file(tableWith([card("TFORM1", "'9J      '")]));
    assertNamed(await failure(wide), wide, "NAXIS1");
    const tdim = file(tableWith([card("TFORM1", "'2J      '"), card("TDIM1", "'(3,2)   '")]));
    assertNamed(await failure(tdim), tdim, "TDIM1");
    // Descriptor (count 5, offset 100) into a 16-byte heap.
    const rows = Buffer.alloc(2880);
    rows.writeInt32BE(5, 0);
    rows.writeInt32BE(100, 4);
    const heap = file(tableWith([card("TFORM1", "'PJ(5)   '")], "8", rows, "16"));
    assertNamed(await failure(heap), heap, 'column "col"', "row 0", "outside the heap");
    const negative = Buffer.alloc(2880);
    negative.writeInt32BE(-1, 0);
    const neg = file(tableWith([card("TFORM1", "'PJ(5)   '")], "8", negative, "16"));
    assertNamed(await failure(neg), neg, "row 0");
    const theap = file(
      tableWith([card("TFORM1", "'PJ(5)   '"), card("THEAP", "5000")], "8", rows, "16"),
    );
    assertNamed(await failure(theap), theap, "THEAP");
  });

  test("garbage bytes, non-ASCII cards, junk after the last HDU", async () => {
    const random = Buffer.alloc(5000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 251;
    const garbage = file(random);
    assertNamed(await failure(garbage), garbage, "not a FITS file");
    const accented = Buffer.from(primary);
    accented[80 * 2 + 40] = 0xe9;
    const nonAscii = file(accented);
    assertNamed(await failure(nonAscii), nonAscii, "card 3", "0xe9", "HDU 0");
    const junk = file(
      Buffer.concat([primary, Buffer.from("this is not an extension header".padEnd(2880, "x"))]),
    );
    assertNamed(await failure(junk), junk, "HDU 1", "XTENSION");
    // Zero padding after the last HDU is tolerated, as astropy does.
    const padded = file(Buffer.concat([primary, Buffer.alloc(2880)]));
    const fits = await openFits(padded);
    assert.equal(fits.hdus.length, 1);
    await fits.close();
    const badValue = file(
      headerBytes([
        card("SIMPLE", "T"),
        card("BITPIX", "8"),
        card("NAXIS", "0"),
        "BAD     = 'unterminated",
      ]),
    );
    assertNamed(await failure(badValue), badValue, "card 4", "closing quote");
    const notGzip = file(Buffer.concat([Buffer.from([0x1f, 0x8b]), random]), ".fits.gz");
    assertNamed(await failure(notGzip), notGzip, "gzip");
  });

  test("memory cap: reading more than maxBytes is a MemoryBudgetError, not an allocation", async () => {
    const fits = await openFits(fixture("images.fits"), { maxBytes: 100 });
    try {
      await assert.rejects(fits.hdu("f64").readImage(), MemoryBudgetError);
      assert.equal((await fits.hdu("f64").readImage({ planes: [0, 1] })).data.length, 7);
    } finally {
      await fits.close();
    }
  });

  test("a header claiming NAXIS1 x NAXIS2 = 1e12 in a file that big (sparse) is refused before allocating", async (t) => {
    const header = imageExtension(["1000000", "1000000"], "8");
    const path = file(Buffer.concat([primary, header]));
    try {
      // A sparse file of the declared size: the header's claim passes the file-size check.
      truncateSync(path, primary.length + header.length + 1e12);
    } catch (err) {
      t.skip(`cannot make a sparse 1 TB file here: ${(err as Error).message}`);
      return;
    }
    const fits = await openFits(path);
    try {
      const err = await fits.hdus[1].readImage().then(
        () => assert.fail("read 1e12 bytes"),
        (e: Error) => e,
      );
      assertBudget(err, path, "HDU 1", "1000000000000 bytes", "budget of 2147483648 bytes");
      // Rows of it stay readable in parts.
      const two = await fits.hdus[1].readImage({ planes: [0, 2] });
      assert.equal(two.data.length, 2e6);
    } finally {
      await fits.close();
    }
  });

  test("a TFORM repeat count that decodes past the memory cap is refused, naming the column", async () => {
    // 4e8 bits per row: 50 MB stored, 400 MB once decoded (one byte a bit).
    const repeat = 400_000_000;
    const header = headerBytes([
      card("XTENSION", "'BINTABLE'"),
      card("BITPIX", "8"),
      card("NAXIS", "2"),
      card("NAXIS1", String(repeat / 8)),
      card("NAXIS2", "1"),
      card("PCOUNT", "0"),
      card("GCOUNT", "1"),
      card("TFIELDS", "1"),
      card("TTYPE1", "'bits    '"),
      card("TFORM1", `'${repeat}X'`),
    ]);
    const path = file(Buffer.concat([primary, header]));
    truncateSync(path, primary.length + header.length + repeat / 8 + 2880);
    const fits = await openFits(path, { maxBytes: 100 * 2 ** 20 });
    try {
      const err = await (async () => {
        for await (const _ of fits.hdus[1].table().rows()) void _;
      })().then(
        () => assert.fail("decoded 4e8 bits"),
        (e: Error) => e,
      );
      assertBudget(err, path, "HDU 1", "columns bits");
    } finally {
      await fits.close();
    }
  });
});
