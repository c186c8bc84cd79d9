// The latency probe of bench/serve.ts, in a process of its own: one connection fetching one URL
// of each route in turn while autocannon loads the server from the bench's process. Apart, so
// that its latencies are the server's answer time under the load, not the wait for a turn on
// autocannon's event loop (which decodes every body of the 32 connections).
//   node bench/serve-probe.mjs  (IPC: receives { url, kinds: [[name, [path, ...]], ...] },
//                                then "stop"; sends back { name: [ms, ...] })
const PAUSE_MS = 20;
let probing = true;
process.on("message", (message) => {
  if (message === "stop") probing = false;
  else void probe(message);
});

async function probe({ url, kinds }) {
  const times = Object.fromEntries(kinds.map(([name]) => [name, []]));
  for (let i = 0; probing; i++) {
    for (const [name, paths] of kinds) {
      const t = performance.now();
      const res = await fetch(`${url}${paths[i % paths.length]}`);
      await res.arrayBuffer();
      if (res.status === 200) times[name].push(performance.now() - t);
      // A pause between requests: the probe observes the load, it is not part of it (back to
      // back it added a third to autocannon's requests).
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  }
  process.send(times, () => process.exit(0));
}
