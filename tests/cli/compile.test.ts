// `bun build --compile` gives one executable that runs without node_modules.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");

test("compiled binary answers --help and version", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-compile-"));
  try {
    const out = join(dir, "kiln");
    const c = spawnSync(join(root, "node_modules", ".bin", "bun"), ["scripts/compile.ts", "--outfile", out], { cwd: root, encoding: "utf8" });
    expect(c.stderr + c.stdout).not.toContain("compile failed");
    expect(c.status).toBe(0);
    // Run from an empty directory so nothing from the repo can be picked up.
    const h = spawnSync(out, ["--help"], { cwd: dir, encoding: "utf8" });
    expect(h.status).toBe(0);
    expect(h.stdout).toContain("Usage: kiln");
    const v = spawnSync(out, ["version"], { cwd: dir, encoding: "utf8" });
    expect(v.stdout).toMatch(/^kiln \d+\.\d+\.\d+\ncommit [0-9a-f]{12}|commit unknown/m);
    expect(v.stdout).toContain("runtime bun");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
