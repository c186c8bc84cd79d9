// Numbers written as text, as every reader of them means them: decimal digits only (no "0x10",
// no "" read as 0, as Number() and BigInt() would). Shared by the CSV reader, spec fill values,
// filters and ids given as text.

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The integer `text` spells in decimal (blanks around allowed), or null. */
export function integerText(text: string): bigint | null {
  const t = text.trim();
  return INT_RE.test(t) ? BigInt(t) : null;
}

/** Whether `text` is a decimal number (blanks around allowed; not nan or inf). */
export function isDecimalText(text: string): boolean {
  return FLOAT_RE.test(text.trim());
}
