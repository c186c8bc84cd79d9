// One example by object id (or by row index) as safetensors bytes (the default: each array a
// tensor with its dtype and shape, sent as stored) or, with format=json, as JSON (arrays as
// {dtype, shape, data}, int64 as strings, non-finite floats as null); docs/service.md.

import type { FastifyInstance, FastifyReply } from "fastify";
import { bytesPerRow } from "../core/columns.ts";
import type { Dataset } from "../dataset/dataset.ts";
import { encodeExample } from "../formats/safetensors.ts";
import type { ServerContext } from "./app.ts";
import { badParameter, blame, tooLarge } from "./errors.ts";
import { CONFIG_PARAM, NAME_PARAM, NAME_PARAMS } from "./params.ts";
import { withDeadline } from "./query.ts";
import { datasetNamed } from "./routes-datasets.ts";

/** Longest object id accepted (characters). */
const MAX_ID_LENGTH = 256;

const DTYPE_OF: Array<[new (...args: never[]) => ArrayBufferView, string]> = [
  [Float32Array, "float32"],
  [Float64Array, "float64"],
  [Int8Array, "int8"],
  [Int16Array, "int16"],
  [Int32Array, "int32"],
  [BigInt64Array, "int64"],
  [Uint8Array, "uint8"],
  [Uint16Array, "uint16"],
  [Uint32Array, "uint32"],
  [BigUint64Array, "uint64"],
];

function dtypeOf(a: ArrayBufferView): string {
  for (const [ctor, name] of DTYPE_OF) if (a instanceof ctor) return name;
  return "unknown";
}

function flatJson(a: ArrayBufferView): unknown[] {
  const values = a as unknown as ArrayLike<number | bigint>;
  const out = new Array<unknown>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = typeof v === "bigint" ? v.toString() : Number.isFinite(v) ? v : null;
  }
  return out;
}

function isNDArray(x: object): x is { data: ArrayBufferView; shape: number[] } {
  const o = x as { data?: unknown; shape?: unknown };
  return ArrayBuffer.isView(o.data) && Array.isArray(o.shape) && Object.keys(x).length === 2;
}

/** An example's value in the JSON form of the service. */
export function toJsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "object") return value;
  if (ArrayBuffer.isView(value))
    return {
      dtype: dtypeOf(value),
      shape: [(value as unknown as ArrayLike<number>).length],
      data: flatJson(value),
    };
  if (isNDArray(value))
    return { dtype: dtypeOf(value.data), shape: value.shape, data: flatJson(value.data) };
  if (Array.isArray(value)) return value.map(toJsonValue);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // An own property whatever the name ("__proto__" is a column name like any other).
    Object.defineProperty(out, k, {
      value: toJsonValue(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** The id a path segment gives, typed as the dataset's object_id column. */
export function parseObjectId(dataset: Dataset, text: string): string | bigint {
  if (text.length === 0 || text.length > MAX_ID_LENGTH)
    throw badParameter("id", `an object id has 1 to ${MAX_ID_LENGTH} characters`);
  const dtype = dataset.features.find((f) => f.name === "object_id")?.dtype;
  if (dtype === undefined || dtype === "string") return text;
  if (!/^-?\d{1,20}$/.test(text))
    throw badParameter(
      "id",
      `object ids of this dataset are integers (${dtype}), not "${text.slice(0, 40)}"`,
    );
  const id = BigInt(text);
  const unsigned = dtype.startsWith("uint");
  const bits = Number(dtype.replace(/\D/g, "")) || 64;
  const min = unsigned ? 0n : -(2n ** BigInt(bits - 1));
  const max = unsigned ? 2n ** BigInt(bits) - 1n : 2n ** BigInt(bits - 1) - 1n;
  if (id < min || id > max)
    throw badParameter("id", `object id ${text} is outside the ${dtype} range`);
  return id;
}

/** Formats of one example. */
export type ExampleFormat = "json" | "safetensors";

const FORMAT_PARAM = {
  type: "string",
  enum: ["safetensors", "json"],
  default: "safetensors",
  description:
    "safetensors (default): the arrays as tensors (dtype, shape, little-endian bytes), the rest of the example in the metadata key astropile.example (decodeExample in the library reads it back); json: arrays as {dtype, shape, data}.",
} as const;

export function registerExampleRoutes(app: FastifyInstance, context: ServerContext): void {
  const { limits } = context;
  const answer = async (
    dataset: Dataset,
    format: ExampleFormat,
    reply: FastifyReply,
    pick: (d: Dataset) => Promise<unknown>,
  ) => {
    const bytes = dataset.features.reduce(
      (sum, f) => sum + bytesPerRow({ name: f.name, dtype: f.dtype, shape: f.shape }),
      0,
    );
    // JSON spends ~3 bytes of text on each byte of values.
    const sent = format === "json" ? bytes * 3 : bytes;
    if (sent > limits.responseBytes)
      throw tooLarge(
        `one example of this dataset makes about ${Math.round(sent / 2 ** 20)} MiB of ${format}`,
      );
    const deadline = Date.now() + limits.queryTimeoutMs;
    const example = await withDeadline(deadline, limits.queryTimeoutMs, pick(dataset));
    if (format === "json") return toJsonValue(example);
    reply.type("application/octet-stream");
    const body = encodeExample(example);
    return Buffer.from(body.buffer, body.byteOffset, body.length);
  };
  const schemaBase = {
    tags: ["datasets"],
  };

  app.get<{
    Params: { name: string; id: string };
    Querystring: { config?: string; format?: ExampleFormat };
  }>(
    "/api/v1/datasets/:name/examples/:id",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        ...schemaBase,
        summary: "One example by object id, as JSON or safetensors",
        params: {
          type: "object",
          properties: { name: NAME_PARAM, id: { type: "string", description: "object_id" } },
          required: ["name", "id"],
        },
        querystring: {
          type: "object",
          properties: {
            config: CONFIG_PARAM,
            format: FORMAT_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const { dataset } = await datasetNamed(context, req, req.params.name, req.query.config);
      const id = parseObjectId(dataset, req.params.id);
      return answer(dataset, req.query.format ?? "safetensors", reply, (d) =>
        blame("id", () => d.getById(id)),
      );
    },
  );

  app.get<{
    Params: { name: string };
    Querystring: { index: number; config?: string; format?: ExampleFormat };
  }>(
    "/api/v1/datasets/:name/examples",
    {
      config: { scope: "read", cacheable: true },
      schema: {
        ...schemaBase,
        summary: "One example by row index (0-based, in storage order)",
        params: NAME_PARAMS,
        querystring: {
          type: "object",
          required: ["index"],
          properties: {
            index: { type: "integer", minimum: 0, maximum: 1e15 },
            config: CONFIG_PARAM,
            format: FORMAT_PARAM,
          },
        },
      },
    },
    async (req, reply) => {
      const { dataset } = await datasetNamed(context, req, req.params.name, req.query.config);
      const index = req.query.index;
      if (index >= dataset.length)
        throw badParameter("index", `index ${index} is past the last row (${dataset.length} rows)`);
      return answer(dataset, req.query.format ?? "safetensors", reply, (d) =>
        blame("index", () => d.get(index)),
      );
    },
  );
}
