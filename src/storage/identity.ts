// Identities that tie files to their manifest entries, so a reader notices a file that is not the
// one the manifest names without hashing the file.
//
// - A partition file's content digest is a SHA-256 over each column (name, dtype, shape, string
//   length, and a SHA-256 of the values as the writer received them), stored as the root
//   attribute `astropile_content`. Its identity is a SHA-256 over what the manifest says about it
//   (config, order (when not 4), pixel, `_healpix_29` range as the writer saw it in the rows, rows) and that content
//   digest, stored as the root attribute `astropile_identity` and in its manifest entry
//   (`identity`). A reader recomputes the identity from the manifest entry and the file's content
//   digest (two small attributes, no data read): a file that is not the one the entry names, or
//   an entry whose pixel, key range or rows were changed, gives another identity. Derived from
//   the content, never from a clock or a path: the same rows give the same identity (and bytes),
//   and a file renamed into the layout (the build runner's assembly) keeps it.
// - A sidecar (positions, object_id index) describes rows of the config's files in manifest order,
//   so it carries the identity of that ordered list: a SHA-256 over each file's path, identity,
//   sha256 and row count, in order (root attribute `astropile_file_list`, and `fileList` in its
//   manifest entry). A reordered, replaced, renamed or resized file list gives another list
//   identity, so a cross-match that reads only the sidecar never names a file the rows are not in.
import { createHash, type Hash } from "node:crypto";
import type { ColumnSpec, ColumnValues } from "../core/columns.ts";

/** Root attribute of a partition file holding its identity. */
export const IDENTITY_ATTRIBUTE = "astropile_identity";
/** Root attribute of a partition file holding its content digest (see contentDigest). */
export const CONTENT_ATTRIBUTE = "astropile_content";
/** Root attribute of a sidecar holding the identity of the file list it was built from. */
export const FILE_LIST_ATTRIBUTE = "astropile_file_list";

/** Hex SHA-256: what identities look like. */
export const IDENTITY_RE = /^[0-9a-f]{64}$/;

/**
 * SHA-256 of each column's values as appended, independent of how the rows were batched: numbers
 * as their little-endian bytes (the bytes of the typed array, as the file stores them), strings as
 * `<UTF-16 length>:<text>` one after the other (unambiguous, so no two columns collide).
 */
export class ContentDigest {
  private readonly hashes = new Map<string, Hash>();

  constructor(private readonly specs: readonly ColumnSpec[]) {
    for (const spec of specs) this.hashes.set(spec.name, createHash("sha256"));
  }

  update(name: string, values: ColumnValues): void {
    const hash = this.hashes.get(name);
    if (!hash) return;
    if (Array.isArray(values)) {
      let text = "";
      for (const s of values) {
        text += `${s.length}:${s}`;
        if (text.length > 1 << 20) {
          hash.update(text, "utf8");
          text = "";
        }
      }
      if (text) hash.update(text, "utf8");
    } else {
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }

  /** One line per column: name, dtype, shape, string length and the values' SHA-256. */
  lines(): string[] {
    return this.specs.map((spec) => {
      // A copy: the digest can be taken again after more rows.
      const hex = this.hashes.get(spec.name)!.copy().digest("hex");
      return `column=${spec.name};${spec.dtype};${spec.shape.join("x")};${spec.stringLength ?? ""};${hex}`;
    });
  }
}

/** The content digest of a file from its column lines (ContentDigest.lines()). */
export function contentDigest(columns: readonly string[]): string {
  return createHash("sha256")
    .update(["astropile-file-content/1", ...columns].join("\n"), "utf8")
    .digest("hex");
}

/** What a file's identity commits to: its manifest entry's fields and its content digest. */
export interface IdentityParts {
  config: string;
  /** HEALPix order of `pixel`; absent or 4 (the mmu layout's order) adds nothing to the identity. */
  order?: number;
  pixel: number;
  /** Consecutive pixels the file covers from `pixel`; absent or 1 adds nothing to the identity. */
  pixels?: number;
  keyMin: bigint | string;
  keyMax: bigint | string;
  rows: number;
  /** contentDigest() of the file's columns (or, for a stamped file, its former SHA-256). */
  content: string;
}

/**
 * What to say when a file's identity and content digest do not agree with its manifest entry
 * (the reader's error and verify's problem say the same).
 */
export function identityMismatchText(entry: Omit<IdentityParts, "content">): string {
  const run = entry.pixels !== undefined ? ` and ${entry.pixels - 1} after it` : "";
  const order = entry.order !== undefined ? ` at order ${entry.order}` : "";
  return `the manifest's entry (pixel ${entry.pixel}${run}${order}, _healpix_29 ${entry.keyMin}..${entry.keyMax}, ${entry.rows} rows) is not what the file was written with: its identity and content digest do not agree with the entry`;
}

/** The identity of a partition file with this manifest entry and content. */
export function fileIdentity(parts: IdentityParts): string {
  const text = [
    "astropile-file-identity/1",
    `config=${parts.config}`,
    // Files at order 4 have the identity they had before files had an order.
    ...(parts.order !== undefined && parts.order !== 4 ? [`order=${parts.order}`] : []),
    `pixel=${parts.pixel}`,
    ...(parts.pixels !== undefined && parts.pixels !== 1 ? [`pixels=${parts.pixels}`] : []),
    `keys=${parts.keyMin}..${parts.keyMax}`,
    `rows=${parts.rows}`,
    `content=${parts.content}`,
  ].join("\n");
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** What a file list identity is computed from: each file in manifest order. */
export interface ListedFile {
  /** Path relative to the dataset root, as the manifest lists it. */
  path: string;
  identity?: string;
  sha256: string;
  rows: number;
}

/** The identity of a config's ordered file list (what its sidecars were built from). */
export function fileListIdentity(config: string, files: readonly ListedFile[]): string {
  const hash = createHash("sha256");
  // One update of the whole text (the same digest as a line at a time, without a native call
  // per file: thousands of files are listed in a cross-match's first milliseconds).
  const lines = files.map(
    (f) => `${f.identity ?? "-"} ${f.sha256} ${f.rows} ${JSON.stringify(f.path)}\n`,
  );
  hash.update(
    `astropile-file-list/2\nconfig=${config}\nfiles=${files.length}\n${lines.join("")}`,
    "utf8",
  );
  return hash.digest("hex");
}
