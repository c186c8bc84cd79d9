// The IFU routes over a small built MaNGA-like dataset: a wavelength slice as a PNG is the render
// layer's picture of that channel of the cube the library reads, a wavelength picks the nearest
// channel, a spaxel's spectrum is the cube's values at (x, y), bad parameters are 4xx naming them.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { build } from "../../src/build/index.ts";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import type { Example } from "../../src/dataset/example.ts";
import { builtinSpec } from "../../src/demo/index.ts";
import { type CubeArray, nearestChannel, renderIfuSlicePng } from "../../src/render/index.ts";
import { generateSurveys } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, getPng, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let server: Running;
let manga: Dataset;

before(async () => {
  await generateSurveys({ dir: join(dir, "src"), size: "tiny", seed: 7, surveys: ["manga"] });
  const root = join(dir, "manga");
  await build(builtinSpec("manga", join(dir, "src", "manga")), { out: root, workers: 1 });
  const hsc = await writeHsc(dir, 20);
  server = await startServer([root, hsc]);
  manga = await openDataset(root);
});
after(async () => {
  await server?.close();
});

/** The cube [ny, nx, nl] of an example, assembled from its spaxels as the library reads them. */
function cube(ex: Example, key: "flux" | "mask"): { data: Float64Array; shape: number[] } {
  const s = ex.spaxels!;
  const ny = Math.max(...s.map((p) => p.y)) + 1;
  const nx = Math.max(...s.map((p) => p.x)) + 1;
  const nl = s[0]!.flux.data.length;
  const data = new Float64Array(ny * nx * nl);
  for (const p of s) {
    const a = p[key]!.data as ArrayLike<number>;
    for (let k = 0; k < nl; k++) data[(p.y * nx + p.x) * nl + k] = a[k]!;
  }
  return { data, shape: [ny, nx, nl] };
}

function expectedSlice(ex: Example, channel: number, options: Record<string, unknown> = {}) {
  const flux = cube(ex, "flux");
  const mask = cube(ex, "mask");
  const [ny, nx, nl] = flux.shape as [number, number, number];
  const channelMask = Uint8Array.from({ length: ny * nx }, (_, k) =>
    mask.data[k * nl + channel] ? 1 : 0,
  );
  return renderIfuSlicePng(flux as CubeArray, {
    channel,
    mask: channelMask,
    maskMeaning: "bad",
    ...options,
  });
}

test("a slice by channel is the render layer's picture of that channel of the library's cube", async () => {
  const ex = await manga.get(1);
  const [ny, nx] = [11, 11];
  const api = `${server.url}/api/v1/datasets/manga/examples/${ex.object_id}/ifu`;
  const { png, bytes, headers } = await getPng(
    `${api}/slice.png?channel=2000&stretch=linear&pmin=0&pmax=100&cmap=viridis`,
  );
  assert.equal(png.width, nx);
  assert.equal(png.height, ny);
  assert.equal(headers.get("x-astropile-channel"), "2000");
  const expected = expectedSlice(ex, 2000, {
    stretch: "linear",
    pmin: 0,
    pmax: 100,
    cmap: "viridis",
  });
  assert.deepEqual(bytes, Buffer.from(expected));
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  assert.ok(colours.size > 3, "not a blank picture");
  // The same by row index.
  const byIndex = await getPng(
    `${server.url}/api/v1/datasets/manga/examples/ifu/slice.png?index=1&channel=2000&stretch=linear&pmin=0&pmax=100&cmap=viridis`,
  );
  assert.deepEqual(byIndex.bytes, bytes);
});

test("a slice by wavelength draws the nearest channel", async () => {
  const ex = await manga.get(0);
  const lambda = ex.spaxels![0]!.lambda!.data as Float32Array;
  const api = `${server.url}/api/v1/datasets/manga/examples/${ex.object_id}/ifu`;
  for (const k of [0, 1234, lambda.length - 1]) {
    // A third of the way to the next channel: still channel k.
    const next = lambda[Math.min(k + 1, lambda.length - 1)]!;
    const w = lambda[k]! + (next - lambda[k]!) / 3;
    assert.equal(nearestChannel(lambda, w), k);
    const { bytes, headers } = await getPng(`${api}/slice.png?wavelength=${w}`);
    assert.equal(headers.get("x-astropile-channel"), String(k));
    assert.deepEqual(bytes, Buffer.from(expectedSlice(ex, k)));
  }
  // Two thirds of the way: the next channel.
  const w = lambda[100]! + ((lambda[101]! - lambda[100]!) * 2) / 3;
  const { headers } = await getPng(`${api}/slice.png?wavelength=${w}`);
  assert.equal(headers.get("x-astropile-channel"), "101");
});

test("a spaxel's spectrum is the cube's values at (x, y), in the body of spectrum.json", async () => {
  const ex = await manga.get(1);
  for (const [x, y] of [
    [5, 5],
    [3, 7],
    [0, 0],
  ] as const) {
    const { status, body, text } = await call(
      `${server.url}/api/v1/datasets/manga/examples/${ex.object_id}/ifu/spaxel.json?x=${x}&y=${y}`,
    );
    assert.equal(status, 200, text);
    const s = ex.spaxels!.find((p) => p.x === x && p.y === y)!;
    const finite = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
    assert.deepEqual(body.flux, finite(s.flux.data as Float32Array));
    assert.deepEqual(body.ivar, finite(s.ivar!.data as Float32Array));
    assert.deepEqual(body.lambda, finite(s.lambda!.data as Float32Array));
    assert.deepEqual(
      body.mask,
      Array.from(s.mask!.data as Uint8Array, (v) => v !== 0),
    );
    assert.ok(Math.abs(body.z - (ex.z as number)) < 1e-12);
    assert.deepEqual(Object.keys(body).sort(), ["flux", "ivar", "lambda", "mask", "units", "z"]);
    assert.equal(body.units.lambda, "Angstrom");
    assert.equal(body.units.flux, "1e-17 erg/(s cm2 Angstrom spaxel)");
    if (x === 0 && y === 0)
      assert.ok(
        body.mask.every((m: boolean) => m),
        "a corner is masked",
      );
  }
  const byIndex = await call(
    `${server.url}/api/v1/datasets/manga/examples/ifu/spaxel.json?index=1&x=3&y=7`,
  );
  const byId = await call(
    `${server.url}/api/v1/datasets/manga/examples/${ex.object_id}/ifu/spaxel.json?x=3&y=7`,
  );
  assert.deepEqual(byIndex.body, byId.body);
});

test("IFU routes refuse bad parameters with 4xx naming them", async () => {
  const ex = await manga.get(0);
  const api = `${server.url}/api/v1/datasets/manga/examples/${ex.object_id}/ifu`;
  const byIndex = `${server.url}/api/v1/datasets/manga/examples/ifu`;
  const hscId = "36407037746397184";
  const cases: Array<[string, number, string]> = [
    [`${api}/slice.png?channel=4563`, 400, "channel"],
    [`${api}/slice.png?channel=-1`, 400, "channel"],
    [`${api}/slice.png?channel=1.5`, 400, "channel"],
    [`${api}/slice.png?wavelength=NaN`, 400, "wavelength"],
    [`${api}/slice.png?wavelength=Infinity`, 400, "wavelength"],
    [`${api}/slice.png?wavelength=100`, 400, "wavelength"],
    [`${api}/slice.png?wavelength=5000&channel=3`, 400, "wavelength"],
    [`${api}/slice.png`, 400, "channel"],
    [`${api}/slice.png?channel=3&cmap=rainbow`, 400, "cmap"],
    [`${api}/slice.png?channel=3&pmin=90&pmax=10`, 400, "pmin"],
    [`${api}/spaxel.json?x=11&y=0`, 400, "x"],
    [`${api}/spaxel.json?x=0&y=11`, 400, "y"],
    [`${api}/spaxel.json?x=-1&y=0`, 400, "x"],
    [`${api}/spaxel.json?x=0`, 400, "y"],
    [`${byIndex}/spaxel.json?index=2&x=0&y=0`, 400, "index"],
    [`${byIndex}/slice.png?channel=1`, 400, "index"],
    [`${server.url}/api/v1/datasets/manga/examples/nope/ifu/slice.png?channel=1`, 404, "id"],
    [`${server.url}/api/v1/datasets/hsc/examples/${hscId}/ifu/slice.png?channel=1`, 404, "name"],
    [`${server.url}/api/v1/datasets/hsc/examples/${hscId}/ifu/spaxel.json?x=0&y=0`, 404, "name"],
  ];
  for (const [url, status, parameter] of cases) {
    const res = await call(url);
    assert.equal(res.status, status, `${url}: ${res.text}`);
    assert.equal(res.body.error.parameter, parameter, `${url}: ${res.text}`);
  }
});

test("the OpenAPI document lists the IFU routes", async () => {
  const { body } = await call(`${server.url}/api/v1/openapi.json`);
  for (const p of [
    "/api/v1/datasets/{name}/examples/{id}/ifu/slice.png",
    "/api/v1/datasets/{name}/examples/{id}/ifu/spaxel.json",
    "/api/v1/datasets/{name}/examples/ifu/slice.png",
    "/api/v1/datasets/{name}/examples/ifu/spaxel.json",
  ])
    assert.ok(body.paths[p]?.get, p);
  const params = body.paths["/api/v1/datasets/{name}/examples/{id}/ifu/slice.png"].get.parameters;
  assert.ok(params.some((p: { name: string }) => p.name === "wavelength"));
});
