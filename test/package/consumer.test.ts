// The npm package as a user gets it: `npm pack` (which builds dist/ through `prepare`), then the
// tarball's contents, publint and are-the-types-wrong on it, and the tarball installed into
// (a) a plain-Node ESM project (imports, the `astropile` command, worker threads from dist/) and
// (b) a strict TypeScript project type-checked against the shipped declarations.
//
// The package is packed from a copy of the working tree (with node_modules linked), so the
// build never replaces this checkout's dist/ under other test files that import it. The tarball
// (with @types/node) is installed once, into the plain project; the TypeScript project links
// that node_modules (an npm install of the package's dependency tree costs ~12 s of CPU).
//
// After the pack, the tests run at once, each waiting only for what it uses: publint, attw and
// the install of the plain project together; then the installed command (its demo datasets)
// beside the TypeScript project's type-check, whose compiled consumer runs on those datasets.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, type TestContext, test } from "node:test";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "node_modules", ".bin");
const tmp = tempDir("astropile-package-");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// npm passes its own settings to scripts in npm_* variables; the nested npm commands must
// work out their project from their cwd, as a user's would.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !/^npm_(lifecycle_|package_|command$|config_(prefix|local_prefix|global_prefix|call)$)/.test(
        k,
      ) && k !== "INIT_CWD",
  ),
);

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tail = (s: string, n = 4000) => (s.length > n ? `...${s.slice(-n)}` : s);

/** Runs a step, logging it; fails with the command's output when it exits non-zero. */
async function step(
  t: TestContext,
  what: string,
  cmd: string,
  args: string[],
  cwd: string,
): Promise<Run> {
  t.diagnostic(`${what}: ${cmd} ${args.join(" ")}  (in ${cwd})`);
  const r = await run(cmd, args, cwd);
  if (r.code !== 0) {
    assert.fail(
      `${what} failed (exit ${r.code}): ${cmd} ${args.join(" ")} in ${cwd}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`,
    );
  }
  return r;
}

/**
 * A step one test does and others wait for: the test that does it settles it (failing it when
 * the test fails first, so no dependant waits forever), the others await `done`.
 */
function milestone(what: string) {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const done = new Promise<void>((a, b) => {
    resolve = a;
    reject = b;
  });
  done.catch(() => undefined); // a dependant may not be waiting yet
  return {
    done,
    reached: () => resolve(),
    failed: (err: unknown) => reject(new Error(`${what} failed: ${(err as Error)?.message}`)),
  };
}

/** Runs `body`, failing `m` if it throws (after `m` was reached, failing it changes nothing). */
async function settling(m: ReturnType<typeof milestone>, body: () => Promise<void>) {
  try {
    await body();
  } catch (err) {
    m.failed(err);
    throw err;
  }
}

interface PackedFile {
  path: string;
  mode: number;
}

let tarball = "";
let files: PackedFile[] = [];
let pkg: { exports: Record<string, unknown>; bin: Record<string, string> };
const source = join(tmp, "source");

before(async () => {
  // The working tree as a developer has it (tracked and untracked, not ignored files), so a
  // stray file that `files` lets through shows up here.
  const listed = await run("git", ["ls-files", "-co", "--exclude-standard", "-z"], ROOT);
  assert.equal(listed.code, 0, `git ls-files failed: ${listed.stderr}`);
  for (const f of listed.stdout.split("\0").filter(Boolean)) {
    mkdirSync(dirname(join(source, f)), { recursive: true });
    try {
      cpSync(join(ROOT, f), join(source, f));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // deleted, not committed
    }
  }
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"), "dir");
  const packDir = join(tmp, "pack");
  mkdirSync(packDir);
  const r = await run(
    "npm",
    ["pack", "--json", "--pack-destination", packDir, "--no-audit", "--no-fund"],
    source,
  );
  assert.equal(r.code, 0, `npm pack failed:\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as Array<{
    filename: string;
    files: PackedFile[];
  }>;
  tarball = join(packDir, info[0]!.filename);
  files = info[0]!.files;
  pkg = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
});

test("npm pack: dist (JS, .d.ts, maps), src without dev entries, README and package.json only", () => {
  const paths = new Set(files.map((f) => f.path));
  const stray = [...paths].filter(
    (p) =>
      !(p === "package.json" || p === "README.md" || /^LICEN[CS]E/.test(p)) &&
      !/^(dist|src)\//.test(p),
  );
  assert.deepEqual(stray, [], "files outside dist/ and src/ (test, bench, scripts, docs, config?)");
  // The web viewer is one bundle (scripts/build-web.mjs), not compiled module by module.
  const VIEWER = ["index.html", "app.js", "app.js.map", "app.css", "app.css.map"];
  for (const f of VIEWER) assert.ok(paths.has(`dist/web/${f}`), `dist/web/${f} missing`);
  const js = [...paths].filter(
    (p) => p.startsWith("dist/") && p.endsWith(".js") && !p.startsWith("dist/web/"),
  );
  assert.ok(js.length > 50, `only ${js.length} JS files in dist/`);
  for (const p of js) {
    const stem = p.slice(0, -3);
    for (const companion of [`${p}.map`, `${stem}.d.ts`, `${stem}.d.ts.map`]) {
      assert.ok(paths.has(companion), `${companion} missing from the tarball`);
    }
    // Source maps point into src/: the TypeScript file must ship too.
    const ts = `src/${stem.slice("dist/".length)}.ts`;
    assert.ok(paths.has(ts), `${ts} (source of ${p}) missing from the tarball`);
  }
  for (const p of paths) {
    if (p.startsWith("dist/web/")) {
      assert.ok(VIEWER.includes(p.slice("dist/web/".length)), `unexpected file in dist/web/: ${p}`);
    } else if (p.startsWith("dist/")) {
      assert.match(p, /\.(js|d\.ts)(\.map)?$/, `unexpected file in dist/: ${p}`);
    }
    // The viewer's page and stylesheet are sources of the bundle (its maps point at them).
    if (p.startsWith("src/web/")) {
      assert.match(p, /\.(ts|css|html)$/, `unexpected file in src/web/: ${p}`);
    } else if (p.startsWith("src/")) assert.match(p, /\.ts$/, `unexpected file in src/: ${p}`);
    assert.doesNotMatch(p, /\.dev\.mjs$|\.test\.|tsbuildinfo|fixtures\//, `should not ship: ${p}`);
  }
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const targets = typeof target === "string" ? [target] : Object.values(target as object);
    for (const t of targets) {
      assert.ok(
        paths.has(String(t).replace(/^\.\//, "")),
        `exports["${subpath}"]: ${t} not packed`,
      );
    }
  }
  for (const bin of Object.values(pkg.bin)) {
    const entry = files.find((f) => f.path === bin.replace(/^\.\//, ""));
    assert.ok(entry, `bin ${bin} not packed`);
    assert.ok(entry.mode & 0o111, `bin ${bin} is not executable in the tarball`);
    assert.match(readFileSync(join(source, bin), "utf8"), /^#!\/usr\/bin\/env node\n/);
  }
});

const plain = join(tmp, "plain");
// @types/node 20.x, for the TypeScript project: the version the repo is locked to (in the npm
// cache after npm ci). Types only: nothing the plain project runs loads it.
const typesNode = JSON.parse(
  readFileSync(join(ROOT, "node_modules", "@types", "node", "package.json"), "utf8"),
).version as string;
/** The plain project has the tarball and @types/node installed (the TypeScript project links it). */
const plainInstalled = milestone('the install of test "plain Node ESM project"');
/** The installed command wrote the demo datasets (the TypeScript consumer reads them). */
const demoBuilt = milestone('the demo of test "installed command"');
const demoOut = join(tmp, "demo");

describe("the tarball checked, installed and used", { concurrency: true }, () => {
  test("publint (strict) finds nothing in the tarball", async (t) => {
    t.diagnostic(`publint --strict ${tarball}`);
    const buf = readFileSync(tarball);
    const { messages, pkg: manifest } = await publint({
      pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) },
      strict: true,
    });
    const text = messages.map((m) => `${m.type}: ${formatMessage(m, manifest) ?? m.code}`);
    assert.deepEqual(text, [], "publint messages");
  });

  test("are-the-types-wrong (ESM-only profile) finds no problem in the tarball", async (t) => {
    await step(t, "attw", join(BIN, "attw"), [tarball, "--profile", "esm-only", "--no-color"], tmp);
  });

  test("plain Node ESM project: install the tarball, import every entry point", async (t) => {
    await settling(plainInstalled, async () => {
      mkdirSync(plain);
      writeFileSync(
        join(plain, "package.json"),
        JSON.stringify({ name: "plain-consumer", private: true, type: "module" }),
      );
      assert.match(typesNode, /^20\./);
      await step(
        t,
        `install the tarball and @types/node@${typesNode}`,
        "npm",
        [
          "install",
          "--no-audit",
          "--no-fund",
          "--prefer-offline",
          tarball,
          `@types/node@${typesNode}`,
        ],
        plain,
      );
    });
    plainInstalled.reached();
    const ok = await step(
      t,
      "import the entry",
      process.execPath,
      ["-e", 'import("astropile").then(m => m.downloadFile && m.openDataset && console.log("ok"))'],
      plain,
    );
    assert.equal(ok.stdout.trim(), "ok");
    // Every subpath, from the installed package, exports the same names as its source module.
    const subpaths = Object.keys(pkg.exports).filter((s) => s !== "./package.json");
    const script =
      "const out = {};\n" +
      `for (const s of ${JSON.stringify(subpaths)}) out[s] = Object.keys(await import(s === "." ? "astropile" : "astropile" + s.slice(1))).sort();\n` +
      'out["./package.json"] = (await import("astropile/package.json", { with: { type: "json" } })).default.name;\n' +
      "console.log(JSON.stringify(out));\n";
    writeFileSync(join(plain, "imports.mjs"), script);
    const r = await step(t, "import every subpath", process.execPath, ["imports.mjs"], plain);
    const installed = JSON.parse(r.stdout) as Record<string, string[] | string>;
    assert.equal(installed["./package.json"], "astropile");
    for (const s of subpaths) {
      const src = s === "." ? "../../src/index.ts" : `../../src/${s.slice(2)}/index.ts`;
      const expected = Object.keys(await import(src)).sort();
      assert.deepEqual(installed[s], expected, `exports of astropile${s.slice(1)} (dist vs src)`);
    }
  });

  test("installed command: --help, demo, info, xmatch on worker threads", async (t) => {
    const astropile = join(plain, "node_modules", ".bin", "astropile");
    const out = demoOut;
    await settling(demoBuilt, async () => {
      await plainInstalled.done;
      assert.ok(statSync(astropile).mode & 0o111, "node_modules/.bin/astropile is not executable");
      const help = await step(t, "help", astropile, ["--help"], plain);
      assert.match(help.stdout, /Usage: astropile/);
      assert.match(help.stdout, /xmatch/);
      await step(
        t,
        "demo (build workers)",
        astropile,
        ["demo", "--size", "tiny", "--out", out],
        plain,
      );
    });
    demoBuilt.reached();
    const hsc = join(out, "hsc");
    const desi = join(out, "desi");
    const info = await step(t, "info", astropile, ["info", hsc, "--json"], plain);
    const rows = Object.values(
      (JSON.parse(info.stdout) as { configs: Record<string, { rows: number }> }).configs,
    ).map((c) => c.rows);
    assert.ok(rows.length > 0 && rows.every((n) => n > 0), `info: rows per config ${rows}`);
    const xm = await step(
      t,
      "xmatch (match workers)",
      astropile,
      ["xmatch", hsc, desi, "--radius", "1", "--threads", "2", "--json"],
      plain,
    );
    const result = JSON.parse(xm.stdout) as {
      rows: number;
      threads: number;
      pairs: Array<{ sep_arcsec: number; right_object_id: unknown }>;
    };
    assert.ok(result.threads >= 1, `xmatch ran on ${result.threads} worker threads`);
    assert.ok(result.rows > 0 && result.pairs.length > 0, "xmatch found no pairs");
    for (const p of result.pairs)
      assert.ok(p.right_object_id !== null && p.sep_arcsec <= 1, JSON.stringify(p));
  });

  const CONSUMER_TS = `// A TypeScript user of the package: the public API with its types.
import {
  type AstroPileError,
  type CrossMatchOptions,
  type CrossMatchResult,
  type CrossMatchStats,
  crossMatch,
  type Dataset,
  downloadFile,
  isAstroPileError,
  type MatchCatalog,
  type MatchedExample,
  NotFoundError,
  openDataset,
} from "astropile";
import { type DownloadOptions, downloadFile as download } from "astropile/cache";
import { ang2pix } from "astropile/sky";
import { PartitionFile } from "astropile/storage";

const [hscDir, desiDir] = process.argv.slice(2) as [string, string];
const hsc: Dataset = await openDataset(hscDir);
const desi: Dataset = await openDataset(desiDir);
const options: CrossMatchOptions = { radiusArcsec: 1, mode: "nearest", how: "inner", threads: 2 };
const result: CrossMatchResult = await crossMatch(hsc, desi, options);
const catalog: MatchCatalog = result.catalog;
const stats: CrossMatchStats = result.stats;
const seps: Float64Array = catalog.sep_arcsec;
const first: MatchedExample = await result.dataset.get(0);
const file: string = \`\${catalog.left_root}/\${catalog.left_files[catalog.left_file[0]!]!}\`;

const partition = await PartitionFile.open(file);
const stored = partition.readRows(["ra", "healpix"], [catalog.left_row[0]!]);
partition.close();
if ((stored.ra as Float64Array)[0] !== catalog.left_ra[0]) throw new Error("left_ra is not the stored ra");
const pix: BigInt64Array = ang2pix(4, [catalog.left_ra[0]!], [catalog.left_dec[0]!]);
if (pix[0] !== (stored.healpix as BigInt64Array)[0]) throw new Error("ang2pix disagrees with the file");

let code = "";
try {
  await openDataset(\`\${hscDir}/no-such-dataset\`);
} catch (err) {
  if (!isAstroPileError(err)) throw err;
  const e: AstroPileError = err;
  code = e.code;
  if (!isAstroPileError(err, NotFoundError.code)) throw err;
}

const fetchOne: (url: string, o?: DownloadOptions) => Promise<string> = download;
if (fetchOne !== downloadFile) throw new Error("astropile/cache and astropile differ");

// Types that must not accept wrong input (@ts-expect-error fails when they would).
export function misuse(d: Dataset): void {
  // @ts-expect-error radiusArcsec is a number
  void crossMatch(d, d, { radiusArcsec: "1" });
  // @ts-expect-error mode is "nearest" or "all"
  void crossMatch(d, d, { radiusArcsec: 1, mode: "closest" });
  // @ts-expect-error ang2pix takes degrees as numbers
  ang2pix(4, ["1"], [2]);
}

console.log(
  JSON.stringify({
    rows: catalog.length,
    units: stats.units,
    maxSep: Math.max(...seps),
    leftId: String(first.left.object_id),
    ra: Number((stored.ra as Float64Array)[0]),
    code,
  }),
);
`;

  test("strict TypeScript project: the shipped declarations type-check, and the code runs", async (t) => {
    const dir = join(tmp, "typescript");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "ts-consumer", private: true, type: "module" }),
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify(
        {
          compilerOptions: {
            target: "ES2022",
            lib: ["ES2022"],
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            skipLibCheck: false,
            types: ["node"],
            rootDir: ".",
            outDir: "out",
          },
          include: ["consumer.ts"],
        },
        null,
        2,
      ),
    );
    writeFileSync(join(dir, "consumer.ts"), CONSUMER_TS);
    const out = demoOut;
    // The plain project's install: the tarball and @types/node.
    await plainInstalled.done;
    assert.ok(existsSync(join(plain, "node_modules", "@types", "node")), "plain project installed");
    symlinkSync(join(plain, "node_modules"), join(dir, "node_modules"), "dir");
    await step(t, "type-check and compile with the repo's tsc", join(BIN, "tsc"), ["-p", "."], dir);
    await demoBuilt.done;
    assert.ok(existsSync(join(out, "desi")), "the demo datasets of the other test are missing");
    const r = await step(
      t,
      "run the compiled consumer",
      process.execPath,
      [join(dir, "out", "consumer.js"), join(out, "hsc"), join(out, "desi")],
      dir,
    );
    const got = JSON.parse(r.stdout) as Record<string, number | string>;
    assert.ok((got.rows as number) > 0, "no pairs");
    assert.ok((got.maxSep as number) <= 1);
    assert.ok(Number.isFinite(got.ra));
    assert.equal(got.code, "ASTROPILE_NOT_FOUND");
  });
});
