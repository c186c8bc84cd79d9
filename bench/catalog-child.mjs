// Child processes of bench/catalog.ts, in plain JavaScript on the built package (dist/, `npm run
// build`), so that their start-up is what a user's script pays. Each prints one JSON line.
//   duckdb CSV OUT.parquet           DuckDB's own CSV -> Parquet, timing the COPY statement
//   xmatch LEFT RIGHT ARCSEC MODE [REPEATS]  crossMatch of two parent datasets on disk, timing
//                                    the first call and REPEATS more in the same process
const [task, ...args] = process.argv.slice(2);

if (task === "duckdb") {
  const [csv, parquet] = args;
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const connection = await (await DuckDBInstance.create(":memory:")).connect();
  const quote = (s) => `'${s.replaceAll("'", "''")}'`;
  const t = performance.now();
  await connection.run(
    `COPY (SELECT * FROM read_csv(${quote(csv)})) TO ${quote(parquet)} (FORMAT parquet)`,
  );
  const seconds = (performance.now() - t) / 1000;
  const threads = (
    await connection.runAndReadAll("SELECT current_setting('threads')")
  ).getRows()[0][0];
  console.log(JSON.stringify({ seconds, threads: Number(threads) }));
} else if (task === "xmatch") {
  // The first call in a fresh process (what a one-off script pays: V8 has not compiled the kernel
  // yet), then REPEATS more calls in the same process, each on datasets opened afresh (nothing
  // read is kept between calls; the OS page cache is warm for every tool alike), like astropy's
  // repeated calls in one Python process.
  const [left, right, radius, mode, repeats = "0"] = args;
  const { crossMatch, openDataset } = await import("astropile");
  const once = async () => {
    const t0 = performance.now();
    const l = await openDataset(left);
    const r = await openDataset(right);
    const t = performance.now();
    const { catalog, stats } = await crossMatch(l, r, { radiusArcsec: Number(radius), mode });
    return {
      seconds: (performance.now() - t) / 1000,
      openSeconds: (t - t0) / 1000,
      rows: catalog.length,
      threads: stats.threads,
    };
  };
  const first = await once();
  const again = [];
  for (let i = 0; i < Number(repeats); i++) {
    const r = await once();
    if (r.rows !== first.rows)
      throw new Error(`call ${i + 2} gave ${r.rows} rows, not ${first.rows}`);
    again.push(r.seconds);
  }
  console.log(JSON.stringify({ ...first, repeatSeconds: again }));
} else {
  throw new Error(`unknown task ${task}`);
}
