// collectGarbage() collects on Bun and on Deno (where gc() has to be exposed at run time);
// the layer writer and uploads rely on it to bound peak RSS on big layers.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const script = join(import.meta.dir, "collect-garbage.ts");
const cmds: Record<string, string[]> = {
  bun: [join(root, "node_modules/.bin/bun"), script],
  deno: [join(root, "node_modules/.bin/deno"), "run", "-A", script],
};

for (const [rt, cmd] of Object.entries(cmds)) {
  test(`${rt}: an unreachable object is gone right after collectGarbage()`, () => {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${rt} exited ${r.status}: ${r.stdout}${r.stderr}`);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toEqual({ kept: true, dropped: false, held: 1 });
  });
}
