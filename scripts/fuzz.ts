// Long fuzz runs of kiln's input parsers (the tests run a few thousand fixed cases; this runs as
// many as you like, with any seed). Findings are written to --out as files to replay.
// Usage:
//   bun scripts/fuzz.ts [--target tar|dockerfile|lexer|all] [--seed N] [--iterations N] [--time 10m]
//                       [--from N] [--out DIR] [--hang-ms N]
//   deno run -A scripts/fuzz.ts …                          (the same on Deno)
// --from N starts at case N (a test failure prints the --seed and --from that replay it).
// Exit status: 0 no findings, 1 findings (listed on stderr), 2 bad usage.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseGoDuration } from "../src/dockerfile/index.ts";
import { dockerfileSeeds, tarSeeds, wordSeeds, type Seeds } from "../tests/fuzz/seeds.ts";
import { dockerfileTarget, fuzz, lexerTarget, tarTarget, type Finding, type Target } from "../tests/fuzz/targets.ts";

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const usage = (why: string): never => {
  console.error(`fuzz: ${why}\nusage: bun scripts/fuzz.ts [--target tar|dockerfile|lexer|all] [--seed N] [--iterations N] [--time 10m] [--from N] [--out DIR] [--hang-ms N]`);
  process.exit(2);
};
const int = (name: string, dflt: number) => {
  const v = opt(name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) usage(`${name} ${v}: expected a whole number`);
  return Number(v);
};

const which = opt("--target", "all")!;
const seed = int("--seed", 0x6b696c6e);
const from = int("--from", 0);
const iterations = int("--iterations", Number.MAX_SAFE_INTEGER);
const hangMs = int("--hang-ms", 10_000);
const timeArg = opt("--time", iterations === Number.MAX_SAFE_INTEGER ? "1m" : undefined);
let timeMs: number | undefined;
if (timeArg !== undefined) {
  try {
    timeMs = parseGoDuration(timeArg) / 1e6;
  } catch {
    usage(`--time ${timeArg}: expected a duration like 90s or 10m`);
  }
}
const out = opt("--out", "fuzz-findings")!;

// deno-lint-ignore no-explicit-any
const targets: [Target<any>, () => Promise<Seeds<any>> | Seeds<any>][] = [
  [tarTarget, tarSeeds],
  [dockerfileTarget, dockerfileSeeds],
  [lexerTarget, wordSeeds],
];
const chosen = targets.filter(([t]) => which === "all" || t.name === which);
if (chosen.length === 0) usage(`unknown --target ${which}`);

const all: Finding[] = [];
for (const [target, load] of chosen) {
  const seeds = await load();
  for (const m of seeds.missing) console.error(`fuzz ${target.name}: seeds not used: ${m}`);
  const t0 = Date.now();
  const r = await fuzz(target, seeds.inputs, { seed, from, iterations, timeMs: timeMs === undefined ? undefined : timeMs / chosen.length, hangMs, stopEarly: false });
  console.error(`fuzz ${target.name}: ${r.cases} cases from #${from} in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${seed}), ${r.findings.length} findings`);
  all.push(...r.findings);
}
if (all.length) {
  mkdirSync(out, { recursive: true });
  for (const f of all) {
    const file = join(out, `${f.target}-${seed}-${f.iteration}.${f.kind}`);
    writeFileSync(file, f.input);
    console.error(`${f.target} #${f.iteration} ${f.kind}: ${f.message.split("\n")[0]}\n  input: ${file}\n  replay: bun scripts/fuzz.ts --target ${f.target} --seed ${seed} --from ${f.iteration} --iterations 1`);
  }
  process.exit(1);
}
