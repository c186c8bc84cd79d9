// Pictures of one example (docs/service.md, "Images" and "Spectra"): a band of an image cutout
// as a PNG (stretch, percentiles, colormap), an RGB composite of three bands (Lupton asinh or
// linear), a spectrum as JSON and as a PNG plot. Thin routes over the render layer; the example
// is read with only the columns the picture needs.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Example, ImageBand, NDArray } from "../dataset/example.ts";
import {
  COLORMAPS,
  type ColormapName,
  type ImageArray,
  renderImagePng,
  renderRgbPng,
  renderSpectrumPng,
  STRETCHES,
  type StretchName,
} from "../render/index.ts";
import type { ServerContext } from "./app.ts";
import { badParameter, blame, notFound } from "./errors.ts";
import { CONFIG_PARAM, ID_PARAMS } from "./params.ts";
import { withDeadline } from "./query.ts";
import { datasetNamed } from "./routes-datasets.ts";
import { parseObjectId, toJsonValue } from "./routes-examples.ts";

const PERCENTILE = { type: "number", minimum: 0, maximum: 100 } as const;

/** The example `id` of `name` with only `columns` read (a group name like "image" is fine). */
async function exampleWith(
  context: ServerContext,
  req: FastifyRequest,
  name: string,
  idText: string,
  config: string | undefined,
  group: "image" | "spectrum",
): Promise<Example> {
  const { dataset } = await datasetNamed(context, req, name, config);
  const has = dataset.features.some((f) => f.modality === group);
  if (!has) throw notFound(`dataset ${name} has no ${group} columns`, "name");
  const id = parseObjectId(dataset, idText);
  const columns = group === "spectrum" ? ["object_id", "spectrum", "z"] : ["object_id", "image"];
  const names = columns.filter(
    (c) => c === "image" || c === "spectrum" || dataset.features.some((f) => f.name === c),
  );
  const view = dataset.select(names);
  const ms = context.limits.queryTimeoutMs;
  return withDeadline(
    Date.now() + ms,
    ms,
    blame("id", () => view.getById(id)),
  );
}

/** The band named `band` ("r" also finds "hsc-r"); the first band when none is named. */
function pickBand(bands: ImageBand[], band: string | undefined, parameter: string): ImageBand {
  if (bands.length === 0) throw notFound("this example has no image bands", parameter);
  if (band === undefined || band === "") return bands[0]!;
  const wanted = band.toLowerCase();
  const found =
    bands.find((b) => b.band.toLowerCase() === wanted) ??
    bands.find((b) => b.band.toLowerCase().split(/[-_ ]/).at(-1) === wanted);
  if (!found)
    throw badParameter(
      parameter,
      `no band "${band}" (bands: ${bands.map((b) => b.band).join(", ")})`,
    );
  return found;
}

function png(reply: import("fastify").FastifyReply, bytes: Uint8Array) {
  reply.type("image/png");
  reply.header("Cache-Control", "no-cache");
  return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function arrayOf(x: unknown): NDArray | undefined {
  const a = x as NDArray | undefined;
  return a && ArrayBuffer.isView(a.data) ? a : undefined;
}

export function registerImageRoutes(app: FastifyInstance, context: ServerContext): void {
  app.get<{
    Params: { name: string; id: string };
    Querystring: {
      band?: string;
      stretch?: StretchName;
      pmin?: number;
      pmax?: number;
      cmap?: ColormapName;
      config?: string;
    };
  }>(
    "/api/v1/datasets/:name/examples/:id/image.png",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "One band of an example's image cutout as a PNG",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: {
          type: "object",
          properties: {
            band: {
              type: "string",
              maxLength: 64,
              description: 'Band name ("r" finds "hsc-r"); default the first.',
            },
            stretch: { type: "string", enum: [...STRETCHES], default: "asinh" },
            pmin: { ...PERCENTILE, default: 1 },
            pmax: { ...PERCENTILE, default: 99.5 },
            cmap: { type: "string", enum: [...COLORMAPS], default: "gray" },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const ex = await exampleWith(context, req, req.params.name, req.params.id, q.config, "image");
      const band = pickBand(ex.image ?? [], q.band, "band");
      const bytes = await blame("band", () =>
        renderImagePng(band.flux as ImageArray, {
          stretch: q.stretch,
          pmin: q.pmin,
          pmax: q.pmax,
          cmap: q.cmap,
          mask: band.mask?.data,
        }),
      );
      return png(reply, bytes);
    },
  );

  app.get<{
    Params: { name: string; id: string };
    Querystring: {
      bands?: string;
      stretch?: "asinh" | "linear";
      q?: number;
      pmin?: number;
      pmax?: number;
      config?: string;
    };
  }>(
    "/api/v1/datasets/:name/examples/:id/rgb.png",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "An RGB composite of three bands (Lupton asinh or linear) as a PNG",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: {
          type: "object",
          properties: {
            bands: {
              type: "string",
              maxLength: 200,
              description:
                "Red, green, blue bands, e.g. i,r,g (default the last three bands, reddest first).",
            },
            stretch: { type: "string", enum: ["asinh", "linear"], default: "asinh" },
            q: { type: "number", exclusiveMinimum: 0, maximum: 1000, default: 8 },
            pmin: { ...PERCENTILE, default: 1 },
            pmax: { ...PERCENTILE, default: 99.5 },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const ex = await exampleWith(context, req, req.params.name, req.params.id, q.config, "image");
      const bands = ex.image ?? [];
      let picked: ImageBand[];
      if (q.bands) {
        const names = q.bands.split(",").map((s) => s.trim());
        if (names.length !== 3 || names.some((n) => n === ""))
          throw badParameter("bands", "bands names three bands: red,green,blue");
        picked = names.map((n) => pickBand(bands, n, "bands"));
      } else {
        if (bands.length < 3)
          throw badParameter(
            "bands",
            `an RGB composite needs three bands, this example has ${bands.length}`,
          );
        picked = bands.slice(-3).reverse();
      }
      const bytes = await blame("bands", () =>
        renderRgbPng(
          [picked[0]!.flux, picked[1]!.flux, picked[2]!.flux] as [
            ImageArray,
            ImageArray,
            ImageArray,
          ],
          {
            stretch: q.stretch,
            Q: q.q,
            pmin: q.pmin,
            pmax: q.pmax,
          },
        ),
      );
      return png(reply, bytes);
    },
  );

  const spectrumOf = (ex: Example) => {
    const flux = arrayOf(ex.flux);
    if (!flux) throw notFound("this example has no spectrum", "id");
    const z = typeof ex.z === "number" && Number.isFinite(ex.z) ? ex.z : null;
    return {
      flux,
      lambda: arrayOf(ex.lambda),
      ivar: arrayOf(ex.ivar),
      mask: arrayOf(ex.mask),
      z,
    };
  };

  app.get<{ Params: { name: string; id: string }; Querystring: { config?: string } }>(
    "/api/v1/datasets/:name/examples/:id/spectrum.json",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "An example's spectrum: lambda, flux, ivar, mask, z, units",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: { type: "object", properties: { config: CONFIG_PARAM } },
      },
    },
    async (req) => {
      const ex = await exampleWith(
        context,
        req,
        req.params.name,
        req.params.id,
        req.query.config,
        "spectrum",
      );
      const s = spectrumOf(ex);
      const { dataset } = await datasetNamed(context, req, req.params.name, req.query.config);
      const unit = (n: string) => dataset.features.find((f) => f.name === n)?.unit ?? null;
      const flat = (a: NDArray | undefined) =>
        a ? (toJsonValue(a) as { data: unknown[] }).data : null;
      return {
        lambda: flat(s.lambda),
        flux: flat(s.flux),
        ivar: flat(s.ivar),
        mask: s.mask ? Array.from(s.mask.data as Uint8Array, (v) => v !== 0) : null,
        z: s.z,
        units: {
          lambda: unit("spectrum_lambda"),
          flux: unit("spectrum_flux"),
          ivar: unit("spectrum_ivar"),
        },
      };
    },
  );

  app.get<{
    Params: { name: string; id: string };
    Querystring: { width?: number; height?: number; config?: string };
  }>(
    "/api/v1/datasets/:name/examples/:id/spectrum.png",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        summary: "An example's spectrum plotted as a PNG (mask shaded, lines at the redshift)",
        tags: ["pictures"],
        params: ID_PARAMS,
        querystring: {
          type: "object",
          properties: {
            width: { type: "integer", minimum: 32, maximum: 4096, default: 800 },
            height: { type: "integer", minimum: 32, maximum: 4096, default: 300 },
            config: CONFIG_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const ex = await exampleWith(
        context,
        req,
        req.params.name,
        req.params.id,
        q.config,
        "spectrum",
      );
      const s = spectrumOf(ex);
      if (!s.lambda) throw notFound("this spectrum has no wavelengths", "id");
      const bytes = await blame("id", () =>
        renderSpectrumPng(
          {
            lambda: s.lambda!.data as Float32Array,
            flux: s.flux.data as Float32Array,
            ivar: s.ivar?.data as Float32Array | undefined,
            mask: s.mask?.data as Uint8Array | undefined,
            z: s.z,
          },
          { width: q.width, height: q.height },
        ),
      );
      return png(reply, bytes);
    },
  );
}
