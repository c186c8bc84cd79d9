// A zod schema for records keyed by external names (see records.ts). Apart from records.ts so
// that modules needing only the plain helpers (units, batches) do not load zod.
//
// Every module imports zod's v3 API (`zod/v3`, shipped in the zod 4 package): zod 4's own API
// takes ~75 ms to load (its locales and JSON-schema code come with it), the v3 one ~12 ms, and
// nearly every command checks a spec or a manifest (a 1e5-row build, ~0.8 s, is ~0.06 s
// shorter). Messages read the same ("config: Expected string, received number").
import { z } from "zod/v3";
import { emptyRecord } from "./records.ts";

/**
 * `z.record(key, value)` that keeps every own key of its input, `__proto__` included (zod's
 * record drops it), and returns a prototype-less record; issues carry the key in their path.
 */
export function ownRecordSchema<K extends z.ZodType<string>, V extends z.ZodType>(
  key: K,
  value: V,
) {
  const schema = z.custom<Record<z.output<K>, z.output<V>>>().transform((input, ctx) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      ctx.addIssue({ code: "custom", message: "expected an object" });
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
            ctx.addIssue({ ...issue, path: [k, ...issue.path] } as never);
          return z.NEVER;
        }
        if (schema === value) out[k] = r.data as z.output<V>;
      }
    }
    return out as Record<z.output<K>, z.output<V>>;
  });
  // The value schema, for tools that walk a schema (a spec's "did you mean" on a misspelt key).
  return Object.assign(schema, { valueSchema: value });
}
