// Startup time of `kiln --help` (and `kiln version`) from the compiled binary, against a 150 ms target.
// Usage: bun scripts/bench-startup.ts [--binary PATH] [--runs N]
// Without --binary it compiles a fresh one into a temp dir. Also times `bun mod.ts --help` for
// comparison (both bundle the same modules; mod.ts imports the library eagerly).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TARGET_MS = 150;
const root = join(import.meta.dirname, "..");
const bun = join(root, "node_modules", ".bin", "bun");
const args = process.argv.slice(2);
const opt = (n: string) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : undefined);
const runs = Number(opt("--runs") ?? 30);

const tmp = mkdtempSync(join(tmpdir(), "kiln-bench-startup-"));
let binary = opt("--binary");
if (!binary) {
  binary = join(tmp, "kiln");
  const c = spawnSync(bun, ["scripts/compile.ts", "--outfile", binary], { cwd: root, encoding: "utf8" });
  if (c.status !== 0) throw new Error(`compile failed: ${c.stderr}`);
}

/** Median and min wall time of `cmd args` in ms, after one warm-up run (page cache). */
function time(cmd: string, argv: string[]): { median: number; min: number } {
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, argv, { cwd: tmp, stdio: ["ignore", "pipe", "pipe"] });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
    if (i > 0) samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, min: samples[0]! };
}

const rows: [string, { median: number; min: number }][] = [
  ["compiled kiln --help", time(binary, ["--help"])],
  ["compiled kiln version", time(binary, ["version"])],
  ["bun mod.ts --help", time(bun, [join(root, "mod.ts"), "--help"])],
];
for (const [name, t] of rows) console.log(`${name.padEnd(24)} median ${t.median.toFixed(1)} ms  min ${t.min.toFixed(1)} ms  (${runs} runs)`);
rmSync(tmp, { recursive: true, force: true });
const help = rows[0]![1].median;
console.log(help < TARGET_MS ? `startup: ok (${help.toFixed(1)} ms < ${TARGET_MS} ms)` : `startup: SLOW (${help.toFixed(1)} ms ≥ ${TARGET_MS} ms)`);
process.exit(help < TARGET_MS ? 0 : 1);
