// `scripts/bench.ts --micro`: the existing micro-benchmarks (scripts/bench-*.ts) plus layer
// compression and SHA-256 (scripts/bench/compress.ts), each in its own process, their output
// kept whole and echoed under a heading. A failing one is reported and the rest still run.
// The `target …` lines they print (scripts/bench/targets.ts) are listed together at the end,
// with every fixed-cost target that none of them measured marked n/a.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { BUN, REPO } from "./builders.ts";
import { MICRO_TARGETS, parseTargetLines, target, verdict, type Target } from "./targets.ts";

const DENO = join(REPO, "node_modules", ".bin", "deno");

interface MicroSpec {
  name: string;
  what: string;
  cmd: string;
  args: string[];
}

const SPECS: MicroSpec[] = [
  { name: "parse", what: "10,000-line Dockerfile parse (budget 100 ms)", cmd: BUN, args: ["scripts/bench-parse.ts"] },
  { name: "startup", what: "compiled kiln --help (target < 150 ms)", cmd: BUN, args: ["scripts/bench-startup.ts", "--runs", "20"] },
  { name: "tar", what: "kiln tar codec vs GNU tar (copy of /usr/bin on tmpfs)", cmd: BUN, args: ["scripts/bench-tar.ts"] },
  { name: "fs", what: "unpack of the busybox, Debian and fat-base layers vs GNU tar and umoci (tmpfs and disk), snapshot of a 50,000-file rootfs", cmd: BUN, args: ["scripts/bench-fs.ts"] },
  { name: "steps", what: "per-step fixed costs of cold builds, timed by kiln's own step events (compiled kiln)", cmd: BUN, args: ["scripts/bench-steps.ts"] },
  { name: "registry", what: "512 MiB blob up/down through the registry client, peak RSS", cmd: BUN, args: ["scripts/bench-registry.ts", "512"] },
  { name: "compress", what: "layer writer gzip/zstd vs CLIs, SHA-256 (Bun)", cmd: BUN, args: ["scripts/bench/compress.ts"] },
  { name: "sha256-deno", what: "SHA-256 through node:crypto on Deno", cmd: DENO, args: ["run", "-A", "scripts/bench/compress.ts", "--sha-only"] },
];

export interface MicroResult {
  name: string;
  what: string;
  command: string;
  ok: boolean;
  seconds: number;
  output: string[];
}

function run(s: MicroSpec): Promise<MicroResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(s.cmd, s.args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10 * 60_000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      const output = out.trim().split("\n").filter((l) => l && !l.startsWith('{"rows"'));
      resolve({ name: s.name, what: s.what, command: [s.cmd.replace(REPO + "/", ""), ...s.args].join(" "), ok, seconds: (performance.now() - t0) / 1000, output });
    };
    child.on("error", (e) => ((out += String(e)), done(false)));
    child.on("close", (code) => done(code === 0));
  });
}

export async function runMicro(say: (m: string) => void, progress: (m: string) => void): Promise<{ results: MicroResult[]; targets: Target[] }> {
  const results: MicroResult[] = [];
  for (const s of SPECS) {
    progress(`micro: ${s.name}`);
    const r = await run(s);
    results.push(r);
    say(`\n== ${s.name}: ${s.what} (${r.seconds.toFixed(0)}s${r.ok ? "" : ", FAILED"})`);
    for (const l of r.output) say(`   ${l}`);
  }
  const targets = microTargets(results);
  say("\ntargets:");
  for (const t of targets) say(`  ${t.name.padEnd(24)} ${verdict(t)}`);
  return { results, targets };
}

/** Every target line printed, plus the fixed-cost targets nobody printed (as not measured). */
export function microTargets(results: readonly MicroResult[]): Target[] {
  const found = parseTargetLines(results.flatMap((r) => r.output));
  const missing = Object.entries(MICRO_TARGETS).filter(([name]) => !found.some((t) => t.name === name));
  return [...found, ...missing.map(([name, t]) => target(name, undefined, t.limit, t.unit, `not measured: ${t.what}`))];
}
