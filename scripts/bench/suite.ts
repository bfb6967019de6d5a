// The Dockerfiles (bench/<name>/) and the scenarios run on each, for both builders.
// Each (bench, trial, builder) has its own context copy and its own empty cache repository, so
// trials never see each other's cache; within a trial the scenarios run in order
// cold → warm-remote → changed → nocache, and each scenario alternates which builder goes first.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
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
}

export async function runBench(b: Bench, env: SuiteEnv, onSample: (s: Sample) => void): Promise<void> {
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
      const scratch = join(env.work, "runs", `${b.name}-${scenario}-${who}-${t}`);
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
          env.log(`${b.name.padEnd(10)} ${scenario.padEnd(11)} ${who.padEnd(7)} trial ${t}: ${result.wall.toFixed(2)}s wall, ${result.cpu.toFixed(2)}s cpu, ${result.rssMB.toFixed(0)} MB, cache ${result.hits}/${result.steps}`);
          onSample({ bench: b.name, scenario, builder: who, trial: t, result });
        }
      } finally {
        if (env.logsDir) {
          mkdirSync(env.logsDir, { recursive: true });
          if (existsSync(join(scratch, `${who}.log`))) copyFileSync(join(scratch, `${who}.log`), join(env.logsDir, `${b.name}-${scenario}-${who}-${t}.log`));
        }
        removeScratch(scratch);
        await settle();
      }
    };
    if (needsFill) for (const who of order) await once(who, "fill");
    for (const scenario of wanted) for (const who of order) await once(who, scenario);
    for (const dir of ctx.values()) removeScratch(dir);
  }
}

// Deleting a big tree on this VM's ext4 (mounted with discard) slows file creation for a few
// seconds afterwards (see scripts/bench-fs.ts); flush and wait so it never lands on the next run.
async function settle(): Promise<void> {
  spawnSync("sync");
  await new Promise((res) => setTimeout(res, 1000));
}
