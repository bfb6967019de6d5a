// kiln vs buildah on the Dockerfiles in bench/ (issue 9), or kiln's micro-benchmarks.
//
//   bun scripts/bench.ts [--only small,apt,big,many-steps,fat-base] [--scenarios cold,warm-remote,changed,nocache]
//                        [--trials 3] [--json] [--out FILE] [--logs DIR] [--workdir DIR] [--scratch auto|loop|workdir] [--source]
//   bun scripts/bench.ts --micro [--json] [--out FILE]
//
// Starts its own registry and base images, runs every scenario N times per builder (alternating
// which goes first), and prints medians, kiln ÷ buildah ratios and the targets met or missed.
// Writes everything (raw samples included) to bench/results/<timestamp>.json or --out.
// kiln runs as the compiled executable (--source: `bun mod.ts` instead). The builds write to a
// journaled ext4 in a loop file when the work dir's ext4 has no journal (scripts/bench/scratch-fs.ts).
// --json prints that JSON on stdout (the table then goes to stderr); --logs keeps every build's output. Needs root, buildah,
// skopeo, docker-registry and GNU time (apt-get install time).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { startRegistry } from "./registry.ts";
import { ensureBaseLayouts, layoutDigest, pushBaseImages, type BaseImageName } from "./base-images.ts";
import { requireTime } from "./bench/measure.ts";
import { BUN, REPO, kiln } from "./bench/builders.ts";
import { pushFatBase } from "./bench/fat-base.ts";
import { BENCHES, SCENARIOS, runBench, type BaseName, type Failure, type Sample, type Scenario } from "./bench/suite.ts";
import { summarise, table, targets, verdict } from "./bench/report.ts";
import { runMicro } from "./bench/micro.ts";
import { SCRATCH_MODES, scratchDir, type ScratchMode } from "./bench/scratch-fs.ts";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
};
function list<T extends string>(name: string, all: readonly T[]): T[] {
  const v = opt(name);
  if (!v) return [...all];
  const picked = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!all.includes(p as T)) usage(`${name}: unknown "${p}" (one of ${all.join(", ")})`);
  return picked as T[];
}
function usage(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const asJson = argv.includes("--json");
const micro = argv.includes("--micro");
const trials = Number(opt("--trials") ?? 3);
if (!Number.isInteger(trials) || trials < 1) usage("--trials must be a positive integer");
const only = list("--only", BENCHES.map((b) => b.name));
const scenarios = list<Scenario>("--scenarios", SCENARIOS);
const scratchMode = (opt("--scratch") ?? "auto") as ScratchMode;
if (!SCRATCH_MODES.includes(scratchMode)) usage(`--scratch: one of ${SCRATCH_MODES.join(", ")}`);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outFile = opt("--out") ?? join(REPO, "bench", "results", `${stamp}.json`);
// Progress and the table go to stderr when stdout carries the JSON.
const say = (m: string) => (asJson ? console.error(m) : console.log(m));
const progress = (m: string) => console.error(`[bench] ${m}`);

function machine() {
  const v = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" }).stdout?.trim().split("\n")[0] ?? "";
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "",
    memGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    bun: process.versions.bun ?? null,
    buildah: v("buildah", ["--version"]),
    commit: v("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]),
  };
}

async function builds(): Promise<Record<string, unknown>> {
  requireTime();
  for (const tool of ["buildah", "skopeo", "unshare"]) if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) usage(`${tool} is not installed`);
  const selected = BENCHES.filter((b) => only.includes(b.name));
  // --workdir puts contexts, kiln's workspaces and buildah's storage elsewhere (e.g. /dev/shm).
  const work = mkdtempSync(join(opt("--workdir") ?? os.tmpdir(), "kiln-bench-"));
  // kiln runs as the single executable users install, unless --source asks for `bun mod.ts`.
  if (!argv.includes("--source")) {
    const bin = join(work, "kiln");
    const c = spawnSync(BUN, [join(REPO, "scripts", "compile.ts"), "--outfile", bin], { encoding: "utf8" });
    if (c.status !== 0) usage(`cannot compile kiln: ${c.stderr}`);
    kiln.command = [bin];
  }
  const scratch = scratchDir(work, scratchMode);
  progress(scratch.describe);
  const cleanup = () => {
    scratch.release();
    rmSync(work, { recursive: true, force: true });
  };
  let reg;
  try {
    reg = await startRegistry();
  } catch (e) {
    cleanup();
    throw e;
  }
  process.once("SIGINT", () => (cleanup(), process.exit(130)));
  process.once("SIGTERM", () => (cleanup(), process.exit(143)));
  try {
    const t0 = performance.now();
    const need = new Set(selected.map((b) => b.base));
    const which: BaseImageName[] = need.has("debian") ? ["busybox", "debian"] : ["busybox"];
    progress(`registry ${reg.host}; pushing base images ${which.join(", ")}${need.has("fat-base") ? ", fat-base" : ""}`);
    const refs = await pushBaseImages(reg, which);
    const bases: Record<BaseName, string | undefined> = { busybox: refs.busybox, debian: refs.debian, "fat-base": undefined };
    if (need.has("fat-base")) {
      const layouts = await ensureBaseLayouts();
      bases["fat-base"] = await pushFatBase(reg, refs.busybox, layoutDigest(layouts.busybox), progress);
    }
    const samples: Sample[] = [];
    const failures: Failure[] = [];
    for (const b of selected) {
      progress(`${b.name}: ${trials} trial(s) of ${scenarios.join(", ")}`);
      await runBench(b, { registry: reg, bases, work: scratch.dir, trials, scenarios, log: progress, logsDir: opt("--logs") }, (s) => samples.push(s), (f) => failures.push(f));
      // Partial results survive a crash or Ctrl-C later on.
      save({ partial: true, options: { only, scenarios, trials }, samples, failures });
    }
    const rows = summarise(samples);
    const tgs = targets(rows, samples);
    say(`\nkiln vs buildah: medians of ${trials} trial(s); ${os.cpus().length} cpus; wall/cpu in s, peak RSS in MB, registry MB read/written`);
    say(table(rows));
    say("\ntargets (kiln ÷ buildah unless stated):");
    for (const t of tgs) say(`  ${t.name.padEnd(46)} ${verdict(t)}`);
    const retried = samples.filter((s) => s.attempts > 1);
    if (retried.length) say(`\nretried after a failure: ${retried.map((s) => `${s.bench} ${s.scenario} ${s.builder} trial ${s.trial}`).join("; ")}`);
    for (const f of failures) say(`FAILED ${ATTEMPTS_NOTE} ${f.bench} ${f.scenario} ${f.builder} trial ${f.trial}: ${f.errors.at(-1)?.split("\n").slice(-2).join(" | ")}`);
    progress(`done in ${((performance.now() - t0) / 1000).toFixed(0)}s`);
    return { options: { only, scenarios, trials }, rows, targets: tgs, samples, failures };
  } finally {
    await reg.stop();
    cleanup();
  }
}

const ATTEMPTS_NOTE = "(every attempt)";
const started = new Date().toISOString();
function save(body: Record<string, unknown>): Record<string, unknown> {
  const doc = { kind: micro ? "kiln-bench-micro" : "kiln-bench", started, machine: machine(), ...body };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(doc, null, 2) + "\n");
  return doc;
}
const doc = save(micro ? { micro: await runMicro(say, progress) } : await builds());
progress(`wrote ${outFile}`);
if (asJson) console.log(JSON.stringify(doc, null, 2));
