// Issue 6's acceptance test: every Dockerfile in tests/diff/cases/ must give the same image with
// kiln as with buildah (file tree + runtime config), up to the differences accepted with a reason
// in docs/diff-allowlist.md. One test per case, so pass/fail counts mean something.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { ALLOWLIST_FILE, formatFailures, limiter, loadCases, runCase, type CaseResult } from "./harness.ts";
import { loadAllowList } from "./allowlist.ts";

const cases = loadCases();
// Two cores: a case builds while the previous one is still being built or compared.
const limit = limiter(2);
const started = new Map<number, Promise<CaseResult>>();
const timings: string[] = [];

function start(i: number): Promise<CaseResult> | undefined {
  if (i >= cases.length) return undefined;
  let p = started.get(i);
  if (!p) {
    p = limit(() => runCase(cases[i]!));
    p.catch(() => {}); // reported by its own test; a prefetched failure is not an unhandled rejection
    started.set(i, p);
  }
  return p;
}

afterAll(() => {
  if (timings.length) console.log(`diff timings (kiln / buildah):\n${timings.join("\n")}`);
});

describe("corpus", () => {
  test("at least 30 cases, each saying what it covers and taking its base as a build arg", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const c of cases) {
      expect(`${c.name}: ${c.covers}`).not.toBe(`${c.name}: `);
      const df = fs.readFileSync(join(c.dir, "Dockerfile"), "utf8");
      expect(`${c.name}: ${/^ARG (BASE|PARENT)$/m.test(df)}`).toBe(`${c.name}: true`);
      if (c.parent) expect(fs.existsSync(join(c.dir, "..", c.parent, "Dockerfile"))).toBe(true);
    }
  });

  test("the allow-list parses and every row names an existing case or *", () => {
    const names = new Set(cases.map((c) => c.name));
    for (const e of loadAllowList(ALLOWLIST_FILE)) expect(e.caseName === "*" || names.has(e.caseName)).toBe(true);
  });
});

describe("kiln builds the same image as buildah", () => {
  cases.forEach((c, i) => {
    test(
      c.name,
      async () => {
        const mine = start(i)!;
        start(i + 1);
        const r = await mine;
        timings.push(`  ${c.name.padEnd(26)} ${(r.kilnMs / 1000).toFixed(1)}s / ${(r.buildahMs / 1000).toFixed(1)}s${r.allowed.length ? `  (${r.allowed.length} allowed)` : ""}`);
        if (r.failures.length) throw new Error(formatFailures(c, r));
        expect(r.failures).toEqual([]);
      },
      300_000,
    );
  });
});
