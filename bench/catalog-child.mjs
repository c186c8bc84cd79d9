// Child processes of bench/catalog.ts, in plain JavaScript on the built package (dist/, `npm run
// build`), so that their start-up is what a user's script pays. Each prints one JSON line.
//   duckdb CSV OUT.parquet           DuckDB's own CSV -> Parquet, timing the COPY statement
//   xmatch LEFT RIGHT ARCSEC MODE    crossMatch of two parent datasets on disk, timing the call
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
  const [left, right, radius, mode] = args;
  const { crossMatch, openDataset } = await import("astropile");
  const t0 = performance.now();
  const l = await openDataset(left);
  const r = await openDataset(right);
  const t = performance.now();
  const { catalog, stats } = await crossMatch(l, r, { radiusArcsec: Number(radius), mode });
  const seconds = (performance.now() - t) / 1000;
  const openSeconds = (t - t0) / 1000;
  console.log(
    JSON.stringify({ seconds, openSeconds, rows: catalog.length, threads: stats.threads }),
  );
} else {
  throw new Error(`unknown task ${task}`);
}
