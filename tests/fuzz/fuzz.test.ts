// The fuzz targets in the normal test run: a fixed seed and a bounded number of cases (seconds),
// so a failure here reproduces exactly. `bun scripts/fuzz.ts` runs them for longer, with any seed.
import { describe, expect, test } from "bun:test";
import { dockerfileSeeds, tarSeeds, wordSeeds } from "./seeds.ts";
import { dockerfileTarget, fuzz, lexerTarget, tarTarget, type Finding, type Target } from "./targets.ts";

const SEED = 0x6b696c6e; // "kiln"

function report(findings: Finding[]): string[] {
  return findings.map((f) => `${f.target} #${f.iteration} ${f.kind}: ${f.message.split("\n").slice(0, 3).join(" | ")} (replay: bun scripts/fuzz.ts --target ${f.target} --seed ${SEED} --from ${f.iteration} --iterations 1)`);
}

function printMissing(missing: string[]): void {
  for (const m of missing) console.warn(`fuzz: seeds not used: ${m}`);
}

// [target, its seeds, cases]: a few seconds each.
const RUNS = [
  [tarTarget, tarSeeds, 1500],
  [dockerfileTarget, dockerfileSeeds, 3000],
  [lexerTarget, wordSeeds, 5000],
] as const;

describe("fuzz (fixed seed, bounded)", () => {
  for (const [target, load, iterations] of RUNS) {
    test(target.name, async () => {
      const seeds = await load();
      printMissing(seeds.missing);
      expect(seeds.inputs.length).toBeGreaterThan(2);
      // deno-lint-ignore no-explicit-any
      const r = await fuzz(target as Target<any>, seeds.inputs, { seed: SEED, iterations });
      expect(report(r.findings)).toEqual([]);
      expect(r.cases).toBe(iterations);
    }, 120_000);
  }
});

describe("the fuzz driver reports what it must", () => {
  // Synthetic targets with a planted defect: proves a real one would fail the tests above.
  const seeds = [new Uint8Array([1, 2, 3, 4])];
  const base = { mutate: (_r: unknown, s: Uint8Array) => s.slice(), expected: (e: unknown) => e instanceof RangeError, bytes: (b: Uint8Array) => b };

  test("an unexpected exception is a crash; an expected one is not", async () => {
    const crash = await fuzz({ ...base, name: "crash", run: () => { throw new TypeError("planted"); } }, seeds, { seed: 1, iterations: 5 });
    expect(crash.findings.map((f) => [f.kind, f.iteration])).toEqual([["crash", 0]]);
    expect(crash.findings[0]!.message).toContain("TypeError: planted");
    const fine = await fuzz({ ...base, name: "fine", run: () => { throw new RangeError("designed"); } }, seeds, { seed: 1, iterations: 5 });
    expect(fine.findings).toEqual([]);
  });

  test("a case over the hang bound is a hang; a big allocation is unbounded allocation", async () => {
    const slow = await fuzz({ ...base, name: "slow", run: () => new Promise<void>((r) => setTimeout(r, 60)) }, seeds, { seed: 1, iterations: 3, hangMs: 20 });
    expect(slow.findings.map((f) => f.kind)).toEqual(["hang"]);
    let keep: Uint8Array[] = [];
    // Far above the bound, so garbage of earlier tests collected during the case cannot hide it.
    const big = await fuzz({ ...base, name: "big", run: () => void keep.push(new Uint8Array(256 << 20).fill(1)) }, seeds, { seed: 1, iterations: 3, maxGrowth: 32 << 20 });
    keep = [];
    expect(big.findings.map((f) => f.kind)).toEqual(["allocation"]);
  });
});
