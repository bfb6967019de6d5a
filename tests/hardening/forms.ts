// kiln's CLI in each form it ships in: from source on Bun, from source on Deno (`deno run -A
// mod.ts`), and the compiled executable (the one tests/dist uses, compiled once per test run).
// The hostile CLI cases run in every form, so a difference between runtimes cannot hide there.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { compiledKiln } from "../dist/helpers.ts";

export const FORMS = ["bun", "deno", "binary"] as const;
export type Form = (typeof FORMS)[number];

const ROOT = join(import.meta.dir, "..", "..");
const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);

/** The argv that starts kiln in this form (the binary is compiled on first use). */
export async function kilnArgv(form: Form): Promise<string[]> {
  if (form === "binary") binary ??= await compiledKiln();
  return kilnArgvSync(form);
}

let binary: string | undefined;

/** kilnArgv for synchronous callers (spawnSync): the binary form needs `await kilnArgv("binary")` first (a beforeAll). */
export function kilnArgvSync(form: Form): string[] {
  if (form === "bun") return [bin("bun"), join(ROOT, "mod.ts")];
  if (form === "deno") return [bin("deno"), "run", "-A", join(ROOT, "mod.ts")];
  if (!binary) throw new Error('the compiled kiln is not ready: await kilnArgv("binary") in a beforeAll first');
  return [binary];
}

export interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/**
 * `kiln ARGS` in `form`, asynchronously (a loopback server in this process keeps answering), killed
 * after `timeoutMs` so no run outlives its test.
 */
export async function kilnIn(form: Form, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Ran> {
  const [cmd, ...pre] = await kilnArgv(form);
  const child = spawn(cmd!, [...pre, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (err += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
