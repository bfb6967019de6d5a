// The kiln command line. Each subcommand lives in its own file and calls the library.
import { Command, CommanderError } from "@commander-js/extra-typings";
import { exit, nodeStyleArgv, runtimeVersion } from "../runtime/index.ts";
import { KilnError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";
import { interruptExitCode } from "../util/cleanup.ts";
import { commit, version } from "../version.ts";
import { buildCommand } from "./build.ts";
import { copyCommand } from "./copy.ts";
import { parseCommand } from "./parse.ts";
import { warmCommand } from "./warm.ts";
import type { BuildOptions } from "../executor/options.ts";

// commander prints "error: ..."; kiln's errors all read "kiln: ...".
const OUTPUT = { outputError: (s: string, write: (s: string) => void) => write(redact(s.startsWith("error: ") ? `kiln: ${s.slice(7)}` : s)) };

export function program(): Command {
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
  const planCmd = buildCommand(runPlan, "plan", "show which steps of a build would be cache hits, without building (takes build's flags)");
  for (const sub of [buildCommand(runBuild), planCmd, parseCommand(), copyCommand(), warmCommand()]) {
    p.addCommand(sub.exitOverride().configureOutput(OUTPUT).showHelpAfterError("(run with --help for usage)"));
  }
  return p;
}

async function runBuild(opts: BuildOptions): Promise<void> {
  const { build } = await import("../executor/index.ts");
  await build(opts);
}

async function runPlan(opts: BuildOptions): Promise<void> {
  const { build } = await import("../executor/index.ts");
  const { report } = await build({ ...opts, dryRun: true, noPush: true });
  for (const r of report) {
    const state = opts.cache ? (r.hit ? "HIT " : "MISS") : "RUN ";
    console.log(`stage ${r.stage} step ${String(r.step).padStart(2)}  ${state}  ${r.key ? r.key.slice(0, 12) : "-"}  ${r.instruction}`);
  }
  if (opts.cache) console.log(`${report.filter((r) => r.hit).length} of ${report.length} steps would be cache hits`);
}

/** Parse argv, run, and exit with a code that reflects what happened. */
export async function main(argv = nodeStyleArgv()): Promise<never> {
  try {
    await program().parseAsync(argv);
    exit(0);
  } catch (e) {
    exit(reportError(e));
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed the message; help and version are not failures.
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
    return 2;
  }
  if (e instanceof KilnError) {
    console.error(`kiln: ${redact(e.message)}`);
    return interruptExitCode() ?? e.exitCode;
  }
  const err = e as Error;
  const signalled = interruptExitCode();
  if (signalled) {
    console.error(`kiln: interrupted`);
    return signalled;
  }
  console.error(redact(`kiln: internal error: ${err?.message ?? String(e)}`));
  if (process.env.KILN_DEBUG) console.error(redact(String(err?.stack)));
  return 70;
}
