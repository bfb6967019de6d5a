// CI smoke for the kiln vs buildah benchmark (scripts/bench.ts, issue 9): one trial of the
// small Dockerfile, cold and warm-remote, must yield a complete table and JSON. Timings are
// whatever the machine gives: nothing here asserts a target or a duration.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");

test("scripts/bench.ts --only small --trials 1 --scenarios cold,warm-remote", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-smoke-"));
  try {
    const out = join(dir, "result.json");
    const r = spawnSync(join(root, "node_modules", ".bin", "bun"), ["scripts/bench.ts", "--only", "small", "--trials", "1", "--scenarios", "cold,warm-remote", "--json", "--out", out], { cwd: root, encoding: "utf8", timeout: 170_000 });
    expect(r.stderr).toContain("| bench"); // the table (on stderr with --json)
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(doc);
    expect(doc.kind).toBe("kiln-bench");
    expect(doc.machine.cpus).toBeGreaterThan(0);
    expect(doc.samples).toHaveLength(4);
    expect(doc.rows.map((x: { scenario: string }) => x.scenario)).toEqual(["cold", "warm-remote"]);
    for (const row of doc.rows) {
      expect(row.bench).toBe("small");
      for (const who of ["kiln", "buildah"]) {
        const s = row[who];
        for (const k of ["wall", "cpu", "rssMB", "readMB", "writtenMB"]) expect(Number.isFinite(s[k])).toBe(true);
        expect(s.wall).toBeGreaterThan(0);
        expect(s.rssMB).toBeGreaterThan(0);
        expect(s.steps).toBe(3); // RUN, COPY, RUN
        expect(s.hits).toBe(row.scenario === "cold" ? 0 : 3);
      }
      expect(row.ratio).toBeGreaterThan(0);
    }
    // Every build pulled the busybox layer (~1 MB), except kiln's fully cached one.
    const cold = doc.rows[0];
    expect(cold.kiln.layersReadMB).toBeGreaterThan(0.5);
    expect(cold.buildah.layersReadMB).toBeGreaterThan(0.5);
    expect(cold.kiln.writtenMB).toBeGreaterThan(0);
    const names = doc.targets.map((t: { name: string }) => t.name);
    expect(names).toContain("small warm-remote kiln/buildah");
    expect(names).toContain("small cold kiln/buildah");
    expect(names).toContain("small cold kiln wall"); // issue 19: the absolute target
    for (const t of doc.targets) expect(typeof t.met).toBe("boolean");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
