// Request parameters: the JSON schemas the routes declare (Fastify validates them and the OpenAPI
// document describes them) and the parsing of the parameters a schema cannot check alone
// (comma lists, cone and box triples). Every refusal names its parameter.

import { DATASET_NAME } from "./directory.ts";
import { badParameter } from "./errors.ts";

/** Path parameter `name` of every dataset route. */
export const NAME_PARAM = {
  type: "string",
  pattern: DATASET_NAME.source,
  description: "Dataset name, `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.",
} as const;

/** Path parameters of a dataset route: `:name`. */
export const NAME_PARAMS = {
  type: "object",
  properties: { name: NAME_PARAM },
  required: ["name"],
} as const;

/** Path parameters of an example route: `:name` and `:id` (an object_id). */
export const ID_PARAMS = {
  type: "object",
  properties: { name: NAME_PARAM, id: { type: "string", description: "object_id" } },
  required: ["name", "id"],
} as const;

/** `config` query parameter. */
export const CONFIG_PARAM = {
  type: "string",
  pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
  description: "Config of the dataset (default: its only or first config).",
} as const;

/** `columns` query parameter (comma-separated names). */
export const COLUMNS_PARAM = {
  type: "string",
  maxLength: 8192,
  description:
    "Comma-separated column names (standard names, aliases, or groups: image, spectrum, ifu). Default: the scalar columns.",
} as const;

/** Most column names one request may list. */
const MAX_COLUMNS = 512;

/** The column names of a `columns` parameter (undefined when absent or empty). */
export function parseColumns(
  text: string | undefined,
  parameter = "columns",
): string[] | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const names = text.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw badParameter(parameter, `empty column name in "${text}"`);
  if (names.length > MAX_COLUMNS)
    throw badParameter(parameter, `at most ${MAX_COLUMNS} columns, got ${names.length}`);
  return [...new Set(names)];
}

/** Comma-separated finite numbers, exactly `count` of them. */
export function parseNumbers(
  text: string,
  count: number,
  parameter: string,
  what: string,
): number[] {
  const parts = text.split(",");
  if (parts.length !== count)
    throw badParameter(
      parameter,
      `${parameter} must be ${what} (${count} numbers), got "${text.slice(0, 100)}"`,
    );
  return parts.map((p) => {
    const s = p.trim();
    const x = s === "" ? Number.NaN : Number(s);
    if (!Number.isFinite(x))
      throw badParameter(parameter, `${parameter}: "${s.slice(0, 40)}" is not a finite number`);
    return x;
  });
}

/** A `cone=ra,dec,radiusArcsec` parameter (degrees, degrees, arcsec). */
export function parseCone(text: string): { ra: number; dec: number; radiusArcsec: number } {
  const [ra, dec, radiusArcsec] = parseNumbers(text, 3, "cone", "ra,dec,radiusArcsec");
  checkSky(ra!, dec!, "cone");
  if (!(radiusArcsec! > 0 && radiusArcsec! <= 180 * 3600))
    throw badParameter("cone", `cone radius ${radiusArcsec} arcsec must be in (0, 648000]`);
  return { ra: ra!, dec: dec!, radiusArcsec: radiusArcsec! };
}

/** A `box=raMin,raMax,decMin,decMax` parameter (degrees). */
export function parseBox(text: string): {
  raMin: number;
  raMax: number;
  decMin: number;
  decMax: number;
} {
  const [raMin, raMax, decMin, decMax] = parseNumbers(text, 4, "box", "raMin,raMax,decMin,decMax");
  if (!(raMin! >= 0 && raMin! <= 360 && raMax! >= 0 && raMax! <= 360))
    throw badParameter("box", "box ra limits must be in [0, 360] degrees");
  if (!(decMin! >= -90 && decMax! <= 90 && decMin! <= decMax!))
    throw badParameter("box", "box dec limits must satisfy -90 <= decMin <= decMax <= 90");
  return { raMin: raMin!, raMax: raMax!, decMin: decMin!, decMax: decMax! };
}

/** A sky position: ra in [0, 360], dec in [-90, 90] (degrees). */
export function checkSky(ra: number, dec: number, parameter: string): void {
  if (!(ra >= 0 && ra <= 360))
    throw badParameter(parameter, `ra ${ra} must be in [0, 360] degrees`);
  if (!(dec >= -90 && dec <= 90))
    throw badParameter(parameter, `dec ${dec} must be in [-90, 90] degrees`);
}
