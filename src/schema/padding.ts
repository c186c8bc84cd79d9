// Padding of spectra to one length per config, by Multimodal Universe's own rules
// (scripts/sdss/build_parent_sample.py pads each file's spectra to that file's longest with
// np.pad): flux and lsf_sigma repeat their last value ("edge"), ivar 0, lambda -1, mask true.
// A config whose files were padded to different lengths is presented at the longest; the
// shorter files are padded on read with the same rules, so a row reads the same whichever
// file length it was written at.
import type { ColumnValues } from "../core/columns.ts";
import { SchemaError } from "../core/errors.ts";

/** How a padded tail is filled: the last value repeated, or a constant. */
export type PadRule = { kind: "edge" } | { kind: "constant"; value: number };

/** Multimodal Universe's padding of spectrum columns (by column name as stored). */
export const MMU_SPECTRUM_PADDING: Readonly<Record<string, PadRule>> = {
  spectrum_flux: { kind: "edge" },
  spectrum_lsf_sigma: { kind: "edge" },
  spectrum_ivar: { kind: "constant", value: 0 },
  spectrum_lambda: { kind: "constant", value: -1 },
  spectrum_mask: { kind: "constant", value: 1 },
};

/** The pad rule of a column, or undefined when MMU does not pad it (it cannot be padded). */
export function padRuleOf(column: string): PadRule | undefined {
  return Object.hasOwn(MMU_SPECTRUM_PADDING, column) ? MMU_SPECTRUM_PADDING[column] : undefined;
}

/**
 * Pads `rows` rows of a 1-D-per-row column from length `from` to length `to` (from <= to) by
 * `rule`. Returns a new array of the same type; `from === to` returns the values as they are.
 */
export function padRows(
  values: ColumnValues,
  rows: number,
  from: number,
  to: number,
  rule: PadRule,
  column = "",
): ColumnValues {
  if (from === to) return values;
  if (Array.isArray(values) || from > to || from === 0)
    throw new SchemaError(`cannot pad ${from} values per row to ${to}`, { column });
  const Ctor = values.constructor as new (n: number) => typeof values;
  const out = new Ctor(rows * to);
  for (let r = 0; r < rows; r++) {
    const src = r * from;
    const dst = r * to;
    (out as Float32Array).set((values as Float32Array).subarray(src, src + from), dst);
    const fill = rule.kind === "edge" ? (values as Float32Array)[src + from - 1] : rule.value;
    (out as Float32Array).fill(fill as number, dst + from, dst + to);
  }
  return out;
}
