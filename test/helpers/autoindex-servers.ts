// Real web servers with directory listings, as Multimodal Universe and labs publish trees:
// Debian's nginx (`autoindex on`) and Apache httpd (mod_autoindex, FancyIndexing), each started
// on 127.0.0.1 with a private config in a temp dir and stopped by close(). Both serve files with
// Range and ETag as they do in production. In CI (CI=true) they must be installed (.ci/run);
// elsewhere tests skip with a visible message.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export type AutoindexKind = "nginx" | "apache";

const BINARIES: Record<AutoindexKind, string> = {
  nginx: "/usr/sbin/nginx",
  apache: "/usr/sbin/apache2",
};
const APACHE_MODULES = "/usr/lib/apache2/modules";

/** For `test(name, { skip: autoindexSkip("nginx") }, fn)`; throws under CI=true when missing. */
export function autoindexSkip(kind: AutoindexKind): false | string {
  const r = spawnSync(BINARIES[kind], ["-v"], { encoding: "utf8" });
  if (r.status === 0) return false;
  if (process.env.CI === "true")
    throw new Error(`${BINARIES[kind]} missing in CI (see .ci/run: nginx-light, apache2)`);
  return `SKIPPED (${BINARIES[kind]} not installed: apt-get install -y nginx-light apache2)`;
}

export interface AutoindexServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** nginx only: the paths asked for so far (its access log), in order. */
  requests(): string[];
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      let text = "";
      try {
        text = readFileSync(log, "utf8");
      } catch {}
      throw new Error(`server exited with ${child.exitCode}: ${text}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server not listening on ${port} after 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nginxConfig(dir: string, port: number, run: string): string {
  // One process as the current user (no master, no user switch), nothing written outside `run`.
  return `daemon off;
master_process off;
worker_processes 1;
pid ${run}/nginx.pid;
error_log ${run}/error.log warn;
events { worker_connections 64; }
http {
  log_format paths '$request_uri';
  access_log ${run}/access.log paths;
  default_type application/octet-stream;
  client_body_temp_path ${run}/body;
  proxy_temp_path ${run}/proxy;
  fastcgi_temp_path ${run}/fastcgi;
  uwsgi_temp_path ${run}/uwsgi;
  scgi_temp_path ${run}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${dir};
    location / { autoindex on; }
  }
}
`;
}

function apacheConfig(dir: string, port: number, run: string): string {
  const user = process.getuid?.() === 0 ? "User nobody\nGroup nogroup\n" : "";
  return `ServerRoot ${run}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${run}/httpd.pid
DefaultRuntimeDir ${run}
ErrorLog ${run}/error.log
LogLevel warn
Mutex file:${run} default
${user}LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so
LoadModule dir_module ${APACHE_MODULES}/mod_dir.so
LoadModule autoindex_module ${APACHE_MODULES}/mod_autoindex.so
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
DocumentRoot ${dir}
<Directory />
  Require all denied
</Directory>
<Directory ${dir}>
  Options +Indexes
  # Debian's stock mods-available/autoindex.conf
  IndexOptions FancyIndexing VersionSort HTMLTable NameWidth=* DescriptionWidth=* Charset=UTF-8
  Require all granted
</Directory>
`;
}

/**
 * Serves `dir` with a real nginx or Apache directory listing on a free loopback port. The
 * directory (and its parents up to the temp dir) is made world-readable, since Apache running
 * as root serves as `nobody`.
 */
export async function startAutoindexServer(
  kind: AutoindexKind,
  dir: string,
): Promise<AutoindexServer> {
  const run = mkdtempSync(join(tmpdir(), `astropile-${kind}-`));
  chmodSync(run, 0o755);
  for (let d = dir; d !== dirname(d) && d.startsWith(tmpdir()); d = dirname(d)) chmodSync(d, 0o755);
  const port = await freePort();
  const conf = join(run, `${kind}.conf`);
  writeFileSync(
    conf,
    kind === "nginx" ? nginxConfig(dir, port, run) : apacheConfig(dir, port, run),
  );
  const args = kind === "nginx" ? ["-p", run, "-c", conf] : ["-f", conf, "-DFOREGROUND"];
  const child = spawn(BINARIES[kind], args, { stdio: "ignore" });
  try {
    await listening(port, child, join(run, "error.log"));
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(run, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    requests() {
      if (kind !== "nginx") throw new Error("requests(): nginx only");
      const log = join(run, "access.log");
      return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        // Apache's graceful stop is SIGWINCH/SIGTERM; nginx stops on SIGTERM too.
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(run, { recursive: true, force: true });
    },
  };
}
