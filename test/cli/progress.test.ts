// The CLI's one progress display: a bar on a terminal, plain lines otherwise (when a phase starts
// and completes, throttled between), nothing when quiet; fed by the library's progress events.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import {
  buildStep,
  crossMatchStep,
  downloadStep,
  progress,
  sourcesStep,
} from "../../src/cli/progress.ts";
import { setup } from "../cache/helpers.ts";
import { bytes } from "../cache/server.ts";

/** A stream that records what is written, a terminal or not. */
function recorder(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 120 });
  const seen = { text: "" };
  stream.on("data", (d: Buffer) => {
    seen.text += d.toString();
  });
  return { stream, seen };
}

test("on a terminal: a download's bar shows bytes, rate and ETA", async (t) => {
  const { server, cache } = await setup(t);
  const url = server.set("/bar.fits", bytes(400_000, 1));
  const { stream, seen } = recorder(true);
  const view = progress("download", { stream });
  await cache.download(url, { onProgress: (e) => view.update(downloadStep(e)) });
  view.stop();
  assert.match(seen.text, /download bar\.fits \[/);
  assert.match(seen.text, /100% 391 KiB\/391 KiB [\d.]+ [KMG]iB\/s ETA 0s/);
});

test("not a terminal: a line when a phase starts and when it completes, none between", () => {
  const { stream, seen } = recorder(false);
  // A long interval: only phase starts and completions print, whatever the clock does.
  const view = progress("[hsc]", { stream, intervalMs: 1e9 });
  for (const rows of [0, 10, 50, 100]) {
    view.update(buildStep({ phase: "build", rows, total: 100, unitsDone: 0, unitsTotal: 4 })!);
  }
  view.log("[hsc] a message");
  view.update(buildStep({ phase: "assemble", rows: 3, unitsDone: 4, unitsTotal: 4 })!);
  view.update(buildStep({ phase: "assemble", rows: 7, unitsDone: 4, unitsTotal: 4 })!);
  assert.equal(buildStep({ phase: "done", rows: 100, unitsDone: 4, unitsTotal: 4 }), null);
  view.stop();
  // Rates and ETAs depend on the clock: left out of the comparison.
  const lines = seen.text.replace(/, [\d.]+ \w+\/s|, ETA \S+/g, "").split("\n");
  assert.deepEqual(lines, [
    "[hsc] build units: 0/100 rows (0%), units 0/4",
    "[hsc] build units: 100/100 rows (100%), units 0/4",
    "[hsc] a message",
    "[hsc] assemble: 3 rows, units 4/4",
    "",
  ]);
});

test("steps of every command: cross-match units, demo sources, downloads of unknown size", () => {
  const { stream, seen } = recorder(false);
  const view = progress("xmatch", { stream, intervalMs: 0 });
  view.update(
    crossMatchStep({ unitsDone: 2, unitsTotal: 8, leftRows: 1234, rows: 56, rightRowsRead: 9 }),
  );
  const src = progress("", { stream, intervalMs: 0 });
  src.update(sourcesStep({ survey: "hsc", done: 3, total: 12, message: "" }));
  src.update(sourcesStep({ survey: "desi", done: 1, total: 2, message: "" }));
  const dl = progress("download", { stream, intervalMs: 0 });
  dl.update(
    downloadStep({
      url: "https://example.org/a/b/tile.fits",
      source: "https://example.org/a/b/tile.fits",
      receivedBytes: 3 * 2 ** 20,
      totalBytes: null,
      resumedFrom: 0,
      done: false,
    }),
  );
  assert.deepEqual(seen.text.trim().split("\n"), [
    "xmatch match: 2/8 units (25%), 1,234 left rows, 56 catalog rows",
    "imaging: 3/12 patches (25%), 5 bands each",
    "spectra: 1/2 files (50%)",
    "download tile.fits: 3.00 MiB",
  ]);
});

test("quiet: nothing at all, not even log lines", () => {
  for (const isTTY of [true, false]) {
    const { stream, seen } = recorder(isTTY);
    const view = progress("[x]", { stream, quiet: true });
    view.update({ phase: "p", done: 1, total: 2, unit: "rows" });
    view.log("hello");
    view.stop();
    assert.equal(seen.text, "");
  }
});
