// Blob transfers stream: a 256 MiB upload + download stays well under 150 MB peak RSS on both
// runtimes (scripts/bench-registry.ts does 1 GiB by default; same code path, just longer).
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { requireTool } from "../env.ts";

const root = join(import.meta.dir, "../..");
const cmds: Record<string, string[]> = {
  bun: [join(root, "node_modules/.bin/bun"), "scripts/bench-registry.ts"],
  deno: [join(root, "node_modules/.bin/deno"), "run", "-A", "scripts/bench-registry.ts"],
};

for (const [rt, cmd] of Object.entries(cmds)) {
  test(`${rt}: 256 MiB blob up and down under 150 MB peak RSS`, () => {
    requireTool("docker-registry", "docker-registry");
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), "256", "--max-rss-mb", "150"], { cwd: root, encoding: "utf8" });
    const line = r.stdout.trim().split("\n").at(-1) ?? "";
    if (r.status !== 0) throw new Error(`bench failed (${r.status}): ${r.stdout}${r.stderr}`);
    const result = JSON.parse(line) as { peakRssMB: number; sizeMiB: number };
    expect(result.sizeMiB).toBe(256);
    expect(result.peakRssMB).toBeLessThan(150);
  });
}
