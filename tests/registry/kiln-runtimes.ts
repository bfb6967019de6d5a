// Runs `kiln SUBCOMMAND…` from the source tree on Bun or on Deno, for CLI tests that must hold on both.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const root = join(import.meta.dir, "../..");

export const runtimes: Record<string, string[]> = {
  bun: [join(root, "node_modules/.bin/bun"), join(root, "mod.ts")],
  deno: [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, "mod.ts")],
};

/** A runner for one subcommand ("copy", "index inspect"). */
export function kilnCommand(subcommand: string): (rt: string, ...args: string[]) => { code: number; out: string; err: string } {
  return (rt, ...args) => {
    const [exe, ...pre] = runtimes[rt]!;
    const r = spawnSync(exe!, [...pre, ...subcommand.split(" "), ...args], { encoding: "utf8", cwd: root });
    return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr.trim() };
  };
}
