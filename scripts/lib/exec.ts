// Small child-process helpers for scripts and test fixtures (node: built-ins only, so Bun and Deno both run them).
import { spawn, type SpawnOptions } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions extends SpawnOptions {
  input?: string;
  /**
   * For long children (debootstrap): the command also writes its exit status to a file, and if the
   * runtime has not reported the exit 5 s after that file appeared, that status is used. Once, in CI,
   * Bun never reported the end of a 30 s debootstrap that had exited and been reaped, and the test
   * process waited until its timeout.
   */
  guardExit?: boolean;
}

/** Run a command to completion, capturing output. Never throws on a non-zero exit. */
export function execCapture(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const { input, guardExit, ...spawnOpts } = opts;
  const statusDir = guardExit ? mkdtempSync(join(tmpdir(), "kiln-exec-")) : undefined;
  const statusFile = statusDir && join(statusDir, "status");
  const [file, argv] = statusFile
    ? ["sh", ["-c", '"$@"; s=$?; echo $s > "$0.tmp" && mv "$0.tmp" "$0"; exit $s', statusFile, cmd, ...args]]
    : [cmd, args];
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, argv, { ...spawnOpts, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = (code: number): ExecResult => ({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(result(code ?? 128 + (signal === "SIGKILL" ? 9 : 15))));
    child.stdin!.end(input ?? "");
    if (!statusFile) return;
    let seenAt = 0;
    const watch = setInterval(() => {
      if (!existsSync(statusFile)) return;
      seenAt ||= Date.now();
      if (Date.now() - seenAt < 5000) return;
      clearInterval(watch);
      const code = Number(readFileSync(statusFile, "utf8").trim());
      process.stderr.write(`exec: ${cmd} wrote exit status ${code} but its exit was never reported; going on with it\n`);
      resolve(result(code));
    }, 1000);
    watch.unref?.();
    child.on("close", () => clearInterval(watch));
  }).finally(() => {
    if (statusDir) rmSync(statusDir, { recursive: true, force: true });
  });
}

/** Run a command; throw with its stderr when it fails. Returns stdout. */
export async function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await execCapture(cmd, args, opts);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-20).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${tail}`);
  }
  return r.stdout;
}
