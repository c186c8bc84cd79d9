// The YAML of ECSV headers, read and written with the `yaml` package set up to resolve plain
// scalars as PyYAML (astropy's YAML library) does: YAML 1.1 booleans (yes/no/on/off, not y/n),
// a float needs a '.' (1e5 is a string), dates stay strings. Headers are untrusted: anchors,
// aliases, directives, collection keys and tags other than !!omap !!str !!map !!seq are refused,
// and the nesting depth is checked while the parser (which does not recurse) reads the text,
// before any node is composed: a deeply nested header is a FormatError, not a stack overflow.
import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import type {
  CollectionTag,
  CST,
  DocumentOptions,
  ParseOptions,
  ScalarTag,
  SchemaOptions,
  Tags,
  YAMLSeq,
} from "yaml";
import { FormatError } from "../core/errors.ts";

/** A value of an ECSV header (table or column meta): what JSON holds. */
export type EcsvMetaValue =
  | null
  | boolean
  | number
  | string
  | EcsvMetaValue[]
  | { [key: string]: EcsvMetaValue };

/** Nesting deeper than this is refused (astropy's own headers use 3 or 4 levels). */
const require = createRequire(import.meta.url);
let yamlModule: typeof Yaml | undefined;

/** The yaml package, loaded on first use: ~40 ms of every command and script otherwise. */
export function yamlLib(): typeof Yaml {
  yamlModule ??= require("yaml") as typeof Yaml;
  return yamlModule;
}

/** `yaml.X` reads X from the package loaded on first use (see yamlLib). */
const yaml = new Proxy({} as typeof Yaml, {
  get: (_, name) => yamlLib()[name as keyof typeof Yaml],
});

const MAX_DEPTH = 100;
const ALLOWED_TAGS = new Set(["!!omap", "!!str", "!!map", "!!seq"]);

/** PyYAML's float: written with a '.' and a signed exponent, so PyYAML reads it back as one. */
function pyNumber(x: number): string {
  if (Number.isNaN(x)) return ".nan";
  if (!Number.isFinite(x)) return x > 0 ? ".inf" : "-.inf";
  if (Object.is(x, -0)) return "-0.0";
  const s = String(x);
  if (Number.isInteger(x) && !s.includes("e")) return s;
  return (s.includes(".") ? s : s.replace("e", ".0e")).replace(/e(\d)/, "e+$1");
}

const NUMBER: ScalarTag = {
  tag: "tag:yaml.org,2002:float",
  default: true,
  identify: (v) => typeof v === "number",
  test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+][0-9]+)?$/,
  resolve: (s) => Number(s.replace(/_/g, "")),
  stringify: ({ value }) => pyNumber(value as number),
};

/** The yaml package's YAML 1.1 tags, changed where PyYAML's resolver differs. */
function pyyamlTags(tags: Tags): Tags {
  const out: Tags = [NUMBER];
  for (const t of tags) {
    if (typeof t === "string") continue;
    const id = t.tag.slice("tag:yaml.org,2002:".length);
    if (id === "bool" && t.test) {
      const yes = t.test.test("true");
      out.push({
        ...t,
        test: yes
          ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/
          : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/,
      });
    } else if (id === "timestamp") {
      // Still recognised, so the writer quotes date-like strings; read back as the string.
      out.push({ ...t, resolve: (s: string) => s } as ScalarTag);
    } else if (id === "float" && t.format !== "TIME" && !t.test?.test(".nan")) {
      // Replaced by NUMBER (PyYAML needs the '.').
    } else if (id === "merge") {
      // Merge keys are read as PyYAML reads them; the string "<<" is written quoted.
      out.push({ ...t, identify: () => false } as ScalarTag);
    } else if (id === "omap") out.push(OMAP);
    else if (!["binary", "pairs", "set"].includes(id)) out.push(t);
  }
  return out;
}

/**
 * !!omap (astropy writes table meta so): a sequence of one-pair mappings, read as a mapping.
 * Replaces the yaml package's, which checks keys in quadratic time and gives a JS Map.
 */
const OMAP: CollectionTag = {
  tag: "tag:yaml.org,2002:omap",
  collection: "seq",
  default: false,
  resolve(seq, onError) {
    const map = new yaml.YAMLMap();
    for (const item of (seq as YAMLSeq).items) {
      if (yaml.isMap(item) && item.items.length === 1) map.items.push(item.items[0]);
      else onError("!!omap entries must be single-key mappings");
    }
    return map;
  },
};

// Duplicate keys are checked after composing, in linear time (the yaml package's `uniqueKeys`
// compares every key of a mapping with every other).
const OPTIONS: DocumentOptions & ParseOptions & SchemaOptions = {
  version: "1.1",
  customTags: pyyamlTags,
  uniqueKeys: false,
};

/**
 * Parses the YAML of an ECSV header (the lines after '# %ECSV', without their '# '). Errors are
 * FormatErrors naming `file` and the line of the file (`firstLine` is the line of YAML line 1).
 */
export function parseHeaderYaml(text: string, file: string, firstLine: number): EcsvMetaValue {
  const lines = new yaml.LineCounter();
  lines.addNewLine(0);
  const fail = (message: string, offset: number): never => {
    const line = lines.linePos(offset).line + firstLine - 1;
    throw new FormatError(`ECSV header: ${message}`, { file, detail: `line ${line}` });
  };
  // The parser's stack is the nesting at the current token: checked as it grows, so a deeply
  // nested header stops early, in bounded memory.
  const parser = new yaml.Parser(lines.addNewLine);
  const tokens: CST.Token[] = [];
  for (const lexeme of new yaml.Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) tokens.push(token);
    if (parser.stack.length > MAX_DEPTH + 1)
      fail(`YAML nested deeper than ${MAX_DEPTH} levels`, parser.offset);
  }
  for (const token of parser.end()) tokens.push(token);
  checkTokens(tokens, fail);
  const docs = [...new yaml.Composer(OPTIONS).compose(tokens)];
  if (docs.length === 0) return null;
  if (docs.length > 1) fail("more than one YAML document", docs[1].range[0]);
  const problem = docs[0].errors[0] ?? docs[0].warnings[0];
  if (problem) fail(`${problem.message} (YAML ${problem.code})`, problem.pos[0]);
  // Keys as the JS object will hold them (1 and '1' are one key there).
  yaml.visit(docs[0], {
    Map(_, map) {
      const seen = new Set<string>();
      for (const { key } of map.items) {
        const name = String(yaml.isScalar(key) ? key.value : key);
        if (seen.has(name))
          fail(`duplicate key "${name}"`, (yaml.isScalar(key) ? key : map).range?.[0] ?? 0);
        seen.add(name);
      }
    },
  });
  return docs[0].toJS({ maxAliasCount: 0 }) as EcsvMetaValue;
}

/** Anchors, aliases, tags, directives and keys, checked on the token tree (without recursion). */
function checkTokens(tokens: CST.Token[], fail: (message: string, offset: number) => never): void {
  const props = (list: CST.Token[] | undefined) => {
    for (const t of list ?? []) {
      if (t.type === "anchor") fail("YAML anchors and aliases are not supported", t.offset);
      if (t.type === "tag" && !ALLOWED_TAGS.has(t.source)) {
        fail(
          `YAML tag ${t.source} is not supported (objects such as astropy mixin columns are refused)`,
          t.offset,
        );
      }
    }
  };
  const stack = [...tokens];
  for (let token = stack.pop(); token; token = stack.pop()) {
    if (token.type === "directive") fail("YAML directives are not supported", token.offset);
    else if (token.type === "alias")
      fail("YAML anchors and aliases are not supported", token.offset);
    else if (token.type === "document") {
      props(token.start);
      if (token.value) stack.push(token.value);
    } else if (token.type === "block-scalar") props(token.props);
    else if (yaml.CST.isCollection(token)) {
      for (const item of token.items) {
        props(item.start);
        props(item.sep);
        if (item.key) {
          if (yaml.CST.isCollection(item.key))
            fail("only scalar mapping keys are supported", item.key.offset);
          stack.push(item.key);
        }
        if (item.value) stack.push(item.value);
      }
    }
  }
}

/**
 * The YAML text of an ECSV header: block style at the top, each `flowKeys` value (and each item
 * of a `flowItems` sequence) in flow style on one line, as astropy writes its headers.
 */
export function stringifyHeaderYaml(
  header: Record<string, unknown>,
  flowItems: string[],
  flowKeys: string[],
): string {
  const doc = new yaml.Document(header, { ...OPTIONS, aliasDuplicateObjects: false });
  for (const key of flowItems) {
    const seq = doc.get(key);
    if (yaml.isCollection(seq))
      for (const item of seq.items) if (yaml.isCollection(item)) item.flow = true;
  }
  for (const key of flowKeys) {
    const node = doc.get(key);
    if (yaml.isCollection(node)) node.flow = true;
  }
  // Tabs and line breaks in double quotes, escaped: PyYAML refuses tabs in plain scalars and
  // folds multi-line plain scalars in flow collections differently; one line per entry.
  yaml.visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === "string" && /[\t\n\r]/.test(node.value)) node.type = "QUOTE_DOUBLE";
    },
  });
  return doc.toString({ lineWidth: 0, indentSeq: false, flowCollectionPadding: false }).trimEnd();
}
