// Validation of examples and source rows: a value that breaks its schema is an error naming the
// field, what was expected and what was found.
import { z } from "zod/v3"; // the v3 API loads in a sixth of the time: see core/record-schema.ts
import { arrayClass, type ColumnSpec } from "../core/columns.ts";
import { SchemaError } from "../core/errors.ts";

const numericArray = z.custom<ArrayBufferView>(
  (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
  {
    message: "expected a typed array",
  },
);

const ndarray = (rank: number) =>
  z
    .object({
      data: numericArray,
      shape: z.array(z.number().int().nonnegative()).length(rank, `expected ${rank} dimensions`),
    })
    .refine(
      (a) =>
        (a.data as unknown as { length: number }).length === a.shape.reduce((x, y) => x * y, 1),
      {
        message: "data length does not match the shape",
      },
    );

const provenance = z.object({ survey: z.string() }).passthrough();
const id = z.union([z.string(), z.bigint(), z.number().int()]);
const degrees = (lo: number, hi: number) => z.number().min(lo).max(hi);

const core = {
  provenance,
  object_id: id.optional(),
  ra: degrees(0, 360).optional(),
  dec: degrees(-90, 90).optional(),
  healpix: z.number().int().min(0).max(3071).optional(),
};

export const ImageExampleSchema = z
  .object({
    ...core,
    image: z.array(
      z.object({
        band: z.string().min(1),
        flux: ndarray(2),
        ivar: ndarray(2).optional(),
        mask: ndarray(2).optional(),
        psf_fwhm: z.number().positive().optional(),
        scale: z.number().positive().optional(),
        units: z.string().optional(),
      }),
    ),
  })
  .passthrough();

export const SpectrumExampleSchema = z
  .object({
    ...core,
    flux: ndarray(1),
    ivar: ndarray(1).optional(),
    lsf_sigma: ndarray(1).optional(),
    lambda: ndarray(1).optional(),
    mask: ndarray(1).optional(),
    z: z.number().optional(),
    z_err: z.number().nonnegative().optional(),
    extra: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export const IfuExampleSchema = z
  .object({
    ...core,
    spaxel_size: z.number().positive().optional(),
    spaxels: z.array(
      z.object({ flux: ndarray(1), x: z.number().int(), y: z.number().int() }).passthrough(),
    ),
    images: z.array(z.object({ label: z.string(), data: ndarray(2) }).passthrough()).optional(),
  })
  .passthrough();

function describeFound(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (ArrayBuffer.isView(v))
    return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(typeof v === "bigint" ? v.toString() : v)}`;
}

function at(obj: unknown, path: PropertyKey[]): unknown {
  let v: unknown = obj;
  for (const k of path) v = v == null ? undefined : (v as Record<PropertyKey, unknown>)[k];
  return v;
}

function fieldName(path: PropertyKey[]): string {
  return path
    .map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join("");
}

/** Checks an example against the schema of its modality; throws SchemaError naming the field. */
export function validateExample(
  example: unknown,
  modality: "image" | "spectrum" | "ifu" | "catalog",
): void {
  const schema =
    modality === "image"
      ? ImageExampleSchema
      : modality === "spectrum"
        ? SpectrumExampleSchema
        : modality === "ifu"
          ? IfuExampleSchema
          : z.object(core).passthrough();
  const r = schema.safeParse(example);
  if (r.success) return;
  const issue = r.error.issues[0];
  const field = fieldName(issue.path) || "(example)";
  throw new SchemaError(
    `field "${field}": ${issue.message}, found ${describeFound(at(example, issue.path))}`,
    {
      detail: `${modality} example`,
    },
  );
}

/**
 * Checks one source row (column name → value: a scalar, or a typed array for array columns)
 * against column specs. Throws SchemaError naming the column, expected and found.
 */
export function validateRow(
  row: Record<string, unknown>,
  specs: ColumnSpec[],
  where?: { file?: string; row?: number },
): void {
  for (const spec of specs) {
    const v = row[spec.name];
    const fail = (expected: string) => {
      throw new SchemaError(`expected ${expected}, found ${describeFound(v)}`, {
        file: where?.file,
        column: spec.name,
        detail: where?.row !== undefined ? `row ${where.row}` : undefined,
      });
    };
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.shape.length > 0) {
      if (spec.dtype === "string") {
        if (!Array.isArray(v) || v.length !== size || !v.every((s) => typeof s === "string"))
          fail(`${size} strings`);
        continue;
      }
      const ctor = arrayClass(spec.dtype);
      if (!(v instanceof ctor)) fail(`${ctor.name} of shape [${spec.shape.join(", ")}]`);
      if ((v as { length: number }).length !== size)
        fail(`${size} values (shape [${spec.shape.join(", ")}])`);
      continue;
    }
    switch (spec.dtype) {
      case "string":
        if (typeof v !== "string") fail("a string");
        if (spec.stringLength !== undefined && Buffer.byteLength(v as string) > spec.stringLength)
          fail(`at most ${spec.stringLength} UTF-8 bytes`);
        break;
      case "bool":
        if (typeof v !== "boolean" && v !== 0 && v !== 1) fail("a boolean");
        break;
      case "int64":
      case "uint64":
        if (typeof v !== "bigint" && !(typeof v === "number" && Number.isSafeInteger(v)))
          fail(`an integer (${spec.dtype})`);
        break;
      case "float32":
      case "float64":
        if (typeof v !== "number") fail(`a number (${spec.dtype})`);
        break;
      default:
        if (typeof v !== "number" || !Number.isInteger(v)) fail(`an integer (${spec.dtype})`);
    }
  }
}
