// The dataset card: README.md at the dataset root, YAML front matter in the HuggingFace
// convention (configs, data files, features) and a readable schema table. Generated from the
// manifest, and rewritten whenever the manifest is, so the two never disagree.

import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import {
  type ColumnEntry,
  fileOrder,
  filePixels,
  type Manifest,
  manifestLayout,
  partitionKey,
} from "./manifest.ts";

export const CARD_NAME = "README.md";

/** YAML scalar, quoted when it could be misread. */
function yamlScalar(v: string | number): string {
  if (typeof v === "number") return String(v);
  return /^[A-Za-z_][A-Za-z0-9_.\-/*= ]*$/.test(v) && !/^(true|false|null|yes|no|on|off)$/i.test(v)
    ? v
    : JSON.stringify(v);
}

function cell(s: string | undefined): string {
  return (s ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function featureYaml(c: ColumnEntry): string[] {
  const lines = [`  - name: ${yamlScalar(c.name)}`, `    dtype: ${c.dtype}`];
  if (c.shape.length > 0) lines.push(`    shape: [${c.shape.join(", ")}]`);
  if (c.unit) lines.push(`    unit: ${yamlScalar(c.unit)}`);
  return lines;
}

export function renderCard(manifest: Manifest): string {
  const configs = Object.entries(manifest.configs);
  const y: string[] = [
    "---",
    `pretty_name: ${yamlScalar(manifest.name)}`,
    "tags:",
    "- astronomy",
    "- astropile",
    "configs:",
  ];
  for (const [name] of configs) {
    y.push(
      `- config_name: ${yamlScalar(name)}`,
      "  data_files:",
      "  - split: train",
      `    path: ${yamlScalar(manifestLayout(manifest) === "mmu" ? `${name}/healpix=*/*.hdf5` : `${name}/order=*/healpix=*/*.hdf5`)}`,
    );
  }
  y.push("dataset_info:");
  for (const [name, cfg] of configs) {
    const files = manifest.files.filter((f) => f.config === name);
    const bytes = files.reduce((s, f) => s + f.bytes, 0);
    y.push(`- config_name: ${yamlScalar(name)}`, "  features:");
    for (const c of cfg.columns) y.push(...featureYaml(c).map((l) => `  ${l}`));
    y.push(
      "  splits:",
      "  - name: train",
      `    num_examples: ${cfg.rows}`,
      `    num_bytes: ${bytes}`,
      `  dataset_size: ${bytes}`,
    );
  }
  y.push("---", "");
  const p = manifest.provenance;
  const layout =
    manifestLayout(manifest) === "mmu"
      ? "Layout **mmu** (Multimodal Universe v1, read by its loaders): HDF5 files partitioned by HEALPix pixel " +
        "(NESTED, order 4 / nside 16), `<config>/healpix=<N>/<k>-of-<n>.hdf5`"
      : "Layout **adaptive**: HDF5 files partitioned by HEALPix pixels sized by the data (NESTED; coarse pixels " +
        "where the sky is sparse, finer ones where it is dense), `<config>/order=<K>/healpix=<N>/<k>-of-<n>.hdf5` " +
        "(N a pixel at order K), or `healpix=<N>-<M>` where sparse neighbouring pixels N to M share files " +
        "(each file's order and pixels are in the manifest). Not the fixed order-4 layout " +
        "Multimodal Universe's loaders expect";
  const body: string[] = [
    `# ${manifest.name}`,
    "",
    `Survey **${p.survey}**${p.release ? `, release ${p.release}` : ""}${p.project ? ` (${p.project})` : ""}. ` +
      `An AstroPile parent dataset. ${layout}; the files of a pixel hold disjoint \`_healpix_29\` ranges, ` +
      "rows sorted by `_healpix_29` within each file. `astropile.json` is the manifest; this card is generated from it.",
    "",
  ];
  for (const [name, cfg] of configs) {
    const files = manifest.files.filter((f) => f.config === name);
    // Each pixel once, a run of pixels sharing files counted pixel by pixel.
    const runs = new Map(files.map((f) => [partitionKey(f), filePixels(f)]));
    const pixels = [...runs.values()].reduce((a, b) => a + b, 0);
    const orders = [...new Set(files.map(fileOrder))].sort((a, b) => a - b);
    body.push(
      `## Config \`${name}\``,
      "",
      `${cfg.rows} rows in ${files.length} files over ${pixels} HEALPix pixels (order ${orders.join(", ") || "-"}), compression ${cfg.compression ?? "unknown"}.`,
      "",
      "| column | dtype | shape per row | unit | standard name | description |",
      "|---|---|---|---|---|---|",
    );
    for (const c of cfg.columns) {
      body.push(
        `| \`${cell(c.name)}\` | ${c.dtype}${c.stringLength ? ` (${c.stringLength} bytes)` : ""} | ${c.shape.length ? c.shape.join(" × ") : "scalar"} | ${cell(c.unit)} | ${cell(c.standardName)} | ${cell(c.description)} |`,
      );
    }
    body.push("");
  }
  return `${y.join("\n")}${body.join("\n")}`;
}

/** Writes README.md atomically beside the manifest. */
export async function writeCard(root: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(join(root, CARD_NAME), renderCard(manifest));
}
