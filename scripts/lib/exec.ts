// Small child-process helpers for scripts and test fixtures (node: built-ins only, so Bun and Deno both run them).
import { spawn, type SpawnOptions } from "node:child_process";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, capturing output. Never throws on a non-zero exit. */
export function execCapture(cmd: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const { input, ...spawnOpts } = opts;
    const child = spawn(cmd, args, { ...spawnOpts, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({
        code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin!.end(input ?? "");
  });
}

/** Run a command; throw with its stderr when it fails. Returns stdout. */
export async function exec(cmd: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<string> {
  const r = await execCapture(cmd, args, opts);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-20).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${tail}`);
  }
  return r.stdout;
}
