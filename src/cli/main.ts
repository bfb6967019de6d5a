// The kiln command line. Each subcommand lives in its own file and calls the library.
import type { Command } from "@commander-js/extra-typings";
import { basename } from "node:path";
import { exit, isCompiled, nodeStyleArgv, runtimeVersion } from "../runtime/index.ts";
import { KilnError, UsageError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";
import { interruptExitCode } from "../util/cleanup.ts";
import { Logger } from "../util/log.ts";
import { commit, version } from "../version.ts";
import { buildHelp, parseBuildCommandLine } from "./build.ts";
import type { BuildOptions } from "../executor/options.ts";

// commander prints "error: ..."; kiln's errors all read "kiln: ...".
const OUTPUT = { outputError: (s: string, write: (s: string) => void) => write(redact(s.startsWith("error: ") ? `kiln: ${s.slice(7)}` : s)) };

// A build starts faster without loading the other commands (and commander): they are imported
// only when one of them runs.
export async function program(): Promise<Command> {
  const { Command } = await import("@commander-js/extra-typings");
  const { copyCommand } = await import("./copy.ts");
  const { indexCreateCommand } = await import("./index-create.ts");
  const { indexInspectCommand } = await import("./index-inspect.ts");
  const { parseCommand } = await import("./parse.ts");
  const p = new Command("kiln")
    .description("daemonless container image builder with a registry-backed layer cache")
    .version(`kiln ${version} (${commit})`, "--version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput(OUTPUT);
  p.command("version")
    .description("print version, commit and runtime")
    .action(() => {
      console.log(`kiln ${version}\ncommit ${commit}\nruntime ${runtimeVersion()}`);
    });
  // build, plan and warm read pflag syntax (src/cli/pflag.ts) and are dispatched before commander
  // sees them; these entries are for the command list in --help.
  for (const [name, description] of Object.entries(PFLAG_COMMANDS)) p.command(name).description(description);
  for (const sub of [parseCommand(), copyCommand()]) {
    p.addCommand(sub.exitOverride().configureOutput(OUTPUT).showHelpAfterError("(run with --help for usage)"));
  }
  p.addCommand(
    new Command("index").description("multi-platform image indexes").copyInheritedSettings(p)
      .addCommand(indexCreateCommand().copyInheritedSettings(p))
      .addCommand(indexInspectCommand().copyInheritedSettings(p)),
  );
  return p;
}

const PFLAG_COMMANDS: Record<string, string> = {
  build: "build an image from a Dockerfile and push it (kaniko's executor; `kiln --flags…` and `executor --flags…` mean the same)",
  plan: "show which steps of a build would be cache hits, without building (takes build's flags)",
  warm: "download base images into --cache-dir for later builds (kaniko's warmer)",
};
const SUBCOMMANDS = new Set(["build", "plan", "warm", "parse", "copy", "index", "version", "help"]);

/**
 * kaniko's entry: kiln run as `executor` (the executor image's /kaniko/executor), or with a flag
 * first, is `kiln build`; run as `warmer` it is `kiln warm`; a subcommand name still selects that
 * command (`executor version`).
 */
export function commandOf(args: readonly string[], invokedAs: string): { command: string; rest: string[] } {
  const first = args[0];
  if (first !== undefined && SUBCOMMANDS.has(first)) return { command: first, rest: args.slice(1) };
  if (invokedAs === "warmer") return { command: "warm", rest: [...args] };
  const executor = invokedAs === "executor";
  if (executor || (first !== undefined && first.startsWith("-") && !["-h", "--help", "--version", "-V"].includes(first))) {
    return { command: "build", rest: [...args] };
  }
  return { command: "", rest: [...args] };
}

/** The name kiln was started as: the compiled binary's own name, or the symlink's it was run through. */
function invokedName(): string {
  if (!isCompiled()) return "kiln";
  const [called, real] = [process.argv0, process.execPath].map((p) => basename(p ?? ""));
  if (called === "warmer" || called === "executor") return called;
  return real === "executor" ? "executor" : "kiln";
}

/** How the final error is printed: the build's --log-format (json: one JSON object). */
let errorFormat: "text" | "json" = "text";

async function runBuildCommand(name: "build" | "plan", argv: string[]): Promise<void> {
  const cl = parseBuildCommandLine(argv);
  if (cl.help) {
    process.stdout.write(buildHelp(name, PFLAG_COMMANDS[name]!));
    return;
  }
  const opts = cl.opts;
  errorFormat = opts.logFormat;
  const color = cl.color && process.stderr.isTTY === true && !process.env.NO_COLOR;
  const logger = new Logger(opts.verbosity, opts.logFormat, undefined, undefined, { color, timestamps: opts.logTimestamp });
  for (const w of cl.warnings) logger.warn(w, { event: "flag-warning" });
  try {
    if (name === "plan") await runPlan(opts, logger);
    else {
      const { build } = await import("../executor/index.ts");
      await build(opts, logger);
    }
  } finally {
    logger.flush();
  }
}

async function runPlan(opts: BuildOptions, logger: Logger): Promise<void> {
  const { build } = await import("../executor/index.ts");
  const { report } = await build({ ...opts, dryRun: true, noPush: true }, logger);
  for (const r of report) {
    const state = opts.cache ? (r.hit ? "HIT " : "MISS") : "RUN ";
    console.log(`stage ${r.stage} step ${String(r.step).padStart(2)}  ${state}  ${r.key ? r.key.slice(0, 12) : "-"}  ${r.instruction}`);
  }
  if (opts.cache) console.log(`${report.filter((r) => r.hit).length} of ${report.length} steps would be cache hits`);
}

/** Parse argv, run, and exit with a code that reflects what happened. */
export async function main(argv = nodeStyleArgv(), invokedAs = invokedName()): Promise<never> {
  try {
    const { command, rest } = commandOf(argv.slice(2), invokedAs);
    if (command === "build" || command === "plan") await runBuildCommand(command, rest);
    else if (command === "warm") await (await import("./warm.ts")).runWarm(rest);
    else if (command === "help" && rest[0] && PFLAG_COMMANDS[rest[0]]) process.stdout.write(rest[0] === "warm" ? (await import("./warm.ts")).warmHelp() : buildHelp(rest[0], PFLAG_COMMANDS[rest[0]]!));
    else await (await program()).parseAsync([...argv.slice(0, 2), ...(command ? [command] : []), ...rest]);
    exit(0);
  } catch (e) {
    exit(reportError(e, errorFormat));
  }
}

/** commander's own errors (help shown, bad option): their codes all start with "commander.". */
function isCommanderError(e: unknown): e is Error & { code: string } {
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("commander.");
}

/**
 * Print the error (one line, or one JSON object with --log-format json) and pick the exit code:
 * 0 help, 2 bad command line, 1 any build failure (a failing RUN too, as kaniko and docker build
 * do; the command's own code is in the message and in `commandExitCode`), 70 internal error,
 * 130/143 interrupted.
 */
export function reportError(e: unknown, format: "text" | "json" = "text"): number {
  if (isCommanderError(e)) {
    // commander already printed the message; help and version are not failures.
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
    return 2;
  }
  const signalled = interruptExitCode();
  let message: string;
  let code: number;
  let commandExitCode: number | undefined;
  if (e instanceof KilnError) {
    commandExitCode = (e as KilnError & { commandExitCode?: number }).commandExitCode;
    // Until every failing RUN carries commandExitCode, its code may still be the error's own.
    if (commandExitCode === undefined && !(e instanceof UsageError) && ![1, 2, 70, 130, 143].includes(e.exitCode)) commandExitCode = e.exitCode;
    message = e.message;
    if (commandExitCode !== undefined && !message.includes(String(commandExitCode))) message += ` (exit code ${commandExitCode})`;
    code = signalled ?? (e instanceof UsageError ? 2 : commandExitCode !== undefined ? 1 : e.exitCode);
  } else if (signalled) {
    message = "interrupted";
    code = signalled;
  } else {
    const err = e as Error;
    message = `internal error: ${err?.message ?? String(e)}`;
    code = 70;
    if (process.env.KILN_DEBUG) console.error(redact(String(err?.stack)));
  }
  message = redact(message);
  if (format === "json") {
    const ev = { time: new Date().toISOString(), level: "error", event: "error", msg: message, exitCode: code, ...(commandExitCode !== undefined ? { commandExitCode } : {}) };
    console.error(JSON.stringify(ev));
  } else {
    console.error(`kiln: ${message}`);
  }
  return code;
}
