// IFU cubes of one example (docs/service.md, "IFU"): one wavelength slice as a PNG (by channel,
// or the channel nearest a wavelength) and the spectrum of one spaxel in the body of
// spectrum.json. By object id (`/examples/:id/ifu/...`) or by row index
// (`/examples/ifu/...?index=N`, as `/examples?index=N` stands for `/examples/:id`). Thin routes
// over the render layer; the example is read with only the cube columns the answer needs.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Dataset } from "../dataset/dataset.ts";
import type { Example, NDArray, Spaxel } from "../dataset/example.ts";
import {
  COLORMAPS,
  type ColormapName,
  type CubeArray,
  MAX_CUBE_VALUES,
  nearestChannel,
  renderIfuSlicePng,
  STRETCHES,
  type StretchName,
} from "../render/index.ts";
import type { ServerContext } from "./app.ts";
import { badParameter, blame, notFound, tooLarge } from "./errors.ts";
import { CONFIG_PARAM, ID_PARAMS, NAME_PARAMS } from "./params.ts";
import { withDeadline } from "./query.ts";
import { datasetNamed } from "./routes-datasets.ts";
import { parseObjectId, toJsonValue } from "./routes-examples.ts";

const INDEX_PARAM = {
  type: "integer",
  minimum: 0,
  maximum: 1e15,
  description: "Row index (0-based, storage order), instead of an object id in the path.",
} as const;
const PERCENTILE = { type: "number", minimum: 0, maximum: 100 } as const;

/** Which example: by object id (path) or by row index (query). */
type ExampleRef = { id: string } | { index: number };

/** The cube of one example and its shape [ny, nx, nl] (layout "yxl"). */
interface IfuExample {
  example: Example;
  dataset: Dataset;
  shape: [number, number, number];
}

/** The example of `name` with only the IFU columns `wanted` (and object_id, z) read. */
async function ifuExample(
  context: ServerContext,
  req: FastifyRequest,
  name: string,
  ref: ExampleRef,
  config: string | undefined,
  wanted: string[],
): Promise<IfuExample> {
  const { dataset } = await datasetNamed(context, req, name, config);
  const flux = dataset.features.find((f) => f.name === "ifu_flux");
  if (flux?.shape.length !== 3)
    throw notFound(`dataset ${name} has no IFU cube (ifu_flux)`, "name");
  const [ny, nx, nl] = flux.shape as [number, number, number];
  if (ny * nx * nl > MAX_CUBE_VALUES)
    throw tooLarge(`a cube of ${ny * nx * nl} values is more than ${MAX_CUBE_VALUES}`, "name");
  const columns = ["object_id", "z", "ifu_flux", ...wanted].filter((c) =>
    dataset.features.some((f) => f.name === c),
  );
  const view = dataset.select(columns);
  const ms = context.limits.queryTimeoutMs;
  let read: Promise<Example>;
  if ("id" in ref) {
    const id = parseObjectId(dataset, ref.id);
    read = blame("id", () => view.getById(id));
  } else {
    if (ref.index >= dataset.length)
      throw badParameter(
        "index",
        `index ${ref.index} is past the last row (${dataset.length} rows)`,
      );
    read = blame("index", () => view.get(ref.index));
  }
  const example = await withDeadline(Date.now() + ms, ms, read);
  const parameter = "id" in ref ? "id" : "index";
  if (!example.spaxels || example.spaxels.length !== ny * nx)
    throw notFound("this example has no IFU cube", parameter);
  return { example, dataset, shape: [ny, nx, nl] };
}

/**
 * The cube [ny, nx, nl] one array of every spaxel makes: a view of the rows read when the
 * spaxels lie end to end in one buffer (as the dataset layer hands them out), else a copy.
 */
function cubeOf(
  spaxels: Spaxel[],
  pick: (s: Spaxel) => NDArray | undefined,
  shape: [number, number, number],
): NDArray | undefined {
  const first = pick(spaxels[0]!)?.data;
  if (!first) return undefined;
  const [ny, nx, nl] = shape;
  const n = ny * nx * nl;
  const ctor = first.constructor as new (
    buffer: ArrayBufferLike,
    offset: number,
    length: number,
  ) => NDArray["data"];
  const bpe = (first as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const contiguous =
    first.byteOffset + n * bpe <= first.buffer.byteLength &&
    spaxels.every((s, k) => {
      const d = pick(s)?.data;
      return (
        d !== undefined &&
        d.buffer === first.buffer &&
        d.length === nl &&
        d.byteOffset === first.byteOffset + k * nl * bpe
      );
    });
  if (contiguous) return { data: new ctor(first.buffer, first.byteOffset, n), shape: [...shape] };
  const copy = new (first.constructor as new (length: number) => NDArray["data"])(n);
  spaxels.forEach((s, k) => {
    const d = pick(s)?.data;
    if (!d || d.length !== nl) throw notFound("this cube has spaxels of unequal lengths", "id");
    (copy as unknown as { set(a: ArrayLike<unknown>, at: number): void }).set(
      d as unknown as ArrayLike<unknown>,
      k * nl,
    );
  });
  return { data: copy, shape: [...shape] };
}

function png(reply: FastifyReply, bytes: Uint8Array) {
  reply.type("image/png");
  reply.header("Cache-Control", "no-cache");
  return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** The channel a slice request asks for: `channel`, or the one nearest `wavelength`. */
function channelOf(
  lambda: NDArray | undefined,
  nl: number,
  q: { channel?: number; wavelength?: number },
): number {
  if (q.channel !== undefined && q.wavelength !== undefined)
    throw badParameter("wavelength", "give channel or wavelength, not both");
  if (q.channel !== undefined) {
    if (q.channel >= nl)
      throw badParameter("channel", `channel ${q.channel} is past the last (${nl} channels)`);
    return q.channel;
  }
  if (q.wavelength === undefined) throw badParameter("channel", "give channel or wavelength");
  if (!lambda || lambda.data.length !== nl)
    throw notFound("this cube has no wavelengths (ifu_lambda)", "wavelength");
  const w = q.wavelength;
  const values = lambda.data as ArrayLike<number>;
  // Refuse a wavelength off the grid (more than half a channel past either end): the edge
  // channel is not a picture of it.
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const half = values.length > 1 ? (hi - lo) / (values.length - 1) / 2 : 0;
  if (!(w >= lo - half && w <= hi + half))
    throw badParameter("wavelength", `wavelength ${w} is outside this cube's ${lo} to ${hi}`);
  return nearestChannel(values, w);
}

export function registerIfuRoutes(app: FastifyInstance, context: ServerContext): void {
  type SliceQuery = {
    channel?: number;
    wavelength?: number;
    stretch?: StretchName;
    pmin?: number;
    pmax?: number;
    cmap?: ColormapName;
    config?: string;
    index?: number;
  };
  const sliceQuery = (byIndex: boolean) => ({
    type: "object",
    ...(byIndex ? { required: ["index"] } : {}),
    properties: {
      ...(byIndex ? { index: INDEX_PARAM } : {}),
      channel: {
        type: "integer",
        minimum: 0,
        maximum: 1e9,
        description: "Channel (0-based) along the wavelength axis.",
      },
      wavelength: {
        type: "number",
        description: "Wavelength (units of ifu_lambda, Å for MaNGA); the nearest channel.",
      },
      stretch: { type: "string", enum: [...STRETCHES], default: "asinh" },
      pmin: { ...PERCENTILE, default: 1 },
      pmax: { ...PERCENTILE, default: 99.5 },
      cmap: { type: "string", enum: [...COLORMAPS], default: "gray" },
      config: CONFIG_PARAM,
    },
  });
  const slice = async (
    req: FastifyRequest,
    ref: ExampleRef,
    q: SliceQuery,
    name: string,
    reply: FastifyReply,
  ) => {
    const { example, shape } = await ifuExample(context, req, name, ref, q.config, [
      "ifu_lambda",
      "ifu_mask",
    ]);
    const spaxels = example.spaxels!;
    const cube = cubeOf(spaxels, (s) => s.flux, shape)!;
    const channel = channelOf(spaxels[0]!.lambda, shape[2], q);
    // The mask of this channel, one entry per spaxel [y, x]; set = bad (ifu_mask).
    const mask = spaxels[0]!.mask
      ? Uint8Array.from(spaxels, (s) => (s.mask!.data[channel] ? 1 : 0))
      : undefined;
    const bytes = await blame("channel", () =>
      renderIfuSlicePng(cube as CubeArray, {
        channel,
        stretch: q.stretch,
        pmin: q.pmin,
        pmax: q.pmax,
        cmap: q.cmap,
        mask,
        maskMeaning: "bad",
      }),
    );
    reply.header("X-AstroPile-Channel", String(channel));
    const lambda = spaxels[0]!.lambda?.data[channel];
    if (typeof lambda === "number") reply.header("X-AstroPile-Wavelength", String(lambda));
    return png(reply, bytes);
  };

  app.get<{ Params: { name: string; id: string }; Querystring: SliceQuery }>(
    "/api/v1/datasets/:name/examples/:id/ifu/slice.png",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "One wavelength slice of an example's IFU cube as a PNG",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: sliceQuery(false),
      },
    },
    async (req, reply) => slice(req, { id: req.params.id }, req.query, req.params.name, reply),
  );
  app.get<{ Params: { name: string }; Querystring: SliceQuery & { index: number } }>(
    "/api/v1/datasets/:name/examples/ifu/slice.png",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "One wavelength slice of the IFU cube of the example at a row index, as a PNG",
        tags: ["pictures"],
        params: NAME_PARAMS,
        querystring: sliceQuery(true),
      },
    },
    async (req, reply) => slice(req, { index: req.query.index }, req.query, req.params.name, reply),
  );

  type SpaxelQuery = { x: number; y: number; config?: string; index?: number };
  const spaxelQuery = (byIndex: boolean) => ({
    type: "object",
    required: byIndex ? ["index", "x", "y"] : ["x", "y"],
    properties: {
      ...(byIndex ? { index: INDEX_PARAM } : {}),
      x: { type: "integer", minimum: 0, maximum: 1e9, description: "Spaxel column (0-based)." },
      y: { type: "integer", minimum: 0, maximum: 1e9, description: "Spaxel row (0-based)." },
      config: CONFIG_PARAM,
    },
  });
  const spaxel = async (req: FastifyRequest, ref: ExampleRef, q: SpaxelQuery, name: string) => {
    const { example, dataset, shape } = await ifuExample(context, req, name, ref, q.config, [
      "ifu_lambda",
      "ifu_ivar",
      "ifu_mask",
    ]);
    const [ny, nx] = shape;
    if (q.x >= nx) throw badParameter("x", `x ${q.x} is outside the cube (${nx} spaxels wide)`);
    if (q.y >= ny) throw badParameter("y", `y ${q.y} is outside the cube (${ny} spaxels high)`);
    const s = example.spaxels![q.y * nx + q.x]!;
    const unit = (n: string) => dataset.features.find((f) => f.name === n)?.unit ?? null;
    const flat = (a: NDArray | undefined) =>
      a ? (toJsonValue(a) as { data: unknown[] }).data : null;
    const z = typeof example.z === "number" && Number.isFinite(example.z) ? example.z : null;
    return {
      lambda: flat(s.lambda),
      flux: flat(s.flux),
      ivar: flat(s.ivar),
      mask: s.mask ? Array.from(s.mask.data as Uint8Array, (v) => v !== 0) : null,
      z,
      units: { lambda: unit("ifu_lambda"), flux: unit("ifu_flux"), ivar: unit("ifu_ivar") },
    };
  };
  app.get<{ Params: { name: string; id: string }; Querystring: SpaxelQuery }>(
    "/api/v1/datasets/:name/examples/:id/ifu/spaxel.json",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "The spectrum of one spaxel (x, y) of an example's IFU cube, as spectrum.json",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: spaxelQuery(false),
      },
    },
    async (req) => spaxel(req, { id: req.params.id }, req.query, req.params.name),
  );
  app.get<{ Params: { name: string }; Querystring: SpaxelQuery & { index: number } }>(
    "/api/v1/datasets/:name/examples/ifu/spaxel.json",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "The spectrum of one spaxel (x, y) of the IFU cube of the example at a row index",
        tags: ["pictures"],
        params: NAME_PARAMS,
        querystring: spaxelQuery(true),
      },
    },
    async (req) => spaxel(req, { index: req.query.index }, req.query, req.params.name),
  );
}
