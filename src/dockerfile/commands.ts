// Typed instructions before variable expansion, with BuildKit's per-instruction checks
// (argument counts, allowed flags). Every error names the instruction's line.
import { DockerfileError } from "../util/errors.ts";
import type { Heredoc, Instruction } from "./ast.ts";
import { INSTRUCTION_FLAGS, parseFlags, type FlagValues } from "./flags.ts";
import { parseGoDuration } from "./go-duration.ts";
import { parseHeredocWord } from "./heredoc.ts";
import { parseMountSpecs } from "./mount-spec.ts";

export interface ArgDecl {
  key: string;
  /** Default as written (unexpanded); undefined for `ARG NAME`. */
  value?: string;
}

export interface HealthcheckConfig {
  /** ["NONE"], ["CMD", ...argv] or ["CMD-SHELL", command] */
  test: string[];
  /** Nanoseconds; 0 means "inherit the default". */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export type Command =
  | { kind: "from"; base: string; name?: string; platform?: string }
  | {
      kind: "run"; args: string[]; json: boolean; heredocs: Heredoc[];
      mounts: string[]; network?: string; security?: string; devices: string[];
    }
  | {
      kind: "copy" | "add"; sources: string[]; heredocSources: Heredoc[]; dest: string; from?: string;
      chown?: string; chmod?: string; link: boolean; parents: boolean; exclude: string[];
      checksum?: string; keepGitDir: boolean; unpack?: boolean;
    }
  | { kind: "env" | "label"; pairs: [string, string][] }
  | { kind: "arg"; args: ArgDecl[] }
  | { kind: "workdir"; path: string }
  | { kind: "user"; user: string }
  | { kind: "expose"; ports: string[] }
  | { kind: "volume"; paths: string[] }
  | { kind: "cmd" | "entrypoint"; args: string[]; json: boolean }
  | { kind: "shell"; shell: string[] }
  | { kind: "healthcheck"; config: HealthcheckConfig }
  | { kind: "stopsignal"; signal: string }
  | { kind: "onbuild"; expression: string; trigger: Instruction }
  | { kind: "maintainer"; name: string };

export type CommandKind = Command["kind"];

const VALID_STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;
const ONBUILD_PREFIX = /^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i;

/** The trigger text ONBUILD stores in the image config (heredoc bodies appended). */
export function onbuildExpression(ins: Instruction): string {
  let text = ins.original.replace(ONBUILD_PREFIX, "");
  for (const h of ins.heredocs) text += "\n" + h.content + h.name;
  return text;
}

/** Shell-form arguments are joined back into one command line (BuildKit's handleJSONArgs). */
function cmdLine(ins: Instruction, args: string[]): string[] {
  if (args.length === 0) return [];
  return ins.json ? args : [args.join(" ")];
}

function triples(ins: Instruction, what: string): [string, string][] {
  if (ins.args.length === 0) throw new Error(`${what} requires at least one argument`);
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < ins.args.length; i += 3) {
    if (ins.args[i] === "") throw new Error(`${what} names can not be blank`);
    pairs.push([ins.args[i]!, ins.args[i + 1]!]);
  }
  return pairs;
}

function exactlyOne(ins: Instruction, what: string): string {
  if (ins.args.length !== 1) throw new Error(`${what} requires exactly one argument`);
  return ins.args[0]!;
}

function optionalInterval(flags: FlagValues, name: string): number {
  const v = flags[name] as string | undefined;
  if (!v) return 0;
  const ns = parseGoDuration(v);
  if (ns === 0) return 0;
  if (ns < 1e6) throw new Error(`Interval "${name}" cannot be less than 1ms`);
  return ns;
}

function healthcheck(ins: Instruction): HealthcheckConfig {
  if (ins.args.length === 0) throw new Error("HEALTHCHECK requires at least one argument");
  const type = ins.args[0]!.toUpperCase();
  const rest = ins.args.slice(1);
  const none = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (type === "NONE") {
    if (rest.length !== 0) throw new Error("HEALTHCHECK NONE takes no arguments");
    return { test: ["NONE"], ...none };
  }
  const flags = parseFlags(ins.flags, INSTRUCTION_FLAGS.healthcheck!);
  if (type !== "CMD") throw new Error(`Unknown type "${ins.args[0]}" in HEALTHCHECK (try CMD)`);
  const cmd = cmdLine(ins, rest);
  if (cmd.length === 0) throw new Error("Missing command after HEALTHCHECK CMD");
  let retries = 0;
  const r = flags.retries as string | undefined;
  if (r) {
    if (!/^[+-]?\d+$/.test(r) || Math.abs(Number(r)) > 2 ** 31 - 1) throw new Error(`invalid --retries value "${r}"`);
    retries = Number(r);
    if (retries < 0) throw new Error(`--retries cannot be negative (${retries})`);
  }
  return {
    test: [ins.json ? "CMD" : "CMD-SHELL", ...cmd],
    interval: optionalInterval(flags, "interval"),
    timeout: optionalInterval(flags, "timeout"),
    startPeriod: optionalInterval(flags, "start-period"),
    startInterval: optionalInterval(flags, "start-interval"),
    retries,
  };
}

function sourcesAndDest(ins: Instruction, what: string) {
  if (ins.args.length < 2) {
    throw new Error(`${what} requires at least two arguments, but only one was provided. Destination could not be determined`);
  }
  const dest = ins.args[ins.args.length - 1]!;
  if (!ins.json && parseHeredocWord(dest)) throw new Error(`${what} cannot accept a heredoc as a destination`);
  const byName = new Map(ins.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const heredocSources: Heredoc[] = [];
  for (const src of ins.args.slice(0, -1)) {
    const h = ins.json ? undefined : parseHeredocWord(src);
    if (h) heredocSources.push(byName.get(h.name) ?? { ...h, content: "" });
    else sources.push(src);
  }
  return { sources, heredocSources, dest };
}

function parse(ins: Instruction): Command {
  const spec = INSTRUCTION_FLAGS[ins.keyword] ?? {};
  // HEALTHCHECK NONE ignores flags, so HEALTHCHECK checks its own.
  const flags = ins.keyword === "healthcheck" ? {} : parseFlags(ins.flags, spec);
  switch (ins.keyword) {
    case "from": {
      const a = ins.args;
      let name: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === "as") {
        name = a[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(name)) {
          throw new Error(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
        }
      } else if (a.length !== 1) throw new Error("FROM requires either one or three arguments");
      return { kind: "from", base: a[0]!, name, platform: flags.platform as string | undefined };
    }
    case "run":
      if (ins.args.length === 0) throw new Error("RUN requires at least one argument");
      checkRunFlags(flags);
      return {
        kind: "run", args: ins.args, json: ins.json, heredocs: ins.heredocs,
        mounts: (flags.mount as string[]) ?? [], network: flags.network as string | undefined,
        security: flags.security as string | undefined, devices: (flags.device as string[]) ?? [],
      };
    case "copy":
    case "add": {
      const what = ins.keyword.toUpperCase();
      return {
        kind: ins.keyword, ...sourcesAndDest(ins, what),
        from: flags.from as string | undefined, chown: flags.chown as string | undefined,
        chmod: flags.chmod as string | undefined, link: flags.link === true, parents: flags.parents === true,
        exclude: (flags.exclude as string[]) ?? [], checksum: flags.checksum as string | undefined,
        keepGitDir: flags["keep-git-dir"] === true, unpack: flags.unpack as boolean | undefined,
      };
    }
    case "env":
    case "label":
      return { kind: ins.keyword, pairs: triples(ins, ins.keyword.toUpperCase()) };
    case "arg": {
      if (ins.args.length === 0) throw new Error("ARG requires at least one argument");
      const args = ins.args.map((w): ArgDecl => {
        const eq = w.indexOf("=");
        if (eq < 0) return { key: w };
        if (eq === 0) throw new Error("ARG names can not be blank");
        return { key: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      return { kind: "arg", args };
    }
    case "workdir":
      return { kind: "workdir", path: exactlyOne(ins, "WORKDIR") };
    case "user":
      return { kind: "user", user: exactlyOne(ins, "USER") };
    case "expose":
      if (ins.args.length === 0) throw new Error("EXPOSE requires at least one argument");
      return { kind: "expose", ports: ins.args };
    case "volume": {
      if (ins.args.length === 0) throw new Error("VOLUME requires at least one argument");
      const paths = ins.args.map((v) => v.trim());
      if (paths.some((p) => p === "")) throw new Error("VOLUME specified can not be an empty string");
      return { kind: "volume", paths };
    }
    case "cmd":
    case "entrypoint":
      return { kind: ins.keyword, args: cmdLine(ins, ins.args), json: ins.json };
    case "shell":
      if (ins.args.length === 0) throw new Error("SHELL requires at least one argument");
      if (!ins.json) throw new Error(`SHELL requires the arguments to be in JSON form`);
      return { kind: "shell", shell: ins.args };
    case "healthcheck":
      return { kind: "healthcheck", config: healthcheck(ins) };
    case "stopsignal":
      return { kind: "stopsignal", signal: exactlyOne(ins, "STOPSIGNAL") };
    case "maintainer":
      return { kind: "maintainer", name: exactlyOne(ins, "MAINTAINER") };
    case "onbuild": {
      const trigger = ins.sub;
      if (!trigger) throw new Error("ONBUILD requires at least one argument");
      const kw = trigger.keyword.toUpperCase();
      if (kw === "ONBUILD") throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (kw === "FROM" || kw === "MAINTAINER") throw new Error(`${kw} isn't allowed as an ONBUILD trigger`);
      parseCommand({ ...trigger, heredocs: ins.heredocs });
      return { kind: "onbuild", expression: onbuildExpression(ins), trigger: { ...trigger, heredocs: ins.heredocs } };
    }
    default:
      throw new Error(`unknown instruction: ${ins.rawKeyword}`);
  }
}

/** Type and check one instruction; throws DockerfileError at its line. */
export function parseCommand(ins: Instruction): Command {
  try {
    return parse(ins);
  } catch (e) {
    if (e instanceof DockerfileError) throw e;
    throw new DockerfileError((e as Error).message, ins.line, ins.file);
  }
}

const NETWORKS = new Set(["default", "none", "host"]);
const SECURITY = new Set(["sandbox", "insecure"]);

// The values BuildKit accepts for RUN's flags; anything else is a typo worth stopping on.
function checkRunFlags(flags: FlagValues): void {
  const network = flags.network as string | undefined;
  if (network !== undefined && !network.includes("$") && !NETWORKS.has(network)) throw new Error(`network mode "${network}" not supported (use default, none or host)`);
  const security = flags.security as string | undefined;
  if (security !== undefined && !security.includes("$") && !SECURITY.has(security)) throw new Error(`security mode "${security}" not supported (use sandbox or insecure)`);
  // Every type and option, with BuildKit's names (mount-spec.ts); values with variables are checked when run.
  const mounts = ((flags.mount as string[] | undefined) ?? []).filter((m) => !m.includes("$"));
  if (mounts.length > 0) parseMountSpecs(mounts);

}
