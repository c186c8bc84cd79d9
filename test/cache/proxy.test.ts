// Downloads through a real HTTP proxy on loopback (the npm `proxy` package, a small
// Squid-like forwarding proxy), configured as on clusters: HTTP_PROXY / HTTPS_PROXY /
// NO_PROXY, upper or lower case. The proxy adds a Via header, so the test server's log shows
// which requests came through it.
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { createProxy } from "proxy";
import { DownloadError } from "../../src/cache/index.ts";
import { setup } from "./helpers.ts";
import { bytes, etagOf } from "./server.ts";

const VARS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"];

/** Sets exactly these proxy variables for the test (the others unset), restored afterwards. */
function proxyEnv(t: TestContext, values: Record<string, string>) {
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  for (const k of VARS) delete process.env[k];
  Object.assign(process.env, values);
}

/** A forwarding proxy on 127.0.0.1; `seen` lists what it was asked ("GET <url>", "CONNECT <host:port>"). */
async function startProxy(t: TestContext, authenticate?: (req: http.IncomingMessage) => boolean) {
  const server = createProxy(http.createServer());
  if (authenticate) server.authenticate = authenticate;
  const seen: string[] = [];
  server.on("request", (req: http.IncomingMessage) => seen.push(`${req.method} ${req.url}`));
  server.on("connect", (req: http.IncomingMessage) => seen.push(`CONNECT ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A loopback port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test("HTTP_PROXY: the download and its resume go through the proxy and give the same bytes", async (t) => {
  const { server, cache } = await setup(t);
  const proxy = await startProxy(t);
  proxyEnv(t, { HTTP_PROXY: proxy.url });
  const content = bytes(300_000, 5);
  const url = server.set("/via-proxy.fits", content);
  server.fail("/via-proxy.fits", { kind: "reset", afterBytes: 100_000 });
  // The proxy does not pass the server's reset on: the client sees a body that stops, which is
  // a stall (timeoutMs), a short one here so the test does not wait the default 30 s.
  await assert.rejects(cache.download(url, { timeoutMs: 1500 }), DownloadError);
  const p = await cache.download(url);
  assert.deepEqual(await fsp.readFile(p), content);
  assert.deepEqual(proxy.seen, [`GET ${url}`, `GET ${url}`]);
  const reqs = server.requestsFor("/via-proxy.fits");
  assert.equal(reqs.length, 2);
  for (const r of reqs) assert.match(String(r.headers.via), /proxy\//, "came through the proxy");
  assert.equal(reqs[1]!.headers.range, "bytes=100000-");
  assert.equal(reqs[1]!.headers["if-range"], etagOf(content));
  assert.equal(reqs[1]!.status, 206);
});

test("lowercase http_proxy is honoured; NO_PROXY naming the host bypasses the proxy", async (t) => {
  const { server, cache } = await setup(t);
  const proxy = await startProxy(t);
  const port = new URL(server.url("/")).port;
  proxyEnv(t, { http_proxy: proxy.url, NO_PROXY: "example.org,127.0.0.1:1" });
  const a = server.set("/a", bytes(1000, 1));
  await cache.download(a);
  assert.deepEqual(proxy.seen, [`GET ${a}`], "NO_PROXY for another port does not match");

  process.env.NO_PROXY = `localhost, 127.0.0.1:${port}`;
  const b = server.set("/b", bytes(1000, 2));
  assert.deepEqual(await fsp.readFile(await cache.download(b)), bytes(1000, 2));
  process.env.no_proxy = "127.0.0.1"; // the lowercase form wins, as in curl
  process.env.NO_PROXY = "";
  const c = server.set("/c", bytes(1000, 3));
  await cache.download(c);
  assert.deepEqual(proxy.seen, [`GET ${a}`], "b and c went direct");
  assert.equal(server.requestsFor("/b")[0]!.headers.via, undefined);
  assert.equal(server.requestsFor("/c")[0]!.headers.via, undefined);
});

test("proxy credentials in HTTP_PROXY are sent; without them the proxy's 407 is a DownloadError", async (t) => {
  const { server, cache } = await setup(t);
  const expected = `Basic ${Buffer.from("astro:p@ss word").toString("base64")}`;
  const proxy = await startProxy(t, (req) => req.headers["proxy-authorization"] === expected);
  const url = server.set("/auth", bytes(2000, 4));
  proxyEnv(t, { HTTP_PROXY: proxy.url });
  await assert.rejects(cache.download(url), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, /\/auth/);
    assert.match(err.message, /407/);
    return true;
  });
  assert.equal(server.requestsFor("/auth").length, 0, "the proxy refused to forward it");
  process.env.HTTP_PROXY = proxy.url.replace("//", "//astro:p%40ss%20word@");
  assert.deepEqual(await fsp.readFile(await cache.download(url)), bytes(2000, 4));
  assert.equal(proxy.seen.length, 2);
  assert.match(String(server.requestsFor("/auth")[0]!.headers.via), /proxy\//);
});

test("HTTPS_PROXY is used for https URLs only, through CONNECT", async (t) => {
  const { server, cache } = await setup(t);
  const proxy = await startProxy(t);
  proxyEnv(t, { HTTPS_PROXY: proxy.url });
  const plain = server.set("/plain", bytes(500, 5));
  await cache.download(plain);
  assert.deepEqual(proxy.seen, [], "http:// is not sent to HTTPS_PROXY");
  // The test server speaks plain HTTP, so the TLS handshake inside the tunnel fails; the
  // proxy's log shows the tunnel was asked for.
  const https = plain.replace("http:", "https:");
  await assert.rejects(cache.download(https, { timeoutMs: 5000 }), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, /https:\/\/127\.0\.0\.1:\d+\/plain/);
    return true;
  });
  assert.deepEqual(proxy.seen, [`CONNECT ${new URL(https).host}`]);
});

test("an unreachable proxy gives a DownloadError naming the URL", async (t) => {
  const { server, cache } = await setup(t);
  proxyEnv(t, { HTTP_PROXY: `http://127.0.0.1:${await deadPort()}` });
  const url = server.set("/unreachable-proxy", bytes(100, 6));
  await assert.rejects(cache.download(url), (err: unknown) => {
    assert.ok(err instanceof DownloadError, String(err));
    assert.equal(err.reason, "network");
    assert.equal(err.url, url);
    assert.match(err.message, /\/unreachable-proxy.*ECONNREFUSED/);
    return true;
  });
  assert.equal(server.requestsFor("/unreachable-proxy").length, 0);
});
