// Child process for the CLI tests: reads one JSON argv array per stdin line, runs the
// astropile CLI in-process, and answers one JSON line {code, stdout, stderr}. One process
// serves many commands (cheap), and capturing stdout here cannot swallow the test
// reporter's own output, which lives in the parent.
import { createInterface } from "node:readline";
import { main } from "../../src/cli/main.ts";

const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

for await (const line of createInterface({ input: process.stdin })) {
  const args = JSON.parse(line) as string[];
  let stdout = "";
  let stderr = "";
  process.stdout.write = ((s: string | Uint8Array) => {
    stdout += typeof s === "string" ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    stderr += typeof s === "string" ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(["node", "astropile", ...args]);
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  realOut(`${JSON.stringify({ code, stdout, stderr })}\n`);
}
