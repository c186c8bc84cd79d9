// A static file server for tests of remote reads, run in a child process (remote reads block
// the test's own thread while they wait): serves a directory with Range, ETag, Last-Modified,
// If-Match / If-Unmodified-Since, and injects faults on request.
//
//   node range-server.mjs DIR       prints "PORT <n>" once listening on 127.0.0.1
//   POST /__faults  [{ "match": "suffix", "kind": "status"|"reset"|"short", "status": 503, "times": 1 }]
//   GET  /__stats   { "requests": n, "bytes": n, "ranges": n, "log": ["/path start-end", ...] }
//   POST /__reset   clears faults and counters
//   POST /__ignore-conditionals  "true": answer as if If-Match were absent
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";

const root = path.resolve(process.argv[2]);
let faults = [];
/** When set, If-Match / If-Unmodified-Since are ignored, as some servers do. */
let ignoreConditionals = false;
let stats = { requests: 0, bytes: 0, ranges: 0, log: [] };

function etagOf(st) {
  return `"${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`;
}

function body(req) {
  return new Promise((resolve) => {
    let text = "";
    req.on("data", (c) => {
      text += c;
    });
    req.on("end", () => resolve(text));
  });
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/__faults" && req.method === "POST") {
    faults.push(...JSON.parse(await body(req)));
    res.end("ok");
    return;
  }
  if (url.pathname === "/__ignore-conditionals" && req.method === "POST") {
    ignoreConditionals = (await body(req)) === "true";
    res.end("ok");
    return;
  }
  if (url.pathname === "/__stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(stats));
    return;
  }
  if (url.pathname === "/__reset" && req.method === "POST") {
    faults = [];
    ignoreConditionals = false;
    stats = { requests: 0, bytes: 0, ranges: 0, log: [] };
    res.end("ok");
    return;
  }
  stats.requests++;
  const rel = decodeURIComponent(url.pathname);
  const file = path.join(root, rel);
  if (!file.startsWith(root + path.sep)) {
    res.statusCode = 403;
    res.end();
    return;
  }
  const fault = faults.find(
    (f) =>
      rel.endsWith(f.match) &&
      f.times > 0 &&
      (f.onRange === undefined || f.onRange === Boolean(req.headers.range)),
  );
  if (fault) fault.times--;
  if (fault?.kind === "status") {
    res.statusCode = fault.status;
    res.end("fault");
    return;
  }
  let st;
  try {
    st = statSync(file);
    if (!st.isFile()) throw new Error("not a file");
  } catch {
    res.statusCode = 404;
    res.end("not found");
    return;
  }
  const etag = etagOf(st);
  res.setHeader("etag", etag);
  res.setHeader("last-modified", new Date(st.mtimeMs).toUTCString());
  res.setHeader("accept-ranges", "bytes");
  const ifMatch = req.headers["if-match"];
  if (ifMatch && ifMatch !== etag && !ignoreConditionals) {
    res.statusCode = 412;
    res.end();
    return;
  }
  let start = 0;
  let end = st.size;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  if (req.headers.range && !range) {
    res.statusCode = 416;
    res.end();
    return;
  }
  if (range) {
    start = Number(range[1]);
    end = range[2] === "" ? st.size : Math.min(st.size, Number(range[2]) + 1);
    if (start >= st.size) {
      res.statusCode = 416;
      res.setHeader("content-range", `bytes */${st.size}`);
      res.end();
      return;
    }
    res.statusCode = 206;
    res.setHeader("content-range", `bytes ${start}-${end - 1}/${st.size}`);
    stats.ranges++;
    if (stats.log.length < 1000) stats.log.push(`${rel} ${start}-${end}`);
  }
  res.setHeader("content-length", end - start);
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  if (fault?.kind === "reset" || fault?.kind === "short") {
    // Half the body, then a reset (the connection dies) or a clean end (fewer bytes than promised).
    const half = Math.floor((end - start) / 2);
    const s = createReadStream(file, { start, end: start + half - 1 });
    s.on("data", (c) => {
      stats.bytes += c.length;
      res.write(c);
    });
    s.on("end", () => {
      if (fault.kind === "reset") res.socket?.destroy();
      else res.socket?.end();
    });
    return;
  }
  if (end === start) {
    res.end();
    return;
  }
  const s = createReadStream(file, { start, end: end - 1 });
  s.on("data", (c) => {
    stats.bytes += c.length;
  });
  s.pipe(res);
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
