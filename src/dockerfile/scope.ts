// Per-stage variables, driven step by step by the executor: the base image's Env comes
// first, then ARG and ENV as the stage runs, so `WORKDIR $HOME` sees the image's HOME.
import { posix } from "node:path";
import { DockerfileError } from "../util/errors.ts";
import type { Instruction } from "./ast.ts";
import { parseCommand } from "./commands.ts";
import type { Expanded, ExpandedCopy, ExpandedRun, InlineFile } from "./expanded.ts";
import { chompHeredoc, parseHeredocWord } from "./heredoc.ts";
import { LexError, ShellLex } from "./lexer.ts";
import { expandAt, mountFroms, resolveStageRef, type BuildPlan, type PlannedStage, type StageRef } from "./plan.ts";
import { PROXY_ARGS } from "./platform.ts";
import { isValidSignal } from "./signals.ts";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** What a stage inherits from its base image's config. */
export interface BaseConfig {
  /** Config Env, "K=V". */
  env?: string[];
  /** Config Shell. */
  shell?: string[];
  /** Config WorkingDir. */
  workdir?: string;
}

// Heredoc bodies expand variables but treat quotes as plain text.
const heredocLex = new ShellLex("\\", { skipProcessQuotes: true });
const PORT = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i;

function splitEnv(entries: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of entries) {
    const eq = e.indexOf("=");
    if (eq < 0) m.set(e, "");
    else m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return m;
}

const toList = (m: Map<string, string>) => Array.from(m, ([k, v]) => `${k}=${v}`);

export class StageScope {
  readonly stage: PlannedStage;
  /** Shell for shell-form RUN/CMD/ENTRYPOINT (changed by SHELL). */
  shell: string[];
  /** Current working directory (absolute). */
  workdir: string;
  private lex: ShellLex;
  /** The build environment: image Env, ENV and ARG values; last write wins, as in BuildKit. */
  private vars: Map<string, string>;
  /** The image config Env: only the base image's Env and ENV. */
  private config: Map<string, string>;
  /** ARGs declared in this stage (and in the stage it is built on). */
  private args: Map<string, string | undefined>;

  /**
   * @param base the base image's config (or just its Env), or, for `FROM <stage>`, the
   *   finished scope of that stage, whose variables and declared ARGs carry over.
   */
  constructor(
    readonly plan: BuildPlan,
    stage: number | PlannedStage,
    base: string[] | BaseConfig | StageScope = [],
  ) {
    this.stage = typeof stage === "number" ? plan.stages[stage]! : stage;
    this.lex = new ShellLex(plan.escapeToken);
    if (base instanceof StageScope) {
      this.vars = new Map(base.vars);
      this.config = new Map(base.config);
      this.args = new Map(base.args);
      this.shell = [...base.shell];
      this.workdir = base.workdir;
      return;
    }
    const cfg: BaseConfig = Array.isArray(base) ? { env: base } : base;
    this.config = splitEnv(cfg.env ?? []);
    if (!this.config.has("PATH")) this.config.set("PATH", DEFAULT_PATH);
    this.vars = new Map(this.config);
    this.args = new Map();
    this.shell = cfg.shell && cfg.shell.length > 0 ? [...cfg.shell] : [...DEFAULT_SHELL];
    this.workdir = cfg.workdir || "/";
  }

  /** A copy to continue from (e.g. for a stage built FROM this one). */
  clone(): StageScope {
    return new StageScope(this.plan, this.stage, this);
  }

  /** Image config Env after the instructions expanded so far ("K=V"). */
  env(): string[] {
    return toList(this.config);
  }

  /** Environment for RUN and for expansion: config Env plus ARG values ("K=V"). */
  buildEnv(): string[] {
    return toList(this.vars);
  }

  /** ARGs declared in this stage that have a value. */
  visibleArgs(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.args) if (v !== undefined) out[k] = v;
    return out;
  }

  /** Proxy variables from --build-arg, which RUN gets without an ARG. */
  proxyEnv(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.plan.buildArgs)) if (PROXY_ARGS.has(k)) out[k] = v;
    return out;
  }

  /** Current value of a variable as instructions see it. */
  lookup(name: string): string | undefined {
    return this.vars.get(name);
  }

  expandWord(word: string, ins?: Instruction): string {
    return this.wrap(ins, () => this.lex.processWord(word, this.vars));
  }

  expandWords(word: string, ins?: Instruction): string[] {
    return this.wrap(ins, () => this.lex.processWords(word, this.vars));
  }

  private wrap<T>(ins: Instruction | undefined, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof LexError) {
        throw new DockerfileError(e.message, ins?.line ?? this.stage.from.line, ins?.file ?? this.plan.file);
      }
      throw e;
    }
  }

  private refsFor(ins: Instruction, froms: string[]): StageRef[] {
    const known = this.plan.refs.get(ins);
    if (known) return known;
    // ONBUILD triggers from an image were not planned: resolve them now.
    return froms.map((f) => resolveStageRef(this.plan.stages, expandAt(this.lex, f, this.plan.globalArgs, ins)));
  }

  /**
   * Expand one instruction of this stage and apply its effect on the scope (ENV, ARG,
   * SHELL, WORKDIR). Throws DockerfileError at the instruction's line.
   */
  expand(ins: Instruction): Expanded {
    const cmd = parseCommand(ins);
    const loc = { line: ins.line, endLine: ins.endLine, original: ins.original };
    const word = (w: string) => this.expandWord(w, ins);
    const fail = (msg: string): never => {
      throw new DockerfileError(msg, ins.line, ins.file);
    };
    switch (cmd.kind) {
      case "from":
        return fail("FROM starts a new stage; it is not expanded in a stage scope");
      case "run":
        return this.run(ins, cmd, loc);
      case "copy":
      case "add": {
        let from: string | undefined;
        let fromRef: StageRef | undefined;
        if (cmd.from !== undefined) {
          fromRef = this.refsFor(ins, [cmd.from])[0];
          from = expandAt(this.lex, cmd.from, this.plan.globalArgs, ins);
        }
        const out: ExpandedCopy = {
          kind: cmd.kind, ...loc,
          sources: cmd.sources.map(word),
          heredocSources: cmd.heredocSources.map((h) => {
            const data = h.chomp ? chompHeredoc(h.content) : h.content;
            return { name: h.name, data: h.expand ? this.wrap(ins, () => heredocLex.processWord(data, this.vars)) : data };
          }),
          dest: word(cmd.dest),
          from, fromRef,
          chown: cmd.chown === undefined ? undefined : word(cmd.chown),
          chmod: cmd.chmod === undefined ? undefined : word(cmd.chmod),
          link: cmd.link, parents: cmd.parents,
          exclude: cmd.exclude.map(word),
          checksum: cmd.checksum === undefined ? undefined : word(cmd.checksum),
          keepGitDir: cmd.keepGitDir, unpack: cmd.unpack,
        };
        return out;
      }
      case "env": {
        // Every value on the line sees the variables as they were before the line.
        const vars = cmd.pairs.map(([k, v]): [string, string] => [word(k), word(v)]);
        for (const [k, v] of vars) {
          if (k === "") fail("ENV names can not be blank");
          this.vars.set(k, v);
          this.config.set(k, v);
        }
        return { kind: "env", ...loc, vars };
      }
      case "arg": {
        const args: { key: string; value?: string }[] = [];
        for (const a of cmd.args) {
          // BuildKit expands the name as well as the value (ArgCommand.Expand).
          const key = word(a.key);
          if (key === "") fail(`ARG names can not be blank (${a.key} expands to nothing)`);
          let value: string | undefined;
          if (Object.hasOwn(this.plan.buildArgs, key)) value = this.plan.buildArgs[key];
          else if (a.value !== undefined) value = word(a.value);
          else value = this.plan.globalArgs.get(key);
          if (value !== undefined) this.vars.set(key, value);
          this.args.set(key, value);
          args.push(value === undefined ? { key } : { key, value });
        }
        return { kind: "arg", ...loc, args };
      }
      case "label":
        return { kind: "label", ...loc, labels: cmd.pairs.map(([k, v]): [string, string] => [word(k), word(v)]) };
      case "workdir": {
        const p = word(cmd.path);
        if (p === "") fail("WORKDIR path can not be empty");
        this.workdir = p.startsWith("/") ? p : posix.join("/", this.workdir, p);
        return { kind: "workdir", ...loc, path: this.workdir };
      }
      case "user":
        return { kind: "user", ...loc, user: word(cmd.user) };
      case "expose": {
        const ports: string[] = [];
        for (const a of cmd.ports) {
          for (const p of this.expandWords(a, ins)) {
            const m = PORT.exec(p);
            if (!m) fail(`invalid port in EXPOSE: ${JSON.stringify(p)} (expected port[/tcp|udp|sctp])`);
            // Ports are 16-bit, and a range must not run backwards (Docker's nat.ParsePortRange).
            if (Number(m![1]) > 65535 || Number(m![2] ?? 0) > 65535) fail(`invalid port in EXPOSE: ${JSON.stringify(p)} (ports are 0-65535)`);
            if (m![2] !== undefined && Number(m![2]) < Number(m![1])) fail(`invalid port range in EXPOSE: ${JSON.stringify(p)} (end before start)`);
            ports.push(`${m![2] ? `${m![1]}-${m![2]}` : m![1]}/${(m![3] ?? "tcp").toLowerCase()}`);
          }
        }
        return { kind: "expose", ...loc, ports };
      }
      case "volume":
        return {
          kind: "volume", ...loc,
          paths: cmd.paths.map((p) => {
            const v = word(p);
            if (v === "") fail("VOLUME specified can not be an empty string");
            return v;
          }),
        };
      case "cmd":
      case "entrypoint": {
        let argv: string[] | null;
        if (cmd.json) argv = cmd.kind === "entrypoint" && cmd.args.length === 0 ? null : cmd.args;
        else if (cmd.args.length === 0) argv = cmd.kind === "entrypoint" ? null : [];
        else argv = [...this.shell, cmd.args[0]!];
        return { kind: cmd.kind, ...loc, json: cmd.json, args: cmd.args, argv };
      }
      case "shell":
        this.shell = [...cmd.shell];
        return { kind: "shell", ...loc, shell: cmd.shell };
      case "healthcheck":
        return { kind: "healthcheck", ...loc, healthcheck: cmd.config };
      case "stopsignal": {
        const signal = word(cmd.signal);
        if (!isValidSignal(signal)) fail(`Invalid signal: ${signal}`);
        return { kind: "stopsignal", ...loc, signal };
      }
      case "onbuild":
        return { kind: "onbuild", ...loc, expression: cmd.expression, trigger: cmd.trigger };
      case "maintainer":
        return { kind: "maintainer", ...loc, name: cmd.name };
    }
  }

  private run(
    ins: Instruction,
    cmd: Extract<ReturnType<typeof parseCommand>, { kind: "run" }>,
    loc: { line: number; endLine: number; original: string },
  ): ExpandedRun {
    const files: InlineFile[] = [];
    let argv: string[];
    if (cmd.json) argv = cmd.args;
    else if (cmd.heredocs.length === 0) argv = [...this.shell, cmd.args[0]!];
    else {
      if (cmd.args.length !== 1) throw new DockerfileError("parsing produced an invalid run command", ins.line, ins.file);
      const first = cmd.heredocs[0]!;
      if (cmd.heredocs.length === 1 && parseHeredocWord(cmd.args[0]!)) {
        // `RUN <<EOF`: the body is the script; with #! it runs as a file, else via the shell.
        const data = first.chomp ? chompHeredoc(first.content) : first.content;
        if (data.startsWith("#!")) {
          const path = posix.join("/dev/pipes", first.name);
          files.push({ path, data, mode: 0o755 });
          argv = [path];
        } else argv = [...this.shell, data];
      } else {
        // Any other heredoc use goes to the shell as a here-document.
        let full = cmd.args[0]!;
        for (const h of cmd.heredocs) full += "\n" + h.content + h.name;
        argv = [...this.shell, full];
      }
    }
    const froms = mountFroms(cmd.mounts);
    return {
      kind: "run", ...loc, json: cmd.json, args: cmd.args, argv, heredocs: cmd.heredocs, files,
      mounts: cmd.mounts, mountFrom: froms.length > 0 ? this.refsFor(ins, froms) : [],
      network: cmd.network, security: cmd.security, devices: cmd.devices,
      env: this.buildEnv(), buildArgs: this.visibleArgs(), proxyEnv: this.proxyEnv(),
    };
  }
}
