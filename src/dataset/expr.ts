// Filter expressions over scalar columns, in a form the planner can inspect and evaluate per
// file, block by block, reading only the columns they name. Written as objects
// ({ column: "z", op: ">", value: 0.5 }, { and: [...] }) or as a string ("z > 0.5 and
// forced.g_cmodel_mag < 22", "object_id in [1, 2]"), which is parsed into the same objects.

import type { ColumnValues } from "../core/columns.ts";
import { SchemaError, UsageError } from "../core/errors.ts";
import { integerText, isDecimalText } from "../core/number-text.ts";

export type Scalar = number | bigint | string | boolean;
export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

export type Expr =
  | { column: string; op: CompareOp; value: Scalar }
  | { column: string; op: "in"; value: Scalar[] }
  | { column: string; op: "between"; value: [Scalar, Scalar] }
  | { and: Expr[] }
  | { or: Expr[] }
  | { not: Expr };

export function exprColumns(e: Expr, out = new Set<string>()): Set<string> {
  if ("and" in e) for (const x of e.and) exprColumns(x, out);
  else if ("or" in e) for (const x of e.or) exprColumns(x, out);
  else if ("not" in e) exprColumns(e.not, out);
  else out.add(e.column);
  return out;
}

export function exprToString(e: Expr): string {
  if ("and" in e) return `(${e.and.map(exprToString).join(" and ")})`;
  if ("or" in e) return `(${e.or.map(exprToString).join(" or ")})`;
  if ("not" in e) return `not ${exprToString(e.not)}`;
  return `${e.column} ${e.op} ${JSON.stringify(e.value, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`;
}

/** Column values for evaluation: one value per row (scalar columns only). */
export type ColumnLookup = (column: string) => ColumnValues;

/** Evaluates `e` over `n` rows; returns 1 where the row passes. */
export function evaluate(e: Expr, n: number, lookup: ColumnLookup): Uint8Array {
  if ("and" in e) {
    const out = new Uint8Array(n).fill(1);
    for (const x of e.and) {
      const m = evaluate(x, n, lookup);
      for (let i = 0; i < n; i++) out[i] &= m[i];
    }
    return out;
  }
  if ("or" in e) {
    const out = new Uint8Array(n);
    for (const x of e.or) {
      const m = evaluate(x, n, lookup);
      for (let i = 0; i < n; i++) out[i] |= m[i];
    }
    return out;
  }
  if ("not" in e) {
    const m = evaluate(e.not, n, lookup);
    for (let i = 0; i < n; i++) m[i] ^= 1;
    return m;
  }
  const values = lookup(e.column);
  if (values.length !== n) {
    throw new SchemaError(
      `filters apply to scalar columns; this one has ${values.length / n} values per row`,
      { column: e.column },
    );
  }
  const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
  const str = Array.isArray(values);
  // A float32 column is compared in float32, as numpy compares a float32 array with a Python
  // float: "mag == 24.628" finds the rows `head` shows as 24.628 (stored as its nearest float32).
  const f32 = values instanceof Float32Array;
  const notNumber = (v: Scalar) =>
    new SchemaError(`cannot compare a numeric column with ${JSON.stringify(v)}`, {
      column: e.column,
    });
  const coerce = (v: Scalar): Scalar => {
    if (str) return String(v);
    if (typeof v === "boolean") v = v ? 1 : 0;
    // Text for a number must be a decimal number: Number("") is 0 and Number("0x3") is 3.
    if (typeof v === "string" && !isDecimalText(v)) throw notNumber(v);
    if (big) {
      if (typeof v === "number" && !Number.isInteger(v)) return v; // compared as a number below
      // Text of an integer exactly; a decimal fraction is compared as a number below.
      if (typeof v === "string") return integerText(v) ?? Number(v);
      try {
        return BigInt(v as number | bigint);
      } catch {
        throw new SchemaError(`cannot compare an integer column with ${JSON.stringify(v)}`, {
          column: e.column,
        });
      }
    }
    const num = Number(v);
    if (Number.isNaN(num) && !(typeof v === "number")) throw notNumber(v);
    return f32 ? Math.fround(num) : num;
  };
  const out = new Uint8Array(n);
  const vals = values as ArrayLike<Scalar>;
  if (e.op === "in") {
    if (!Array.isArray(e.value))
      throw new UsageError(`"in" takes a list of values, got ${JSON.stringify(e.value)}`, {
        column: e.column,
      });
    // NaN equals nothing, as in "==" and numpy's isin (a Set would match NaN rows).
    const set = new Set(
      e.value.map(coerce).filter((x) => !(typeof x === "number" && Number.isNaN(x))),
    );
    for (let i = 0; i < n; i++) out[i] = set.has(vals[i]) ? 1 : 0;
    return out;
  }
  if (e.op === "between") {
    if (!Array.isArray(e.value) || e.value.length !== 2)
      throw new UsageError(
        `"between" takes two values [low, high], got ${JSON.stringify(e.value)}`,
        { column: e.column },
      );
    const [lo, hi] = e.value.map(coerce);
    for (let i = 0; i < n; i++) out[i] = vals[i] >= lo && vals[i] <= hi ? 1 : 0;
    return out;
  }
  const v = coerce(e.value);
  switch (e.op) {
    case "==":
      for (let i = 0; i < n; i++) out[i] = vals[i] === v ? 1 : 0;
      break;
    case "!=":
      for (let i = 0; i < n; i++) out[i] = vals[i] !== v ? 1 : 0;
      break;
    case "<":
      for (let i = 0; i < n; i++) out[i] = vals[i] < v ? 1 : 0;
      break;
    case "<=":
      for (let i = 0; i < n; i++) out[i] = vals[i] <= v ? 1 : 0;
      break;
    case ">":
      for (let i = 0; i < n; i++) out[i] = vals[i] > v ? 1 : 0;
      break;
    case ">=":
      for (let i = 0; i < n; i++) out[i] = vals[i] >= v ? 1 : 0;
      break;
    default:
      throw new UsageError(`unknown operator ${(e as { op: string }).op}`);
  }
  return out;
}

// ---- string form -------------------------------------------------------------------------

type Token = {
  kind: "ident" | "number" | "string" | "op" | "punct" | "word";
  text: string;
  at: number;
};

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const re =
    /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(==|!=|<=|>=|<|>|=)|([()[\],])|(`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)|(-))/y;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(src);
    if (!m)
      throw new UsageError(`cannot parse filter at character ${at}: "${src.slice(at, at + 20)}"`);
    const start = m.index + m[0].length - m[0].trimStart().length;
    if (m[1]) tokens.push({ kind: "number", text: m[1], at: start });
    else if (m[2])
      tokens.push({ kind: "string", text: m[2].slice(1, -1).replace(/\\(.)/g, "$1"), at: start });
    else if (m[3]) tokens.push({ kind: "op", text: m[3] === "=" ? "==" : m[3], at: start });
    else if (m[4]) tokens.push({ kind: "punct", text: m[4], at: start });
    else if (m[5]) {
      const w = m[5];
      const lower = w.toLowerCase();
      if (["and", "or", "not", "in", "between", "true", "false"].includes(lower))
        tokens.push({ kind: "word", text: lower, at: start });
      else tokens.push({ kind: "ident", text: w.replace(/^`|`$/g, ""), at: start });
    } else tokens.push({ kind: "op", text: "-", at: start });
    at = re.lastIndex;
  }
  return tokens;
}

/**
 * Deepest nesting of `not`s and parentheses a filter string may have: the parser recurses once
 * per level, so a hostile filter (thousands of `(` or `not`) would otherwise exhaust the stack.
 */
const MAX_FILTER_DEPTH = 64;

/**
 * Parses "z > 0.5 and (mag < 22 or flag == true)", "object_id in [1, 2]", "z between 0.1 and 0.3".
 * `not`s and parentheses nest at most 64 deep; deeper filters are refused with a UsageError
 * (`ASTROPILE_USAGE`) naming the character where the limit was passed.
 */
export function parseExpr(src: string): Expr {
  const t = tokenize(src);
  let i = 0;
  let depth = 0;
  const deeper = <T>(tok: Token, fn: () => T): T => {
    if (depth >= MAX_FILTER_DEPTH)
      throw new UsageError(
        `filter "${src.length > 100 ? `${src.slice(0, 100)}..." (${src.length} characters)` : `${src}"`}: nested more than ${MAX_FILTER_DEPTH} deep (not, parentheses) at "${tok.text}" (character ${tok.at})`,
      );
    depth++;
    const out = fn();
    depth--;
    return out;
  };
  const peek = () => t[i];
  const fail = (what: string): never => {
    const tok = t[i];
    throw new UsageError(
      `filter "${src}": expected ${what} at ${tok ? `"${tok.text}" (character ${tok.at})` : "the end"}`,
    );
  };
  const value = (): Scalar => {
    const tok = t[i];
    let sign = 1;
    if (tok?.kind === "op" && tok.text === "-") {
      sign = -1;
      i++;
    }
    const v = t[i];
    if (!v) return fail("a value");
    i++;
    if (v.kind === "number") {
      const text = sign < 0 ? `-${v.text}` : v.text;
      const num = Number(text);
      // Integers beyond 2^53 stay exact for int64 columns.
      return /^-?\d+$/.test(text) && !Number.isSafeInteger(num) ? BigInt(text) : num;
    }
    if (v.kind === "string") return v.text;
    if (v.kind === "word" && (v.text === "true" || v.text === "false")) return v.text === "true";
    i--;
    return fail("a value");
  };
  const comparison = (): Expr => {
    const tok = peek();
    if (tok?.kind === "word" && tok.text === "not") {
      return deeper(tok, () => {
        i++;
        return { not: comparison() };
      });
    }
    if (tok?.kind === "punct" && tok.text === "(") {
      return deeper(tok, () => {
        i++;
        const e = disjunction();
        if (peek()?.text !== ")") fail('")"');
        i++;
        return e;
      });
    }
    if (tok?.kind !== "ident") return fail("a column name");
    i++;
    const column = tok.text;
    const op = peek();
    if (op?.kind === "op" && op.text !== "-") {
      i++;
      return { column, op: op.text as CompareOp, value: value() };
    }
    if (op?.kind === "word" && op.text === "in") {
      i++;
      if (peek()?.text !== "[" && peek()?.text !== "(") fail('"["');
      const close = peek().text === "[" ? "]" : ")";
      i++;
      const values: Scalar[] = [];
      while (peek() && peek().text !== close) {
        values.push(value());
        // Values are separated by commas: "[1 2 3]" is a typo, not three values.
        if (peek()?.text === ",") i++;
        else if (peek() && peek().text !== close) fail(`"," or "${close}"`);
      }
      if (peek()?.text !== close) fail(`"${close}"`);
      i++;
      return { column, op: "in", value: values };
    }
    if (op?.kind === "word" && op.text === "between") {
      i++;
      const lo = value();
      if (peek()?.text !== "and") fail('"and"');
      i++;
      return { column, op: "between", value: [lo, value()] };
    }
    return fail("an operator (==, !=, <, <=, >, >=, in, between)");
  };
  const conjunction = (): Expr => {
    const parts = [comparison()];
    while (peek()?.kind === "word" && peek().text === "and") {
      i++;
      parts.push(comparison());
    }
    return parts.length === 1 ? parts[0] : { and: parts };
  };
  const disjunction = (): Expr => {
    const parts = [conjunction()];
    while (peek()?.kind === "word" && peek().text === "or") {
      i++;
      parts.push(conjunction());
    }
    return parts.length === 1 ? parts[0] : { or: parts };
  };
  const e = disjunction();
  if (i < t.length) fail("the end of the filter");
  return e;
}
