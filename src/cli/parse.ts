// `kiln parse`: show how kiln reads a Dockerfile (stages, expanded instructions), or
// print BuildKit's AST dump with --dump.
import { Command } from "@commander-js/extra-typings";
import { readFile } from "node:fs/promises";
import process from "node:process";
import {
  dumpDockerfile, formatExpanded, formatPlatform, parseDockerfile, planBuild, platformSpec, StageScope,
  type BuildPlan, type Expanded,
} from "../dockerfile/index.ts";
import { parsePlatformFlag } from "../image/platform.ts";
import { UsageError, KilnError } from "../util/errors.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

/** --build-arg K=V; a bare K takes its value from the environment, as docker does. */
function buildArgs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq === 0) throw new UsageError(`--build-arg ${JSON.stringify(item)}: missing name`);
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (process.env[item] !== undefined) out[item] = process.env[item]!;
  }
  return out;
}

async function readDockerfile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new KilnError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

interface StageReport {
  index: number;
  name?: string;
  base: string;
  baseStage?: number;
  scratch: boolean;
  platform?: string;
  line: number;
  dependsOn: number[];
  imageRefs: string[];
  needed: boolean;
  /** Expanded instructions (needed stages only: BuildKit never evaluates the others). */
  instructions?: Expanded[];
  /** Instructions as written, for stages the target does not need. */
  raw?: { line: number; original: string }[];
}

/** Expand every needed stage with only Dockerfile-level ARG/ENV (no base image is pulled). */
export function describePlan(plan: BuildPlan): StageReport[] {
  const finished = new Map<number, StageScope>();
  return plan.stages.map((st) => {
    const report: StageReport = {
      index: st.index, name: st.name, base: st.base, baseStage: st.baseStage, scratch: st.scratch,
      platform: st.platform && formatPlatform(st.platform), line: st.from.line,
      dependsOn: st.dependsOn, imageRefs: st.imageRefs, needed: st.needed,
    };
    if (!st.needed) {
      report.raw = st.instructions.map((i) => ({ line: i.line, original: i.original }));
      return report;
    }
    const parent = st.baseStage !== undefined ? finished.get(st.baseStage) : undefined;
    const scope = new StageScope(plan, st, parent ?? []);
    report.instructions = st.instructions.map((i) => scope.expand(i));
    finished.set(st.index, scope);
    return report;
  });
}

function human(plan: BuildPlan, stages: StageReport[]): string {
  const lines: string[] = [];
  const label = (s: { index: number; name?: string }) => (s.name ? `${s.index} (${s.name})` : `${s.index}`);
  for (const s of stages) {
    const from = s.baseStage !== undefined ? `stage ${label(plan.stages[s.baseStage]!)}` : s.base;
    const notes = [
      s.platform ? `platform ${s.platform}` : "",
      s.dependsOn.length ? `needs stages ${s.dependsOn.join(", ")}` : "",
      s.imageRefs.length ? `copies from images ${s.imageRefs.join(", ")}` : "",
      s.index === plan.target ? "target" : s.needed ? "" : "not needed for the target",
    ].filter(Boolean);
    lines.push(`stage ${label(s)}: FROM ${from}${notes.length ? `  [${notes.join("; ")}]` : ""}`);
    for (const e of s.instructions ?? []) lines.push(`  ${String(e.line).padStart(4)}  ${formatExpanded(e)}`);
    for (const r of s.raw ?? []) lines.push(`  ${String(r.line).padStart(4)}  (skipped) ${r.original.trim()}`);
  }
  return lines.join("\n");
}

export function parseCommand() {
  return new Command("parse")
    .description("parse a Dockerfile and print its stages and expanded instructions")
    .argument("<file>", "the Dockerfile")
    .option("--dump", "print BuildKit's AST dump of the file instead")
    .option("--json", "print machine-readable JSON")
    .option("--build-arg <KEY=VALUE>", "set a build argument (repeatable)", collect, [] as string[])
    .option("--target <stage>", "the stage to build; stages it does not need are skipped")
    .option("--platform <os/arch[/variant]>", "target platform (TARGETPLATFORM)")
    .action(async (file, opts) => {
      const ast = parseDockerfile(await readDockerfile(file), file);
      if (opts.dump) {
        process.stdout.write(dumpDockerfile(ast));
        return;
      }
      const platform = opts.platform ? platformSpec(parsePlatformFlag("--platform", opts.platform, { build: true })) : undefined;
      const plan = planBuild(ast, { buildArgs: buildArgs(opts.buildArg), target: opts.target, platform });
      const stages = describePlan(plan);
      if (opts.json) {
        const out = {
          file, escapeToken: ast.escapeToken, directives: ast.directives, target: plan.target,
          targetPlatform: formatPlatform(plan.targetPlatform), buildPlatform: formatPlatform(plan.buildPlatform),
          globalArgs: Object.fromEntries(plan.globalArgs), warnings: ast.warnings, stages,
        };
        process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      } else {
        for (const w of ast.warnings) process.stderr.write(`kiln: warning: ${w}\n`);
        process.stdout.write(human(plan, stages) + "\n");
      }
    });
}
