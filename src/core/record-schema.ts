// A zod schema for records keyed by external names (see records.ts). Apart from records.ts so
// that modules needing only the plain helpers (units, batches) do not load zod, ~45 ms of
// every command's start.
import { z } from "zod";
import { emptyRecord } from "./records.ts";

/**
 * `z.record(key, value)` that keeps every own key of its input, `__proto__` included (zod's
 * record drops it), and returns a prototype-less record; issues carry the key in their path.
 */
export function ownRecordSchema<K extends z.ZodType<string>, V extends z.ZodType>(
  key: K,
  value: V,
) {
  return z.custom<Record<z.output<K>, z.output<V>>>().transform((input, ctx) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      ctx.issues.push({ code: "custom", message: "expected an object", input });
      return z.NEVER;
    }
    const out = emptyRecord<z.output<V>>();
    for (const [k, v] of Object.entries(input)) {
      for (const [schema, x] of [
        [key, k],
        [value, v],
      ] as const) {
        const r = schema.safeParse(x);
        if (!r.success) {
          for (const issue of r.error.issues)
            ctx.issues.push({ ...issue, input: x, path: [k, ...issue.path] } as never);
          return z.NEVER;
        }
        if (schema === value) out[k] = r.data as z.output<V>;
      }
    }
    return out as Record<z.output<K>, z.output<V>>;
  });
}
