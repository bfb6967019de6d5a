// The fixed costs of a cold build's steps, timed by kiln itself (issue 19): real builds of
// generated Dockerfiles, each step's time and phases read from kiln's own step-done, cache-put
// and timing events (--log-format json -v debug), so the code timed is the executor's.
//   bun scripts/bench-steps.ts [--binary PATH | --source] [--steps 20] [--builds 5]
// Prints, each as a median:
//   per-RUN overhead   `RUN true`: step start → snapshot done, minus `sh -c true` run directly (chroot);
//                      its target line is the default snapshot mode's (overlay where it works)
//   one-file COPY      step start → layer written
//   snapshot           after a one-file change, with --snapshot-mode walk and overlay (when it works)
//   layer / cache write of a tiny layer (the layer phase; the background cache put)
//   push               the end-of-build push of a small image
//   cold small, cold many-steps: where each build's time goes, phase by phase
// and a `target <name> met|missed …` line per target of scripts/bench/targets.ts.
// Needs root (RUN), docker-registry and skopeo (base images), as scripts/bench.ts.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRegistry } from "./registry.ts";
import { cachedLayer, pushBaseImages } from "./base-images.ts";
import { MICRO_TARGETS, target, targetLine } from "./bench/targets.ts";

const REPO = join(import.meta.dirname, "..");
const BUN = join(REPO, "node_modules", ".bin", "bun");
const argv = process.argv.slice(2);
const opt = (n: string) => (argv.indexOf(n) >= 0 ? argv[argv.indexOf(n) + 1] : undefined);
const STEPS = Number(opt("--steps") ?? 20);
const BUILDS = Number(opt("--builds") ?? 5);

type Ev = { event?: string; seconds?: number; phases?: Record<string, number>; ms?: number; msg?: string; step?: number };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f1 = (n: number) => (Number.isNaN(n) ? "n/a" : n.toFixed(1));

const work = mkdtempSync(join(tmpdir(), "kiln-bench-steps-"));
let kiln: string[];
if (argv.includes("--source")) kiln = [BUN, join(REPO, "mod.ts")];
else if (opt("--binary")) kiln = [opt("--binary")!];
else {
  const bin = join(work, "kiln");
  const c = spawnSync(BUN, [join(REPO, "scripts", "compile.ts"), "--outfile", bin], { encoding: "utf8" });
  if (c.status !== 0) throw new Error(`compile failed: ${c.stderr}`);
  kiln = [bin];
}

const reg = await startRegistry();
let run = 0;
/** One cold build (fresh workspace); its JSON events and wall time. */
function build(context: string, extra: string[]): { events: Ev[]; wall: number } {
  const ws = join(work, `ws-${++run}`);
  mkdirSync(ws);
  const t0 = performance.now();
  const r = spawnSync(kiln[0]!, [...kiln.slice(1), "build", "--context", context, "--insecure-registry", reg.host, "--build-arg", `BASE=${reg.host}/busybox:latest`, "--log-format", "json", "-v", "debug", ...extra], {
    cwd: REPO, env: { ...process.env, KILN_WORKDIR: ws }, encoding: "utf8", maxBuffer: 64 << 20,
  });
  const wall = (performance.now() - t0) / 1000;
  rmSync(ws, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`kiln build of ${context} exited ${r.status}: ${r.stderr.split("\n").slice(-5).join("\n")}`);
  const events = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Ev);
  return { events, wall };
}
const stepsDone = (evs: Ev[]) => evs.filter((e) => e.event === "step-done");

function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [f, body] of Object.entries(files)) writeFileSync(join(dir, f), body);
  return dir;
}

/** The command's own time: `sh -c true` in an unpacked busybox, through chroot, as RUN runs it. */
async function directTrue(): Promise<number> {
  const root = join(work, "rootfs");
  mkdirSync(root);
  const { file } = await cachedLayer("busybox");
  const x = spawnSync("tar", ["-xzf", file, "-C", root]);
  if (x.status !== 0) throw new Error(`tar -xzf ${file}: ${x.stderr}`);
  const xs: number[] = [];
  for (let i = 0; i <= STEPS; i++) {
    const t = performance.now();
    const r = spawnSync("chroot", [root, "/bin/sh", "-c", "true"]);
    if (r.status !== 0) throw new Error(`chroot ${root} /bin/sh -c true: ${r.stderr}`);
    if (i > 0) xs.push(performance.now() - t);
  }
  return median(xs);
}

try {
  await pushBaseImages(reg, ["busybox"]);
  const out: string[] = [];
  const say = (l: string) => (console.log(l), out.push(l));

  // RUN true ×(STEPS+1): the first step also unpacks the rootfs, so it is left out.
  const runCtx = context("run", `ARG BASE\nFROM $BASE\n${"RUN true\n".repeat(STEPS + 1)}`);
  const own = await directTrue();
  // The target is the default's (auto: the overlay where it works, else the walk).
  const overhead = new Map<string, number>();
  for (const mode of ["walk", "overlay"]) {
    const b = build(runCtx, ["--no-push", "--snapshot-mode", mode]);
    if (mode === "overlay" && b.events.some((e) => /overlay snapshots unavailable/.test(e.msg ?? ""))) {
      say(`snapshot (overlay): unavailable here, kiln fell back to the walk`);
      continue;
    }
    const steps = stepsDone(b.events).slice(1);
    const stepMs = median(steps.map((e) => e.seconds! * 1000));
    const snap = median(steps.map((e) => e.phases?.snapshot ?? NaN));
    const runMs = median(steps.map((e) => e.phases?.run ?? NaN));
    say(`RUN true [${mode}]: step ${f1(stepMs)} ms (run ${f1(runMs)}, snapshot ${f1(snap)}), sh -c true directly ${f1(own)} ms; median of ${steps.length}`);
    say(`snapshot after a one-file change [${mode}]: ${f1(snap)} ms`);
    overhead.set(mode, stepMs - own);
  }
  say(targetLine(target("per-run-overhead", overhead.get("overlay") ?? overhead.get("walk"), MICRO_TARGETS["per-run-overhead"].limit, "ms")));

  // COPY of one small file ×(STEPS+1), with the cache on and a destination: layer, cache write, push.
  const files: Record<string, string> = {};
  for (let i = 0; i <= STEPS; i++) files[`f${i}.txt`] = `file ${i}\n`.repeat(30);
  const copyCtx = context("copy", `ARG BASE\nFROM $BASE\n${Object.keys(files).map((f) => `COPY ${f} /app/${f}\n`).join("")}`, files);
  const c = build(copyCtx, ["--destination", `${reg.host}/bench-steps/copy:1`, "--cache", "--cache-repo", `${reg.host}/bench-steps/cache`]);
  const copies = stepsDone(c.events).slice(1);
  const copyMs = median(copies.map((e) => e.seconds! * 1000));
  const puts = c.events.filter((e) => e.event === "cache-put").map((e) => e.ms!);
  const timing = c.events.find((e) => e.event === "timing")?.phases ?? {};
  say(`one-file COPY: step ${f1(copyMs)} ms (copy ${f1(median(copies.map((e) => e.phases?.copy ?? NaN)))}, snapshot ${f1(median(copies.map((e) => e.phases?.snapshot ?? NaN)))}, layer write ${f1(median(copies.map((e) => e.phases?.layer ?? NaN)))}); median of ${copies.length}`);
  say(`cache write of a tiny layer (in the background): ${f1(median(puts))} ms median of ${puts.length}; waited for at the end ${f1(timing["cache-wait"] ?? NaN)} ms`);
  say(`push of the image (${STEPS + 2} layers, all but one already in the cache repo): ${f1(timing.outputs ?? NaN)} ms`);
  say(targetLine(target("one-file-copy", copyMs, MICRO_TARGETS["one-file-copy"].limit, "ms")));

  // The bench's cold builds: where the time goes (median per phase of BUILDS builds).
  for (const name of ["small", "many-steps"]) {
    const walls: number[] = [];
    const phases = new Map<string, number[]>();
    const add = (k: string, v: number) => phases.set(k, [...(phases.get(k) ?? []), v]);
    for (let i = 0; i < BUILDS; i++) {
      const ctx = join(work, `${name}-${i}`);
      cpSync(join(REPO, "bench", name), ctx, { recursive: true });
      const b = build(ctx, ["--destination", `${reg.host}/bench-steps/${name}:${i}`, "--cache", "--cache-repo", `${reg.host}/bench-steps/${name}-cache-${i}`]);
      walls.push(b.wall * 1000);
      const sum = new Map<string, number>();
      for (const e of stepsDone(b.events)) for (const [k, v] of Object.entries(e.phases ?? {})) sum.set(k, (sum.get(k) ?? 0) + v);
      for (const [k, v] of Object.entries(b.events.find((e) => e.event === "timing")?.phases ?? {})) add(k, v);
      for (const [k, v] of sum) add(`  ${k}`, v);
    }
    const parts = [...phases].map(([k, v]) => `${k.trim()}${k.startsWith(" ") ? " (steps)" : ""} ${f1(median(v))}`).join(", ");
    say(`cold ${name}: wall ${f1(median(walls))} ms; ${parts} (ms, median of ${BUILDS})`);
  }
  if (out.length === 0) process.exitCode = 1;
} finally {
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
