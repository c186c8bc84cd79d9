// Catalog and metadata routes: the list of datasets (searchable) and one dataset's entry,
// manifest, card and schema (docs/service.md, "Catalog" and "Dataset routes").

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Dataset } from "../dataset/dataset.ts";
import { isRemoteUrl } from "../storage/remote-hook.ts";
import type { ServerContext } from "./app.ts";
import type { CatalogEntry, CatalogQuery } from "./directory.ts";
import { badParameter, notFound } from "./errors.ts";
import { CONFIG_PARAM, NAME_PARAMS } from "./params.ts";
import { resolveEntry } from "./resolve.ts";

/** Largest dataset card (README.md) included in the metadata answer. */
const MAX_CARD_BYTES = 1024 * 1024;

/**
 * The catalog entry named `name`, or 404 naming the `name` parameter. Looked up once per request
 * (resolveEntry): the answer cache and the route share one stat of the manifest.
 */
export async function entryNamed(
  context: ServerContext,
  req: FastifyRequest,
  name: string,
): Promise<CatalogEntry> {
  const resolved = await resolveEntry(context, req, name);
  if (!resolved) throw notFound(`no dataset named "${name}"`, "name");
  return resolved.entry;
}

/**
 * The dataset named `name` opened at `config` (its default when omitted), with its entry; 404
 * naming `name` or `config`. The opened dataset is checked against the manifest stamp this
 * request already read.
 */
export async function datasetNamed(
  context: ServerContext,
  req: FastifyRequest,
  name: string,
  config?: string,
): Promise<{ entry: CatalogEntry; dataset: Dataset }> {
  const resolved = await resolveEntry(context, req, name);
  if (!resolved) throw notFound(`no dataset named "${name}"`, "name");
  const dataset = await context.datasets.get(resolved.entry, config, resolved.stamp);
  return { entry: resolved.entry, dataset };
}

export function registerDatasetRoutes(app: FastifyInstance, context: ServerContext): void {
  app.get<{
    Querystring: {
      q?: string;
      survey?: string;
      modality?: string;
      ra?: number;
      dec?: number;
      radius?: number;
    };
  }>(
    "/api/v1/datasets",
    {
      config: { scope: "read" },
      schema: {
        summary: "List and search the datasets served",
        tags: ["catalog"],
        querystring: {
          type: "object",
          properties: {
            q: {
              type: "string",
              maxLength: 200,
              description: "Substring of names, provenance, descriptions, column names.",
            },
            survey: { type: "string", maxLength: 200 },
            modality: { type: "string", maxLength: 64 },
            ra: { type: "number", minimum: 0, maximum: 360, description: "Cone centre (deg)." },
            dec: { type: "number", minimum: -90, maximum: 90, description: "Cone centre (deg)." },
            radius: {
              type: "number",
              exclusiveMinimum: 0,
              maximum: 180,
              description: "Cone radius (deg); ra, dec and radius go together.",
            },
          },
        },
      },
    },
    async (req) => {
      const { q, survey, modality, ra, dec, radius } = req.query;
      const query: CatalogQuery = {};
      if (q) query.q = q;
      if (survey) query.survey = survey;
      if (modality) query.modality = modality;
      const given = [ra, dec, radius].filter((x) => x !== undefined).length;
      if (given !== 0 && given !== 3) {
        const missing = ra === undefined ? "ra" : dec === undefined ? "dec" : "radius";
        throw badParameter(missing, "ra, dec and radius go together (a cone search)");
      }
      if (given === 3) query.cone = { raDeg: ra!, decDeg: dec!, radiusDeg: radius! };
      return { datasets: await context.directory.list(query) };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { config?: string } }>(
    "/api/v1/datasets/:name",
    {
      config: { scope: "read" },
      schema: {
        summary: "One dataset: catalog entry, manifest, card and schema",
        tags: ["datasets"],
        params: NAME_PARAMS,
        querystring: { type: "object", properties: { config: CONFIG_PARAM } },
      },
    },
    async (req) => {
      const { entry, dataset } = await datasetNamed(
        context,
        req,
        req.params.name,
        req.query.config,
      );
      let card: string | undefined;
      if (!isRemoteUrl(entry.location)) {
        const text = await readFile(join(dataset.root, "README.md")).catch(() => undefined);
        if (text && text.length <= MAX_CARD_BYTES) card = text.toString("utf8");
      }
      return {
        entry,
        config: dataset.config,
        manifest: dataset.manifest,
        card,
        features: dataset.features,
      };
    },
  );
}
