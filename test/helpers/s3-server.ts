// Starts test/helpers/s3-server.mjs (s3rver) in a child process on 127.0.0.1.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface S3Server {
  /** http://127.0.0.1:PORT, the endpoint to give the S3 client. */
  endpoint: string;
  close(): Promise<void>;
}

/** Credentials s3rver accepts (its documented defaults); set in the environment by tests. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

export async function startS3Server(dir: string, buckets: string[]): Promise<S3Server> {
  const script = fileURLToPath(new URL("./s3-server.mjs", import.meta.url));
  const child = spawn(process.execPath, [script, dir, ...buckets], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (c) => {
      text += c;
      const m = /PORT (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`s3 server exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await done;
    },
  };
}
