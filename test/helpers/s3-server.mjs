// An S3-API server (s3rver) for tests, run in a child process on 127.0.0.1 (remote reads block
// the test's own thread while they wait). Prints "PORT <n>" once listening.
//   node s3-server.mjs DIR BUCKET...
import S3rver from "s3rver";

const [dir, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory: dir,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`PORT ${port}\n`);
process.on("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
