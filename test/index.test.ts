// The package entry (src/index.ts, `import ... from "astropile"`; test/package checks the built one).
import assert from "node:assert/strict";
import { test } from "node:test";
import * as astropile from "../src/index.ts";

test("the package entry exports the public API", () => {
  for (const name of [
    "openDataset",
    "concatenate",
    "crossMatch",
    "catalogRow",
    "catalogColumns",
    "matchAll",
    "matchNearest",
    "writeDataset",
    "verifyDataset",
    "buildPositions",
    "queryDisc",
    "ang2pix",
    "UsageError",
    "runDemo",
    "builtinSpec",
    "builtinSpecJson",
    "summarizeDataset",
    "writeCatalogCsv",
    "countLeftMatched",
    "formatBytes",
    "parseBytes",
    "sha256File",
    "exportParquet",
    "writeParquetExport",
    "exportHats",
    "writeHatsExport",
    "openHatsCatalog",
    "writeParquetFile",
    "jobRoutes",
    "parseJobRequest",
  ]) {
    assert.equal(typeof (astropile as Record<string, unknown>)[name], "function", name);
  }
  assert.equal(typeof astropile.Dataset.prototype.nearest, "function");
  assert.equal(typeof astropile.JobQueue.open, "function");
  // The library draws no progress bar: that is the CLI's.
  assert.equal((astropile as Record<string, unknown>).terminalProgress, undefined);
});
