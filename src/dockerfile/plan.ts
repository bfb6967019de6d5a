// Stages and their graph: global ARGs, FROM expansion, stage references by name or
// index, and pruning to what --target needs.
import { DockerfileError, UsageError } from "../util/errors.ts";
import type { Dockerfile, EscapeToken, Instruction } from "./ast.ts";
import { parseCommand, type Command } from "./commands.ts";
import { LexError, ShellLex } from "./lexer.ts";
import { checkBuildable, parsePlatform } from "../image/platform.ts";
import { hostPlatform, platformArgs, platformSpec, type PlatformSpec } from "./platform.ts";

export interface PlanOptions {
  /** --build-arg values. */
  buildArgs?: Record<string, string>;
  /** Name (case-insensitive) of the stage to build; default: the last stage. */
  target?: string;
  /** Target platform (TARGETPLATFORM); default: the build platform. */
  platform?: PlatformSpec;
  /** Build platform (BUILDPLATFORM); default: the machine kiln runs on. */
  buildPlatform?: PlatformSpec;
  /**
   * --skip-unused-stages. true (the default, as BuildKit and buildah): order holds only the stages
   * the target needs. false (kaniko's default): every stage up to the target, in file order. The
   * image is the same either way; false only adds the unused stages' time and side effects.
   */
  skipUnusedStages?: boolean;
}

/** What `COPY --from=` / `RUN --mount=from=` refers to. */
export type StageRef = { stage: number } | { image: string };

export interface PlannedStage {
  index: number;
  /** `AS name`, lower-cased. */
  name?: string;
  from: Instruction;
  /** FROM's image expanded with the global ARGs (the stage name when baseStage is set). */
  base: string;
  /** Set when FROM names an earlier stage. */
  baseStage?: number;
  /** FROM scratch. */
  scratch: boolean;
  /** --platform of FROM, expanded and parsed. */
  platform?: PlatformSpec;
  /** The instructions after FROM, raw. */
  instructions: Instruction[];
  /** Stages this one needs: its base stage and COPY --from / RUN --mount from= stages. */
  dependsOn: number[];
  /** Images named by COPY --from or RUN --mount from= (not stages). */
  imageRefs: string[];
  /** Whether building the target needs this stage. */
  needed: boolean;
}

export interface BuildPlan {
  dockerfile: Dockerfile;
  file: string;
  escapeToken: EscapeToken;
  stages: PlannedStage[];
  /** Index of the target stage. */
  target: number;
  /** Indices of the stages to build, in build order: the needed ones, or all up to the target (skipUnusedStages false). */
  order: number[];
  /** Predefined platform args and ARGs before the first FROM, after --build-arg. */
  globalArgs: Map<string, string>;
  buildArgs: Record<string, string>;
  targetPlatform: PlatformSpec;
  buildPlatform: PlatformSpec;
  /** Resolved `--from` of COPY instructions and `from=` of RUN mounts. */
  refs: Map<Instruction, StageRef[]>;
}

/** The declared defaults and --build-arg overrides of ARGs before the first FROM. */
function globalArgs(
  meta: { ins: Instruction; cmd: Extract<Command, { kind: "arg" }> }[],
  buildArgs: Record<string, string>,
  defaults: [string, string][],
  lex: ShellLex,
): Map<string, string> {
  const env = new Map<string, string>();
  for (const [k, v] of defaults) env.set(k, Object.hasOwn(buildArgs, k) ? buildArgs[k]! : v);
  for (const { ins, cmd } of meta) {
    for (const a of cmd.args) {
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
      else if (a.value !== undefined) value = expandAt(lex, a.value, env, ins);
      if (value !== undefined) env.set(a.key, value);
    }
  }
  return env;
}

export function expandAt(lex: ShellLex, word: string, env: Map<string, string>, ins: Instruction): string {
  try {
    return lex.processWord(word, env);
  } catch (e) {
    if (e instanceof LexError) throw new DockerfileError(e.message, ins.line, ins.file);
    throw e;
  }
}

/** RUN --mount values (CSV of key=value) that name a `from=`. */
export function mountFroms(mounts: string[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    for (const field of m.split(",")) {
      const eq = field.indexOf("=");
      if (eq > 0 && field.slice(0, eq).trim().toLowerCase() === "from") out.push(field.slice(eq + 1).trim());
    }
  }
  return out;
}

/** Resolve a `--from` value: a stage index, a stage name (case-insensitive) or an image. */
export function resolveStageRef(stages: { name?: string }[], text: string): StageRef {
  if (/^[+-]?\d+$/.test(text)) return { stage: Number(text) };
  const lower = text.toLowerCase();
  const idx = stages.findIndex((s) => s.name === lower);
  return idx >= 0 ? { stage: idx } : { image: text };
}

/**
 * Split a parsed Dockerfile into stages, expand FROM lines with the global ARGs, resolve
 * stage references and mark the stages the target needs. Every instruction is checked.
 */
export function planBuild(ast: Dockerfile, opts: PlanOptions = {}): BuildPlan {
  const buildArgs = opts.buildArgs ?? {};
  const lex = new ShellLex(ast.escapeToken);
  const meta: { ins: Instruction; cmd: Extract<Command, { kind: "arg" }> }[] = [];
  const raw: { from: Instruction; cmd: Extract<Command, { kind: "from" }>; instructions: Instruction[] }[] = [];

  for (const ins of ast.instructions) {
    const cmd = parseCommand(ins);
    if (cmd.kind === "from") raw.push({ from: ins, cmd, instructions: [] });
    else if (raw.length > 0) raw[raw.length - 1]!.instructions.push(ins);
    else if (cmd.kind === "arg") meta.push({ ins, cmd });
    else {
      throw new DockerfileError(
        `${ins.rawKeyword.toUpperCase()} before the first FROM: no build stage in current context`, ins.line, ins.file,
      );
    }
  }
  if (raw.length === 0) {
    throw new DockerfileError("dockerfile contains no stages to build (no FROM instruction)", ast.endLine, ast.file);
  }

  // The target is chosen first because TARGETSTAGE names it.
  let target = raw.length - 1;
  if (opts.target !== undefined) {
    const want = opts.target.toLowerCase();
    target = raw.findIndex((r) => r.cmd.name === want);
    if (target < 0) throw new UsageError(`flag --target: target stage "${opts.target}" could not be found`);
  }

  const buildPlatform = opts.buildPlatform ?? hostPlatform();
  const targetPlatform = opts.platform ?? buildPlatform;
  const targetName = raw[target]!.cmd.name ?? "";
  const globals = globalArgs(meta, buildArgs, platformArgs(buildPlatform, targetPlatform, targetName), lex);

  const stages: PlannedStage[] = raw.map((r, index) => {
    const base = expandAt(lex, r.cmd.base, globals, r.from);
    if (base === "") throw new DockerfileError(`base name (${r.cmd.base}) should not be blank`, r.from.line, r.from.file);
    const lower = base.toLowerCase();
    const earlier = raw.slice(0, index).findIndex((p) => p.cmd.name === lower);
    let platform: PlatformSpec | undefined;
    if (r.cmd.platform !== undefined) {
      const text = expandAt(lex, r.cmd.platform, globals, r.from);
      if (text === "") {
        throw new DockerfileError(`empty platform value from expression ${r.cmd.platform}`, r.from.line, r.from.file);
      }
      try {
        const p = parsePlatform(text);
        checkBuildable(p);
        platform = platformSpec(p);
      } catch (e) {
        throw new DockerfileError(`FROM --platform=${r.cmd.platform}: ${(e as Error).message}`, r.from.line, r.from.file);
      }
    }
    return {
      index, name: r.cmd.name, from: r.from, base, baseStage: earlier >= 0 ? earlier : undefined,
      scratch: earlier < 0 && base === "scratch", platform, instructions: r.instructions,
      dependsOn: earlier >= 0 ? [earlier] : [], imageRefs: [], needed: false,
    };
  });

  const refs = new Map<Instruction, StageRef[]>();
  for (const st of stages) {
    for (const ins of st.instructions) {
      const cmd = parseCommand(ins);
      let froms: string[] = [];
      if (cmd.kind === "copy" && cmd.from !== undefined) froms = [cmd.from];
      else if (cmd.kind === "run") froms = mountFroms(cmd.mounts);
      if (froms.length === 0) continue;
      const resolved = froms.map((f) => {
        const text = expandAt(lex, f, globals, ins);
        const ref = resolveStageRef(stages, text);
        if ("stage" in ref) {
          if (ref.stage < 0 || ref.stage >= stages.length) {
            throw new DockerfileError(`invalid stage index ${ref.stage}`, ins.line, ins.file);
          }
          if (ref.stage === st.index) {
            throw new DockerfileError(`circular dependency: stage ${describe(st)} refers to itself (--from=${f})`, ins.line, ins.file);
          }
          if (ref.stage > st.index) {
            throw new DockerfileError(
              `cannot copy from stage ${describe(stages[ref.stage]!)}, it needs to be defined before current stage ${describe(st)}`,
              ins.line, ins.file,
            );
          }
          if (!st.dependsOn.includes(ref.stage)) st.dependsOn.push(ref.stage);
        } else if (!st.imageRefs.includes(ref.image)) st.imageRefs.push(ref.image);
        return ref;
      });
      refs.set(ins, resolved);
    }
  }

  const visit = (i: number) => {
    const st = stages[i]!;
    if (st.needed) return;
    st.needed = true;
    st.dependsOn.forEach(visit);
  };
  visit(target);

  return {
    dockerfile: ast, file: ast.file, escapeToken: ast.escapeToken, stages, target,
    order: stages.filter((s) => (opts.skipUnusedStages === false ? s.index <= target : s.needed)).map((s) => s.index),
    globalArgs: globals, buildArgs, targetPlatform, buildPlatform, refs,
  };
}

function describe(st: PlannedStage): string {
  return JSON.stringify(st.name ?? `stage-${st.index}`);
}
