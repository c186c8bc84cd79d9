// Actions of `astropile export` and `astropile sql` (loaded when one runs): parse the options,
// call the library (src/interop), print the result.
import { UsageError } from "../core/errors.ts";
import { formatBytes, parseBytes } from "../core/units.ts";
import type { ExportBox, ExportCone } from "../interop/export.ts";
import { openFor } from "./data-actions.ts";
import { formatCount, formatSeconds, numberOption, out, printJson, table } from "./format.ts";
import { progress } from "./progress.ts";

export interface ExportFlags {
  to?: string;
  out?: string;
  columns?: string;
  filter?: string;
  cone?: string;
  box?: string;
  config?: string;
  flatten?: boolean;
  compression?: string;
  partitionRows?: string;
  fileRows?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface SqlFlags {
  config?: string;
  filter?: string;
  cone?: string;
  box?: string;
  format?: string;
  limit?: string;
  memory?: string;
  quiet?: boolean;
}

function numbers(text: string, option: string, count: number): number[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length !== count)
    throw new UsageError(
      `${option} ${JSON.stringify(text)} needs ${count} comma-separated numbers`,
    );
  return parts.map((p) => numberOption(p, option)!);
}

function parseCone(text: string | undefined): ExportCone | undefined {
  if (text === undefined) return undefined;
  const [ra, dec, radiusArcsec] = numbers(text, "--cone", 3);
  return { ra, dec, radiusArcsec };
}

function parseBox(text: string | undefined): ExportBox | undefined {
  if (text === undefined) return undefined;
  const [raMin, raMax, decMin, decMax] = numbers(text, "--box", 4);
  return { raMin, raMax, decMin, decMax };
}

function columnList(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError("--columns names no column");
  return list;
}

const positiveInteger = { integer: true, above: 0 };

export async function exportCommand(dir: string, flags: ExportFlags): Promise<void> {
  const { exportDataset, exporterFor } = await import("../interop/export.ts");
  if (!flags.to)
    throw new UsageError("export needs --to FORMAT (fits, ecsv, csv, parquet, huggingface, hats)");
  if (!flags.out) throw new UsageError("export needs --out PATH");
  exporterFor(flags.to);
  const options = {
    to: flags.to,
    out: flags.out,
    columns: columnList(flags.columns),
    filter: flags.filter,
    cone: parseCone(flags.cone),
    box: parseBox(flags.box),
    force: flags.force,
    flattenArrays: flags.flatten,
    formatOptions: {
      ...(flags.compression !== undefined && { compression: flags.compression }),
      ...(flags.partitionRows !== undefined && {
        maxRowsPerPartition: numberOption(flags.partitionRows, "--partition-rows", positiveInteger),
      }),
      ...(flags.fileRows !== undefined && {
        maxRowsPerFile: numberOption(flags.fileRows, "--file-rows", positiveInteger),
      }),
    },
  };
  const ds = await openFor(dir, flags.config);
  const display = progress(`export ${flags.to}`, { quiet: flags.quiet });
  try {
    const r = await exportDataset(ds, {
      ...options,
      onProgress: (p) =>
        display.update({ phase: "write rows", done: p.rows, total: p.totalRows, unit: "rows" }),
    });
    display.stop();
    if (flags.json) {
      printJson(r);
      return;
    }
    out(
      `wrote ${formatCount(r.rows)} rows, ${r.columns.length} columns to ${r.path} (${r.format}, ${formatBytes(r.bytes)}) in ${formatSeconds(r.seconds)}`,
    );
    if (r.skipped.length > 0) {
      out(
        `left out ${r.skipped.length} column(s) ${r.format} cannot hold: ${r.skipped.map((s) => s.column).join(", ")}` +
          (r.format === "csv"
            ? " (--flatten writes them as one column per element; or use --to fits / ecsv)"
            : ""),
      );
    }
  } finally {
    display.stop();
    ds.close();
  }
}

/** Text of one SQL value in CSV and tables. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "nan";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    return String(v);
  }
  if (typeof v === "bigint" || typeof v === "boolean" || typeof v === "string") return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * One value as JSON text. A BIGINT is a string of its digits whatever its size, as the data
 * service writes int64 columns: exact for JavaScript readers, and one JSON type per column (not
 * numbers for small values and strings for large ones). NaN and the infinities, which JSON
 * numbers cannot be, are the strings "NaN", "Infinity" and "-Infinity" (what Number() and
 * Python's float() read back), so they stay apart from SQL NULL (null).
 */
function jsonCell(v: unknown): string {
  if (typeof v === "bigint") return JSON.stringify(v.toString());
  if (typeof v === "number" && !Number.isFinite(v)) return JSON.stringify(String(v));
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)) ?? "null";
}

export async function sqlCommand(dir: string, query: string, flags: SqlFlags): Promise<void> {
  const { sqlStream } = await import("../interop/sql.ts");
  const format = flags.format ?? "table";
  if (!["table", "csv", "json"].includes(format))
    throw new UsageError(`--format ${JSON.stringify(format)}: table, csv or json`);
  const limit =
    flags.limit === undefined
      ? format === "table"
        ? 1000
        : Number.POSITIVE_INFINITY
      : numberOption(flags.limit, "--limit", { integer: true, min: 0 })!;
  const memory = parseBytes(flags.memory ?? "512MiB", "--memory");
  const ds = await openFor(dir, flags.config);
  const display = progress("sql", { quiet: flags.quiet });
  const stream = sqlStream(ds, query, {
    filter: flags.filter,
    cone: parseCone(flags.cone),
    box: parseBox(flags.box),
    memoryLimit: `${Math.max(1, Math.floor(memory / 2 ** 20))}MiB`,
    onProgress: (p) =>
      display.update({ phase: "load rows", done: p.rows, total: p.totalRows, unit: "rows" }),
  });
  let shown = 0;
  let more = false;
  const kept: string[][] = [];
  let names: string[] = [];
  try {
    for await (const part of stream) {
      if (shown === 0 && names.length === 0) {
        display.stop();
        names = part.columns.map((c) => c.name);
        if (format === "csv") out(names.map(csvField).join(","));
        if (format === "json")
          process.stdout.write(`{\n  "columns": ${JSON.stringify(part.columns)},\n  "rows": [`);
      }
      const lines: string[] = [];
      for (const row of part.rows) {
        if (shown >= limit) {
          more = true;
          break;
        }
        if (format === "table") kept.push(row.map(cell));
        else if (format === "csv") lines.push(row.map((v) => csvField(cell(v))).join(","));
        else {
          const obj = names.map((n, i) => `${JSON.stringify(n)}:${jsonCell(row[i])}`).join(",");
          lines.push(`${shown === 0 ? "" : ","}\n    {${obj}}`);
        }
        shown++;
      }
      if (lines.length > 0)
        process.stdout.write(format === "csv" ? `${lines.join("\n")}\n` : lines.join(""));
      if (more) break;
    }
  } finally {
    display.stop();
    // Ends the generator: DuckDB closes and its temporary database is deleted.
    await stream.return(undefined);
    ds.close();
  }
  if (format === "json") out(`${shown > 0 ? "\n  " : ""}],\n  "truncated": ${more}\n}`);
  if (format === "table") {
    out(table(names, kept));
    out(
      more
        ? `(first ${formatCount(shown)} rows; --limit N shows more)`
        : `(${formatCount(shown)} row${shown === 1 ? "" : "s"})`,
    );
  }
}
