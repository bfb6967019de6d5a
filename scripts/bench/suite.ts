// The Dockerfiles (bench/<name>/) and the scenarios run on each, for both builders.
// Each (bench, trial, builder) has its own context copy and its own empty cache repository, so
// trials never see each other's cache; within a trial the scenarios run in order
// cold → warm-remote → changed → nocache, and each scenario alternates which builder goes first.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, removeScratch, runBuild, type BuilderName, type RunResult } from "./builders.ts";

export type BaseName = "busybox" | "debian" | "fat-base";
export type Scenario = "cold" | "warm-remote" | "changed" | "nocache";
export const SCENARIOS: Scenario[] = ["cold", "warm-remote", "changed", "nocache"];
export const BUILDERS: BuilderName[] = ["kiln", "buildah"];

export interface Bench {
  name: string;
  base: BaseName;
  /** Context file the "changed" scenario rewrites; without one the scenario is skipped. */
  changeFile?: string;
}

export const BENCHES: Bench[] = [
  { name: "small", base: "busybox", changeFile: "src/edit-me.txt" },
  { name: "apt", base: "debian", changeFile: "edit-me.txt" },
  { name: "big", base: "debian", changeFile: "edit-me.txt" },
  { name: "many-steps", base: "busybox", changeFile: "edit-me.txt" },
  { name: "fat-base", base: "fat-base" },
];

export interface SuiteEnv {
  registry: { host: string; logFile: string; dataDir: string };
  bases: Record<BaseName, string | undefined>;
  /** Contexts and every run's scratch directory go here (scratch-fs.ts). */
  work: string;
  trials: number;
  scenarios: Scenario[];
  log: (m: string) => void;
  /** Keep each run's output here (as <bench>-<scenario>-<builder>-<trial>.log). */
  logsDir?: string;
}

export interface Sample {
  bench: string;
  scenario: Scenario;
  builder: BuilderName;
  trial: number;
  result: RunResult;
  /** 1 unless earlier attempts failed (see Failure). */
  attempts: number;
}

export interface Failure {
  bench: string;
  scenario: Scenario | "fill";
  builder: BuilderName;
  trial: number;
  errors: string[];
}

const ATTEMPTS = 3;

export async function runBench(b: Bench, env: SuiteEnv, onSample: (s: Sample) => void, onFailure: (f: Failure) => void): Promise<void> {
  const base = env.bases[b.base];
  if (!base) throw new Error(`${b.name}: base image ${b.base} was not pushed`);
  const wanted = env.scenarios.filter((s) => s !== "changed" || b.changeFile);
  const needsFill = !wanted.includes("cold") && wanted.some((s) => s === "warm-remote" || s === "changed");
  for (let t = 1; t <= env.trials; t++) {
    const order: BuilderName[] = t % 2 === 1 ? BUILDERS : [...BUILDERS].reverse();
    const ctx = new Map<BuilderName, string>();
    for (const who of BUILDERS) {
      const dir = join(env.work, "ctx", `${b.name}-${who}-${t}`);
      cpSync(join(REPO, "bench", b.name), dir, { recursive: true });
      ctx.set(who, dir);
    }
    const cacheRepo = (who: BuilderName) => `${env.registry.host}/bench-cache/${b.name}-${who}-t${t}`;
    const once = async (who: BuilderName, scenario: Scenario | "fill") => {
      if (scenario === "changed") writeFileSync(join(ctx.get(who)!, b.changeFile!), `changed in trial ${t} at ${new Date().toISOString()}\n`);
      // buildah 1.28 now and then fails a RUN with "Close_Fd sealing memfd copy: Device or
      // resource busy"; a flake must not cost the whole run, so retry, then record and go on.
      const errors: string[] = [];
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        const scratch = join(env.work, "runs", `${b.name}-${scenario}-${who}-${t}-${attempt}`);
        mkdirSync(scratch, { recursive: true });
        try {
          const result = await runBuild({
            builder: who,
            context: ctx.get(who)!,
            destination: `${env.registry.host}/bench/${b.name}:${who}-${scenario}-${t}`,
            cacheRepo: scenario === "nocache" ? undefined : cacheRepo(who),
            buildArgs: { BASE: base },
            scratch,
            registry: env.registry,
          });
          if (scenario !== "fill") {
            env.log(`${b.name.padEnd(10)} ${scenario.padEnd(11)} ${who.padEnd(7)} trial ${t}: ${result.wall.toFixed(2)}s wall, ${result.cpu.toFixed(2)}s cpu, ${result.rssMB.toFixed(0)} MB, cache ${result.hits}/${result.steps}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
            onSample({ bench: b.name, scenario, builder: who, trial: t, result, attempts: attempt });
          }
          return;
        } catch (e) {
          errors.push((e as Error).message);
          env.log(`${b.name} ${scenario} ${who} trial ${t} attempt ${attempt} failed: ${(e as Error).message.split("\n").slice(-3).join(" | ")}`);
        } finally {
          if (env.logsDir) {
            mkdirSync(env.logsDir, { recursive: true });
            const log = join(scratch, `${who}.log`);
            if (existsSync(log)) copyFileSync(log, join(env.logsDir, `${b.name}-${scenario}-${who}-${t}${attempt > 1 ? `-attempt${attempt}` : ""}.log`));
          }
          removeScratch(scratch);
          await settle();
        }
      }
      onFailure({ bench: b.name, scenario, builder: who, trial: t, errors });
    };
    if (needsFill) for (const who of order) await once(who, "fill");
    for (const scenario of wanted) for (const who of order) await once(who, scenario);
    for (const dir of ctx.values()) removeScratch(dir);
  }
}

// Deleting a big tree on this VM's ext4 (mounted with discard) slows file creation for several
// seconds afterwards (see scripts/bench-fs.ts): ext4 sends the discards at its next journal commit.
// So after each run: sync, then wait until the disks have been idle (no writes, discards or I/O in
// flight, per /proc/diskstats) for 1.5 s, at most 30 s, so the tail never lands on the next run.
async function settle(): Promise<void> {
  spawnSync("sync");
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const activity = (): string => {
    try {
      // fields: 8 writes completed, 12 I/Os in flight, 15 discards completed (kernel ≥ 4.18)
      return readFileSync("/proc/diskstats", "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/)).map((f) => `${f[7]}:${f[11]}:${f[14] ?? ""}`).join(",");
    } catch {
      return "";
    }
  };
  const deadline = Date.now() + 30_000;
  let last = activity();
  let quietSince = Date.now();
  await sleep(500);
  while (Date.now() < deadline) {
    const now = activity();
    if (now !== last) quietSince = Date.now();
    else if (Date.now() - quietSince >= 1500) return;
    last = now;
    await sleep(250);
  }
}
