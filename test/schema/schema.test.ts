import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { SchemaError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { mapColumns } from "../../src/schema/standard.ts";
import { validateExample, validateRow } from "../../src/schema/validate.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();

describe("alias table", () => {
  test("Multimodal Universe variants map to standard names; a standard column wins over an alias", () => {
    const cols = [
      "object_id",
      "ra",
      "dec",
      "image_flux",
      "spectrum_wave",
      "spectrum_noise",
      "Z",
      "ZERR",
      "TARGETID",
    ].map((name) => ({
      name,
      dtype: "float32" as const,
      shape: [],
    }));
    const m = mapColumns(cols, "DESI");
    const byName = Object.fromEntries(m.map((c) => [c.source, c]));
    assert.equal(byName.image_flux.name, "image_array");
    assert.equal(byName.spectrum_wave.name, "spectrum_lambda");
    assert.deepEqual(
      [byName.spectrum_noise.name, byName.spectrum_noise.convert],
      ["spectrum_ivar", "sigma_to_ivar"],
    );
    assert.equal(byName.Z.name, "z");
    assert.equal(byName.ZERR.name, "z_err");
    // object_id already exists, so DESI's TARGETID keeps its own name
    assert.equal(byName.TARGETID.name, "TARGETID");
    const both = mapColumns(
      ["spectrum_lambda", "spectrum_wavelength"].map((name) => ({
        name,
        dtype: "float32" as const,
        shape: [],
      })),
    );
    assert.deepEqual(
      both.map((c) => c.name),
      ["spectrum_lambda", "spectrum_wavelength"],
    );
  });
});

describe("spectrum and IFU examples from files with survey names", () => {
  test("a spectrum dataset stored with MMU variant names reads in the standard schema, sigma converted to ivar", async () => {
    const n = 20;
    const L = 16;
    const specs: ColumnSpec[] = [
      { name: "TARGETID", dtype: "int64", shape: [] },
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
      { name: "spectrum_flux", dtype: "float32", shape: [L], unit: "1e-17 erg/(s cm2 Angstrom)" },
      { name: "spectrum_noise", dtype: "float32", shape: [L] },
      { name: "spectrum_wave", dtype: "float32", shape: [L], unit: "Angstrom" },
      { name: "spectrum_mask", dtype: "bool", shape: [L] },
      { name: "Z", dtype: "float64", shape: [] },
      { name: "ZERR", dtype: "float32", shape: [] },
      { name: "SPECTYPE", dtype: "string", shape: [], stringLength: 6 },
    ];
    const noise = Float32Array.from({ length: n * L }, (_, k) => (k % L === 3 ? 0 : 0.5 + (k % 4)));
    const root = join(dir, "desi");
    await writeDataset(
      root,
      specs,
      [
        {
          TARGETID: BigInt64Array.from({ length: n }, (_, i) => 39627000000000000n + BigInt(i)),
          object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
          ra: Float64Array.from({ length: n }, (_, i) => 150 + i / 100),
          dec: Float64Array.from({ length: n }, () => 2.2),
          spectrum_flux: Float32Array.from({ length: n * L }, (_, k) => k),
          spectrum_noise: noise,
          spectrum_wave: Float32Array.from({ length: n * L }, (_, k) => 3600 + (k % L) * 400),
          spectrum_mask: Uint8Array.from({ length: n * L }, (_, k) => (k % L === 3 ? 1 : 0)),
          Z: Float64Array.from({ length: n }, (_, i) => i / 10),
          ZERR: new Float32Array(n).fill(1e-4),
          SPECTYPE: Array.from({ length: n }, (_, i) => (i % 2 ? "GALAXY" : "QSO")),
        },
      ],
      { config: "dr1", provenance: { survey: "DESI", release: "dr1" } },
    );
    const ds = await openDataset(root);
    assert.equal(ds.modality, "spectrum");
    assert.ok(
      ds.columns.includes("spectrum_lambda") &&
        ds.columns.includes("spectrum_ivar") &&
        ds.columns.includes("z"),
    );
    const ivarFeature = ds.features.find((f) => f.name === "spectrum_ivar")!;
    assert.equal(ivarFeature.source, "spectrum_noise");
    assert.equal(ivarFeature.conversion, "sigma_to_ivar");
    const ex = await ds.getById(7);
    validateExample(ex, "spectrum");
    assert.deepEqual((ex.flux as { shape: number[] }).shape, [L]);
    const ivar = (ex.ivar as { data: Float32Array }).data;
    for (let k = 0; k < L; k++) {
      const sigma = noise[7 * L + k];
      assert.equal(ivar[k], sigma > 0 ? Math.fround(1 / (sigma * sigma)) : 0);
    }
    assert.equal((ex.lambda as { data: Float32Array }).data[1], 4000);
    assert.equal(ex.z, 0.7);
    assert.equal(ex.z_err, Math.fround(1e-4));
    assert.deepEqual(ex.extra, { TARGETID: 39627000000000007n, SPECTYPE: "GALAXY" });
    assert.deepEqual(ex.provenance, { survey: "DESI", release: "dr1" });
    // the files keep the survey's own names
    assert.ok(ds.manifest.configs.dr1.columns.some((c) => c.name === "spectrum_noise"));
  });

  test("an IFU dataset (flat cube columns) gives spaxels and maps", async () => {
    const n = 3;
    const [ny, nx, L] = [4, 5, 6];
    const specs: ColumnSpec[] = [
      { name: "object_id", dtype: "string", shape: [], stringLength: 12 },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
      { name: "ifu_flux", dtype: "float32", shape: [ny, nx, L] },
      { name: "ifu_ivar", dtype: "float32", shape: [ny, nx, L] },
      { name: "ifu_lambda", dtype: "float32", shape: [L] },
      { name: "ifu_map_halpha", dtype: "float32", shape: [ny, nx] },
      { name: "spaxel_size", dtype: "float32", shape: [], unit: "arcsec" },
      { name: "z", dtype: "float32", shape: [] },
    ];
    const root = join(dir, "manga");
    await writeDataset(
      root,
      specs,
      [
        {
          object_id: ["8485-1901", "8485-1902", "7443-12703"],
          ra: Float64Array.from([233.1, 233.2, 229.5]),
          dec: Float64Array.from([48.1, 48.2, 42.7]),
          ifu_flux: Float32Array.from({ length: n * ny * nx * L }, (_, k) => k),
          ifu_ivar: new Float32Array(n * ny * nx * L).fill(2),
          ifu_lambda: Float32Array.from({ length: n * L }, (_, k) => 3600 + (k % L)),
          ifu_map_halpha: Float32Array.from({ length: n * ny * nx }, (_, k) => k / 10),
          spaxel_size: new Float32Array(n).fill(0.5),
          z: Float32Array.from([0.02, 0.03, 0.04]),
        },
      ],
      { config: "dr17", provenance: { survey: "MaNGA" } },
    );
    const ds = await openDataset(root);
    assert.equal(ds.modality, "ifu");
    const ex = await ds.getById("8485-1902");
    validateExample(ex, "ifu");
    assert.equal(ex.spaxels!.length, ny * nx);
    const s = ex.spaxels!.find((p) => p.x === 2 && p.y === 1)!;
    const base = 1 * ny * nx * L + (1 * nx + 2) * L;
    assert.deepEqual(
      Array.from(s.flux.data as Float32Array),
      Array.from({ length: L }, (_, k) => base + k),
    );
    assert.deepEqual(s.lambda!.shape, [L]);
    assert.deepEqual(
      ex.images!.map((i) => [i.label, i.data.shape]),
      [["halpha", [ny, nx]]],
    );
    assert.equal(ex.spaxel_size, 0.5);
    assert.equal(ex.z, Math.fround(0.03));
  });
});

describe("validation names the field, the expected and the found", () => {
  test("examples", () => {
    const good = {
      provenance: { survey: "HSC" },
      object_id: 1n,
      ra: 10,
      dec: 0,
      image: [{ band: "hsc-g", flux: { data: new Float32Array(4), shape: [2, 2] } }],
    };
    validateExample(good, "image");
    assert.throws(
      () =>
        validateExample(
          {
            ...good,
            image: [{ band: "hsc-g", flux: { data: new Float32Array(3), shape: [2, 2] } }],
          },
          "image",
        ),
      (e: Error) =>
        e instanceof SchemaError &&
        /field "image\[0\]\.flux": data length does not match the shape/.test(e.message),
    );
    assert.throws(
      () => validateExample({ ...good, dec: 95 }, "image"),
      /field "dec".*found number 95/,
    );
    assert.throws(
      () => validateExample({ provenance: { survey: "DESI" }, flux: [1, 2] }, "spectrum"),
      /field "flux".*found an array of 2/,
    );
  });

  test("source rows", () => {
    const specs: ColumnSpec[] = [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "flux", dtype: "float32", shape: [3] },
      { name: "band", dtype: "string", shape: [], stringLength: 5 },
    ];
    validateRow({ object_id: 5n, flux: new Float32Array(3), band: "hsc-g" }, specs);
    assert.throws(
      () =>
        validateRow({ object_id: 5n, flux: new Float64Array(3), band: "hsc-g" }, specs, {
          file: "cat.fits",
          row: 12,
        }),
      (e: Error) =>
        e instanceof SchemaError &&
        /expected Float32Array of shape \[3\], found Float64Array\(3\)/.test(e.message) &&
        /cat\.fits/.test(e.message) &&
        /column "flux"/.test(e.message) &&
        /row 12/.test(e.message),
    );
    assert.throws(
      () => validateRow({ object_id: 1.5, flux: new Float32Array(3), band: "x" }, specs),
      /column "object_id".*expected an integer \(int64\), found number 1.5|expected an integer \(int64\), found number 1.5.*"object_id"/,
    );
    assert.throws(
      () => validateRow({ object_id: 1n, flux: new Float32Array(3), band: "hsc-g2" }, specs),
      /at most 5 UTF-8 bytes/,
    );
  });
});
