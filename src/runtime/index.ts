// The one place that knows which JS runtime kiln runs on. Everything else uses
// node: built-ins and global fetch, which Bun, Deno and Node all provide.
import { spawn, type SpawnOptions } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

declare const Bun: { version: string; argv: string[]; gc(force: boolean): void } | undefined;
declare const Deno:
  | {
      version: { deno: string };
      args: string[];
      execPath(): string;
      exit(code?: number): never;
    }
  | undefined;

export type RuntimeName = "bun" | "deno" | "node";

export const runtime: RuntimeName =
  typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node";

export function runtimeVersion(): string {
  if (runtime === "bun") return `bun ${Bun!.version}`;
  if (runtime === "deno") return `deno ${Deno!.version.deno}`;
  return `node ${process.versions.node}`;
}

/** User arguments after the script (or after the compiled binary's name). */
export function userArgs(): string[] {
  if (runtime === "deno") return [...Deno!.args];
  return process.argv.slice(2);
}

/** argv in node's shape ([exec, script, ...args]) for commander. */
export function nodeStyleArgv(): string[] {
  return [process.execPath, "kiln", ...userArgs()];
}

export function exit(code: number): never {
  if (runtime === "deno") Deno!.exit(code);
  process.exit(code);
}

export function env(name: string): string | undefined {
  return process.env[name];
}

/**
 * A full, synchronous garbage collection (a few ms on kiln's small heap). Streaming a big layer
 * allocates its size again in short-lived buffers (compressor output, read chunks) that the
 * engine hardly counts as heap, so its own collections came late: a 200 MB layer left the build
 * at 170-225 MB RSS instead of ~130, on Bun and on Deno alike.
 */
export function collectGarbage(): void {
  if (runtime === "bun") Bun!.gc(true);
  else (v8Collector ??= exposeV8Collector())?.();
}

let v8Collector: (() => void) | null | undefined;

/** V8 (Deno, Node) has gc() only with --expose-gc; the flag still takes effect for a new context. */
function exposeV8Collector(): (() => void) | null {
  const own = (globalThis as { gc?: () => void }).gc;
  if (own) return own;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/** Short-lived bytes (layer output, upload chunks) between forced collections, across all callers. */
const GARBAGE_BUDGET = 16 * 1024 * 1024;
let garbageLeft = GARBAGE_BUDGET;

/** Counts bytes that are garbage soon after use; calls collectGarbage() once per 16 MiB of them. */
export function noteGarbage(bytes: number): void {
  garbageLeft -= bytes;
  if (garbageLeft > 0) return;
  garbageLeft = GARBAGE_BUDGET;
  collectGarbage();
}

/** True when running as a single executable made by `bun build --compile` (or deno compile). */
export function isCompiled(): boolean {
  const url = import.meta.url;
  return url.includes("/$bunfs/") || url.includes("/deno-compile-");
}

/**
 * The argv prefix that re-executes kiln itself (used for the chroot helper process).
 * Compiled: just the binary. Otherwise: the runtime plus mod.ts.
 */
export function selfCommand(): string[] {
  if (isCompiled()) return [process.execPath];
  const modTs = new URL("../../mod.ts", import.meta.url).pathname;
  if (runtime === "deno") return [Deno!.execPath(), "run", "-A", modTs];
  return [process.execPath, modTs];
}

/** Run a command with inherited stdio and resolve with its exit code (signal → 128+n). */
export function runInherited(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit", ...opts });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + signalNumber(signal));
    });
  });
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
function signalNumber(sig: NodeJS.Signals | null): number {
  return (sig && SIGNALS[sig]) || 1;
}
