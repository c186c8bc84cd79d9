// The picture routes: a band and an RGB composite of an image cutout, a spectrum as JSON and as a
// plot. PNGs are decoded by pngjs; each is the render layer's picture of the right data (the
// render layer itself is checked against astropy and matplotlib in test/render).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import type { ImageArray } from "../../src/render/index.ts";
import { renderImagePng, renderRgbPng } from "../../src/render/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, getPng, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let server: Running;
let hsc: Dataset;
let desi: Dataset;
const L = 64;

before(async () => {
  const hscRoot = await writeHsc(dir, 300);
  const n = 50;
  const { ra, dec } = skyPoints(n, 9, 0.5);
  const desiRoot = join(dir, "desi");
  await writeDataset(
    desiRoot,
    [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [], unit: "deg" },
      { name: "dec", dtype: "float64", shape: [], unit: "deg" },
      { name: "spectrum_flux", dtype: "float32", shape: [L], unit: "1e-17 erg/(s cm2 Angstrom)" },
      { name: "spectrum_ivar", dtype: "float32", shape: [L] },
      { name: "spectrum_lambda", dtype: "float32", shape: [L], unit: "Angstrom" },
      { name: "spectrum_mask", dtype: "bool", shape: [L] },
      { name: "z", dtype: "float32", shape: [] },
    ],
    [
      {
        object_id: BigInt64Array.from({ length: n }, (_, i) => 39627000000000000n + BigInt(i)),
        ra,
        dec,
        spectrum_flux: Float32Array.from(
          { length: n * L },
          (_, k) => Math.sin(k / 5) + (k % L === 30 ? Number.NaN : 1),
        ),
        spectrum_ivar: Float32Array.from({ length: n * L }, (_, k) => 1 + (k % 3)),
        spectrum_lambda: Float32Array.from({ length: n * L }, (_, k) => 3600 + (k % L) * 90),
        spectrum_mask: Uint8Array.from({ length: n * L }, (_, k) => (k % L > 60 ? 1 : 0)),
        z: Float32Array.from({ length: n }, (_, i) => 0.1 + i / 100),
      },
    ],
    { config: "dr1", provenance: { survey: "DESI", release: "dr1" } },
  );
  server = await startServer([hscRoot, desiRoot]);
  hsc = await openDataset(hscRoot);
  desi = await openDataset(desiRoot);
});
after(async () => {
  await server?.close();
});

test("a band of a cutout and an RGB composite are the render layer's pictures of that example", async () => {
  const ex = await hsc.get(42);
  const api = `${server.url}/api/v1/datasets/hsc/examples/${ex.object_id}`;
  const band = ex.image!.find((b) => b.band === "hsc-r")!;
  const { png, bytes } = await getPng(
    `${api}/image.png?band=r&stretch=linear&pmin=0&pmax=100&cmap=viridis`,
  );
  assert.equal(png.width, 4);
  assert.equal(png.height, 4);
  const expected = renderImagePng(band.flux as ImageArray, {
    stretch: "linear",
    pmin: 0,
    pmax: 100,
    cmap: "viridis",
    mask: band.mask?.data,
  });
  assert.deepEqual(bytes, Buffer.from(expected));
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  assert.ok(colours.size > 3, "not a blank picture");

  const rgb = await getPng(`${api}/rgb.png?bands=hsc-i,hsc-r,hsc-g&q=8`);
  const [i, r, g] = ["hsc-i", "hsc-r", "hsc-g"].map(
    (n) => ex.image!.find((b) => b.band === n)!.flux as ImageArray,
  );
  assert.deepEqual(rgb.bytes, Buffer.from(renderRgbPng([i!, r!, g!], { Q: 8 })));
  assert.equal(rgb.png.width, 4);
});

test("a spectrum as JSON holds the example's arrays; as a PNG it is plotted at the size asked", async () => {
  const ex = await desi.get(7);
  const api = `${server.url}/api/v1/datasets/desi/examples/${ex.object_id}`;
  const { status, body } = await call(`${api}/spectrum.json`);
  assert.equal(status, 200);
  const flux = Array.from((ex.flux as { data: Float32Array }).data, (v) =>
    Number.isFinite(v) ? v : null,
  );
  assert.deepEqual(body.flux, flux);
  assert.deepEqual(body.lambda, Array.from((ex.lambda as { data: Float32Array }).data));
  assert.deepEqual(
    body.mask,
    Array.from((ex.mask as { data: Uint8Array }).data, (v) => v === 1),
  );
  assert.ok(Math.abs(body.z - (ex.z as number)) < 1e-12);
  assert.equal(body.units.lambda, "Angstrom");
  const { png } = await getPng(`${api}/spectrum.png?width=320&height=120`);
  assert.equal(png.width, 320);
  assert.equal(png.height, 120);
});

test("picture routes refuse bad parameters with 4xx naming them", async () => {
  const ex = await hsc.get(1);
  const api = `${server.url}/api/v1/datasets/hsc/examples/${ex.object_id}`;
  const spec = `${server.url}/api/v1/datasets/desi/examples/${(await desi.get(1)).object_id}`;
  const cases: Array<[string, number, string]> = [
    [`${api}/image.png?band=zz`, 400, "band"],
    [`${api}/image.png?cmap=rainbow`, 400, "cmap"],
    [`${api}/image.png?stretch=cubic`, 400, "stretch"],
    [`${api}/image.png?pmin=NaN`, 400, "pmin"],
    [`${api}/image.png?pmax=101`, 400, "pmax"],
    [`${api}/image.png?pmin=90&pmax=10`, 400, "pmin"],
    [`${api}/rgb.png?bands=g,r`, 400, "bands"],
    [`${api}/rgb.png?q=0`, 400, "q"],
    [`${server.url}/api/v1/datasets/hsc/examples/5/image.png`, 404, "id"],
    [`${spec}/image.png`, 404, "name"],
    [`${spec}/spectrum.png?width=10`, 400, "width"],
    [`${spec}/spectrum.png?height=99999`, 400, "height"],
    [`${api}/spectrum.json`, 404, "name"],
  ];
  for (const [url, status, parameter] of cases) {
    const res = await call(url);
    assert.equal(res.status, status, `${url}: ${res.text}`);
    assert.equal(res.body.error.parameter, parameter, `${url}: ${res.text}`);
  }
});
