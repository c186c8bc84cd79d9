// The part of YAML that astropy (PyYAML) writes in ECSV headers, and nothing more: block
// mappings and sequences, flow mappings and sequences (spanning lines), plain / single- /
// double-quoted scalars with line folding, comments, and the !!omap, !!str, !!map, !!seq tags.
// Plain scalars resolve as PyYAML's YAML 1.1 resolver does (yes/no are booleans, a float needs
// a '.'). Anchors, aliases, block scalars (| >), other tags (e.g. astropy mixin columns) and
// anything else is refused with an error naming the line: nothing in a data file is executed.

export type YamlValue =
  | null
  | boolean
  | number
  | string
  | YamlValue[]
  | { [key: string]: YamlValue };

export class YamlError extends Error {
  readonly line: number;
  constructor(message: string, line: number) {
    super(`${message} (YAML line ${line})`);
    this.line = line;
  }
}

const BOOL: Record<string, boolean> = {
  yes: true,
  Yes: true,
  YES: true,
  true: true,
  True: true,
  TRUE: true,
  on: true,
  On: true,
  ON: true,
  no: false,
  No: false,
  NO: false,
  false: false,
  False: false,
  FALSE: false,
  off: false,
  Off: false,
  OFF: false,
};
const INT_RE = /^[-+]?(0|[1-9][0-9_]*)$/;
const FLOAT_RE = /^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$/;

/** PyYAML's resolution of a plain scalar (integers become JS numbers: exact up to 2^53). */
function resolvePlain(text: string): YamlValue {
  if (text === "" || text === "~" || text === "null" || text === "Null" || text === "NULL")
    return null;
  if (text in BOOL) return BOOL[text];
  if (INT_RE.test(text)) return Number(text.replace(/_/g, ""));
  if (FLOAT_RE.test(text) && /[0-9]/.test(text)) return Number(text.replace(/_/g, ""));
  const special = /^([-+]?)\.(inf|Inf|INF)$/.exec(text);
  if (special) return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/^\.(nan|NaN|NAN)$/.test(text)) return Number.NaN;
  return text;
}

const ALLOWED_TAGS = new Set(["!!omap", "!!str", "!!map", "!!seq"]);

class Parser {
  private readonly s: string;
  private i = 0;

  constructor(text: string) {
    this.s = text.replace(/\r\n?/g, "\n");
  }

  private lineNumber(at = this.i): number {
    let n = 1;
    for (let k = 0; k < at && k < this.s.length; k++) if (this.s[k] === "\n") n++;
    return n;
  }

  private fail(message: string): never {
    throw new YamlError(message, this.lineNumber());
  }

  private get eof(): boolean {
    return this.i >= this.s.length;
  }

  private column(at = this.i): number {
    return at - (this.s.lastIndexOf("\n", at - 1) + 1);
  }

  /** Skips spaces, comments and line breaks; stops at the next content character. */
  private skipToContent(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === " " || c === "\n") this.i++;
      else if (c === "\t" && this.column() > 0) this.i++;
      else if (c === "#") {
        const eol = s.indexOf("\n", this.i);
        this.i = eol < 0 ? s.length : eol;
      } else break;
    }
  }

  /** Skips spaces on the current line; true if the line ends here (or a comment starts). */
  private restOfLineEmpty(): boolean {
    const s = this.s;
    while (this.i < s.length && (s[this.i] === " " || s[this.i] === "\t")) this.i++;
    if (this.i >= s.length || s[this.i] === "\n") return true;
    if (s[this.i] === "#") {
      const eol = s.indexOf("\n", this.i);
      this.i = eol < 0 ? s.length : eol;
      return true;
    }
    return false;
  }

  parseDocument(): YamlValue {
    this.skipToContent();
    if (this.eof) return null;
    if (this.s.startsWith("---", this.i)) {
      this.i += 3;
      this.skipToContent();
    }
    const value = this.parseBlockNode(this.column(), -1);
    this.skipToContent();
    if (!this.eof) this.fail(`unexpected content "${this.s.slice(this.i, this.i + 20)}"`);
    return value;
  }

  private checkUnsupported(): void {
    const c = this.s[this.i];
    if (c === "&" || c === "*") this.fail("YAML anchors and aliases are not supported");
    if (c === "|" || c === ">") this.fail("YAML block scalars (| and >) are not supported");
    if (c === "%" || c === "@" || c === "`") this.fail(`unexpected character '${c}'`);
  }

  private parseTag(): string | undefined {
    if (this.s[this.i] !== "!") return undefined;
    let k = this.i;
    while (k < this.s.length && !/[\s,\]}]/.test(this.s[k])) k++;
    const tag = this.s.slice(this.i, k);
    if (!ALLOWED_TAGS.has(tag)) {
      this.fail(
        `YAML tag ${tag} is not supported (objects such as astropy mixin columns are refused)`,
      );
    }
    this.i = k;
    return tag;
  }

  private applyTag(tag: string | undefined, value: YamlValue): YamlValue {
    if (tag === "!!omap") {
      if (!Array.isArray(value)) this.fail("!!omap must be a sequence");
      const out: { [k: string]: YamlValue } = {};
      for (const item of value) {
        if (
          item === null ||
          typeof item !== "object" ||
          Array.isArray(item) ||
          Object.keys(item).length !== 1
        ) {
          this.fail("!!omap entries must be single-key mappings");
        }
        Object.assign(out, item);
      }
      return out;
    }
    if (tag === "!!map" && (value === null || typeof value !== "object" || Array.isArray(value)))
      this.fail("!!map on a non-mapping");
    if (tag === "!!seq" && !Array.isArray(value)) this.fail("!!seq on a non-sequence");
    return value;
  }

  /** A node starting at the current position, whose first line has column `indent`. */
  private parseBlockNode(indent: number, parentIndent: number): YamlValue {
    this.checkUnsupported();
    const tag = this.parseTag();
    if (tag !== undefined) {
      if (this.restOfLineEmpty()) {
        this.skipToContent();
        if (this.eof || this.column() <= parentIndent) return this.applyTag(tag, null);
        return this.applyTag(tag, this.parseBlockNode(this.column(), parentIndent));
      }
      return this.applyTag(tag, this.parseInline(parentIndent, tag));
    }
    if (this.isSequenceEntry()) return this.parseBlockSequence(indent);
    if (this.isMappingKey()) return this.parseBlockMapping(indent);
    return this.parseInline(parentIndent, undefined);
  }

  private isSequenceEntry(): boolean {
    const next = this.s[this.i + 1];
    return this.s[this.i] === "-" && (next === undefined || next === " " || next === "\n");
  }

  /** Does a `key:` (followed by space or end of line) start here on this line? */
  private isMappingKey(): boolean {
    const s = this.s;
    const eol = s.indexOf("\n", this.i) < 0 ? s.length : s.indexOf("\n", this.i);
    let k = this.i;
    const c = s[k];
    if (c === "{" || c === "[") return false;
    if (c === "'" || c === '"') {
      // Skip a quoted key on this line.
      k++;
      while (k < eol) {
        if (s[k] === c) {
          if (c === "'" && s[k + 1] === "'") k += 2;
          else break;
        } else if (c === '"' && s[k] === "\\") k += 2;
        else k++;
      }
      k++;
      while (k < eol && s[k] === " ") k++;
      return s[k] === ":" && (k + 1 >= eol || s[k + 1] === " ");
    }
    for (; k < eol; k++) {
      if (s[k] === "#" && s[k - 1] === " ") return false;
      if (s[k] === ":" && (k + 1 >= eol || s[k + 1] === " ")) return true;
    }
    return false;
  }

  private parseBlockSequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (;;) {
      this.i++; // '-'
      if (this.restOfLineEmpty()) {
        this.skipToContent();
        if (this.eof || this.column() <= indent) out.push(null);
        else out.push(this.parseBlockNode(this.column(), indent));
      } else {
        out.push(this.parseBlockNode(this.column(), indent));
      }
      this.skipToContent();
      if (this.eof || this.column() < indent) break;
      if (this.column() > indent) this.fail("bad indentation in a sequence");
      if (!this.isSequenceEntry()) break;
    }
    return out;
  }

  private parseKey(): string {
    const c = this.s[this.i];
    if (c === "'" || c === '"') return c === "'" ? this.singleQuoted() : this.doubleQuoted();
    const s = this.s;
    let k = this.i;
    while (
      k < s.length &&
      !(s[k] === ":" && (s[k + 1] === " " || s[k + 1] === "\n" || k + 1 >= s.length))
    )
      k++;
    const key = s.slice(this.i, k).trim();
    this.i = k;
    const v = resolvePlain(key);
    return v === null ? "null" : String(v);
  }

  private parseBlockMapping(indent: number): { [k: string]: YamlValue } {
    const out: { [k: string]: YamlValue } = {};
    for (;;) {
      this.checkUnsupported();
      if (!this.isMappingKey()) this.fail("expected a mapping key");
      const key = this.parseKey();
      while (this.s[this.i] === " ") this.i++;
      if (this.s[this.i] !== ":") this.fail(`expected ':' after key "${key}"`);
      this.i++;
      let value: YamlValue;
      const tag = this.restOfLineEmpty() ? undefined : this.parseTag();
      if (this.restOfLineEmpty()) {
        this.skipToContent();
        const col = this.column();
        if (!this.eof && (col > indent || (col === indent && this.isSequenceEntry()))) {
          value = this.parseBlockNode(col, indent);
        } else value = null;
      } else {
        this.checkUnsupported();
        value = this.parseInline(indent, tag);
      }
      if (Object.hasOwn(out, key)) this.fail(`duplicate key "${key}"`);
      out[key] = this.applyTag(tag, value);
      this.skipToContent();
      if (this.eof || this.column() < indent) break;
      if (this.column() > indent) this.fail("bad indentation in a mapping");
      if (this.isSequenceEntry()) break;
    }
    return out;
  }

  /** A flow collection or a scalar; plain scalars continue on lines indented past parentIndent. */
  private parseInline(parentIndent: number, tag: string | undefined): YamlValue {
    const c = this.s[this.i];
    if (c === "{") return this.flowMapping();
    if (c === "[") return this.flowSequence();
    if (c === "'") return this.singleQuoted();
    if (c === '"') return this.doubleQuoted();
    this.checkUnsupported();
    const s = this.s;
    let text = this.plainLine();
    // Continuation lines of a multi-line plain scalar.
    for (;;) {
      let k = this.i;
      let breaks = 0;
      while (k < s.length && (s[k] === "\n" || s[k] === " ")) {
        if (s[k] === "\n") breaks++;
        k++;
      }
      if (breaks === 0 || k >= s.length || this.column(k) <= parentIndent || s[k] === "#") break;
      if (s[k] === "-" && (s[k + 1] === " " || s[k + 1] === "\n")) break;
      this.i = k;
      if (this.isMappingKey()) {
        this.i = k;
        break;
      }
      text += breaks > 1 ? "\n".repeat(breaks - 1) : " ";
      text += this.plainLine();
    }
    return tag === "!!str" ? text : resolvePlain(text);
  }

  /** Plain text to the end of the line or a comment; leaves i at the line end. */
  private plainLine(): string {
    const s = this.s;
    let k = this.i;
    while (k < s.length && s[k] !== "\n" && !(s[k] === "#" && s[k - 1] === " ")) k++;
    const text = s.slice(this.i, k).trim();
    this.i = k;
    if (s[k] === "#") {
      const eol = s.indexOf("\n", k);
      this.i = eol < 0 ? s.length : eol;
    }
    return text;
  }

  /** Folds a line break inside a quoted scalar: one break → space, n breaks → n−1 newlines. */
  private fold(out: string): string {
    const s = this.s;
    let breaks = 0;
    while (this.i < s.length && (s[this.i] === "\n" || s[this.i] === " " || s[this.i] === "\t")) {
      if (s[this.i] === "\n") breaks++;
      this.i++;
    }
    return out.replace(/[ \t]+$/, "") + (breaks > 1 ? "\n".repeat(breaks - 1) : " ");
  }

  private singleQuoted(): string {
    const s = this.s;
    this.i++;
    let out = "";
    for (;;) {
      if (this.i >= s.length) this.fail("unterminated single-quoted string");
      const c = s[this.i];
      if (c === "'") {
        if (s[this.i + 1] === "'") {
          out += "'";
          this.i += 2;
          continue;
        }
        this.i++;
        return out;
      }
      if (c === "\n") {
        out = this.fold(out);
        continue;
      }
      out += c;
      this.i++;
    }
  }

  private doubleQuoted(): string {
    const s = this.s;
    this.i++;
    let out = "";
    const simple: Record<string, string> = {
      "0": "\0",
      a: "\x07",
      b: "\b",
      t: "\t",
      "\t": "\t",
      n: "\n",
      v: "\v",
      f: "\f",
      r: "\r",
      e: "\x1b",
      " ": " ",
      '"': '"',
      "/": "/",
      "\\": "\\",
      N: "\u0085",
      _: "\u00a0",
      L: "\u2028",
      P: "\u2029",
    };
    for (;;) {
      if (this.i >= s.length) this.fail("unterminated double-quoted string");
      const c = s[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === "\\") {
        const e = s[this.i + 1];
        if (e === "\n") {
          // Escaped line break: joins the lines without a space.
          this.i += 2;
          while (s[this.i] === " " || s[this.i] === "\t") this.i++;
          continue;
        }
        if (e in simple) {
          out += simple[e];
          this.i += 2;
          continue;
        }
        const len = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
        const hex = s.slice(this.i + 2, this.i + 2 + len);
        if (!len || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len)
          this.fail(`bad escape \\${e}`);
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        this.i += 2 + len;
        continue;
      }
      if (c === "\n") {
        out = this.fold(out);
        continue;
      }
      out += c;
      this.i++;
    }
  }

  private skipFlowSpace(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === " " || c === "\n" || c === "\t") this.i++;
      else if (c === "#" && (this.i === 0 || /\s/.test(s[this.i - 1]))) {
        const eol = s.indexOf("\n", this.i);
        this.i = eol < 0 ? s.length : eol;
      } else break;
    }
  }

  private flowNode(): YamlValue {
    this.skipFlowSpace();
    this.checkUnsupported();
    const tag = this.parseTag();
    if (tag !== undefined) this.skipFlowSpace();
    const c = this.s[this.i];
    let value: YamlValue;
    if (c === "{") value = this.flowMapping();
    else if (c === "[") value = this.flowSequence();
    else if (c === "'") value = this.singleQuoted();
    else if (c === '"') value = this.doubleQuoted();
    else {
      const text = this.flowPlain();
      value = tag === "!!str" ? text : resolvePlain(text);
    }
    return this.applyTag(tag, value);
  }

  /** Plain scalar in a flow collection: ends at , ] } or ': '; line breaks fold to spaces. */
  private flowPlain(): string {
    const s = this.s;
    let k = this.i;
    while (k < s.length) {
      const c = s[k];
      if (c === "," || c === "]" || c === "}") break;
      if (c === ":" && (k + 1 >= s.length || /[\s,\]}]/.test(s[k + 1]))) break;
      if (c === "#" && /\s/.test(s[k - 1])) break;
      k++;
    }
    const text = s
      .slice(this.i, k)
      .split("\n")
      .map((p) => p.trim())
      .filter((p) => p !== "")
      .join(" ");
    this.i = k;
    return text;
  }

  private flowMapping(): { [k: string]: YamlValue } {
    this.i++;
    const out: { [k: string]: YamlValue } = {};
    for (;;) {
      this.skipFlowSpace();
      if (this.eof) this.fail("unterminated flow mapping");
      if (this.s[this.i] === "}") {
        this.i++;
        return out;
      }
      const keyValue = this.flowNode();
      if (keyValue !== null && typeof keyValue === "object")
        this.fail("only scalar mapping keys are supported");
      const key = keyValue === null ? "null" : String(keyValue);
      this.skipFlowSpace();
      let value: YamlValue = null;
      if (this.s[this.i] === ":") {
        this.i++;
        value = this.flowNode();
        this.skipFlowSpace();
      }
      if (Object.hasOwn(out, key)) this.fail(`duplicate key "${key}"`);
      out[key] = value;
      if (this.eof) this.fail("unterminated flow mapping");
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "}") this.fail("expected ',' or '}' in a flow mapping");
    }
  }

  private flowSequence(): YamlValue[] {
    this.i++;
    const out: YamlValue[] = [];
    for (;;) {
      this.skipFlowSpace();
      if (this.eof) this.fail("unterminated flow sequence");
      if (this.s[this.i] === "]") {
        this.i++;
        return out;
      }
      out.push(this.flowNode());
      this.skipFlowSpace();
      if (this.eof) this.fail("unterminated flow sequence");
      if (this.s[this.i] === ":") this.fail("mappings inside flow sequences are not supported");
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "]") this.fail("expected ',' or ']' in a flow sequence");
    }
  }
}

/** Parses the YAML subset described above; throws YamlError on anything else. */
export function parseYaml(text: string): YamlValue {
  return new Parser(text).parseDocument();
}

// ---------------------------------------------------------------------------------------------
// Emitting (flow style, one line per value; what PyYAML's safe loader reads back)

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127) return true;
  }
  return false;
}

const PLAIN_SAFE = /^[A-Za-z_][A-Za-z0-9_ ./()*+-]*$/;

/** A YAML scalar or flow collection for `value`; strings are quoted unless plainly safe. */
export function yamlFlow(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return ".nan";
    if (!Number.isFinite(value)) return value > 0 ? ".inf" : "-.inf";
    if (Number.isInteger(value)) return String(value);
    const s = String(value);
    // PyYAML needs a '.' and a signed exponent to read a float.
    return s.includes(".")
      ? s.replace(/e(\d)/, "e+$1")
      : s.replace("e", ".0e").replace(/e(\d)/, "e+$1");
  }
  if (typeof value === "string") {
    const resolvesToString = typeof resolvePlain(value) === "string";
    if (PLAIN_SAFE.test(value) && resolvesToString && value.trim() === value) return value;
    // Control characters need the escapes of a double-quoted scalar (JSON's are valid YAML).
    if (hasControl(value)) return JSON.stringify(value);
    return `'${value.replace(/'/g, "''")}'`;
  }
  if (Array.isArray(value)) return `[${value.map(yamlFlow).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${yamlFlow(k)}: ${yamlFlow(v)}`)
      .join(", ")}}`;
  }
  throw new Error(`cannot write ${typeof value} as YAML`);
}
