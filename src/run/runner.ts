// runInRootfs: run one RUN command chrooted into an unpacked rootfs, without a daemon. A resident
// helper (helper.ts, pooled by pool.ts) runs it; this side checks the spec, resolves the user,
// creates the mount placeholders (removed after the step), sends the request and turns the
// helper's reply into a RunResult or a clear error.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, posix } from "node:path";
import * as libc from "../runtime/libc.ts";
import { onCleanup } from "../util/cleanup.ts";
import { KilnError } from "../util/errors.ts";
import { explainExecFailure, isExecFormatError } from "./binfmt.ts";
import { CAP_SYS_ADMIN, hasCapability } from "../util/capabilities.ts";
import { DEFAULT_PATH, envValue } from "./exec-path.ts";
import { Placeholders } from "./placeholders.ts";
import { acquireRunHelper, helperOptions, releaseRunHelper } from "./pool.ts";
import { isDir, prepareMounts, prepareRunMounts } from "./prepare.ts";
import { describeExit, exitCodeOf, type Output, type ResidentHelper } from "./resident-helper.ts";
import type { RunResult, RunSpec } from "./run-spec.ts";
import type { SshProxy } from "./ssh-proxy.ts";
import { resolveUser } from "./users.ts";

let warnedNoMounts = false;

export async function runInRootfs(spec: RunSpec): Promise<RunResult> {
  if (!isAbsolute(spec.rootfs) || !isDir(spec.rootfs)) throw new KilnError(`RUN: rootfs ${spec.rootfs} is not an absolute path to a directory`);
  if (spec.argv.length === 0 || spec.argv[0] === "") throw new KilnError("RUN: empty command");
  if (!libc.libcAvailable()) throw new KilnError("RUN needs libc through FFI: run kiln with Bun or Deno (deno run -A)");
  const aborted = abortedResult(spec.signal);
  if (aborted) return aborted;
  checkNoNul(spec.argv, spec.env);
  const needsNamespaces = (spec.mounts?.length ?? 0) > 0 || spec.network === "none";
  if (needsNamespaces && !hasCapability(CAP_SYS_ADMIN)) throw new KilnError("RUN --mount and --network=none need mount namespaces: run kiln as root (CAP_SYS_ADMIN)");
  const rootfs = spec.rootfs.replace(/\/+$/, "") || "/";
  const user = resolveUser(rootfs, spec.user);
  const env = [...spec.env];
  if (envValue(env, "PATH") === undefined) env.push(`PATH=${DEFAULT_PATH}`);
  if (envValue(env, "HOME") === undefined) env.push(`HOME=${user.home}`);

  // Only RUN --mount needs a directory (the helper's private tmpfs, ssh sockets). Not the image's
  // /tmp: in-container mode builds in "/", where that would land in the layer.
  const tmp = spec.mounts?.length ? mkdtempSync(join(spec.tmpDir ?? tmpdir(), "kiln-run-")) : undefined;
  const placeholders = new Placeholders();
  const proxies: SshProxy[] = [];
  let helper: ResidentHelper | undefined;
  const release = onCleanup(() => {
    // Interrupted mid-RUN: the helper goes (and its namespace with it) before its placeholders do.
    if (helper?.busy) helper.kill();
    for (const p of proxies) p.close();
    placeholders.removeAll();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  try {
    helper = await acquireRunHelper(helperOptions(spec.keepSync));
    const mounts = helper.namespaces ? prepareMounts(rootfs, placeholders, spec.hostname) : null;
    const runMounts = tmp ? await prepareRunMounts(rootfs, tmp, placeholders, spec.mounts ?? [], proxies) : [];
    const ssh = (spec.mounts ?? []).find((m) => m.kind === "ssh");
    // As BuildKit: the first ssh mount is the agent unless the build set SSH_AUTH_SOCK itself.
    if (ssh && envValue(env, "SSH_AUTH_SOCK") === undefined) env.push(`SSH_AUTH_SOCK=${ssh.target}`);
    const cwd = posix.resolve("/", spec.cwd || "/");
    const output: Output = spec.onOutput ?? ((chunk, stream) => (stream === "stdout" ? process.stdout : process.stderr).write(chunk));
    const outcome = await helper.run(
      { rootfs, argv: spec.argv, env, cwd, uid: user.uid, gid: user.gid, groups: user.groups, hostname: spec.hostname, mounts, runMounts, network: spec.network, scratchDir: tmp },
      output,
      spec.signal,
    );
    // Killed because kiln itself was interrupted: that, not the command's death by SIGTERM, is the outcome (exit 130/143).
    if (spec.signal?.aborted && spec.signal.reason instanceof KilnError) throw spec.signal.reason;
    if ("died" in outcome) {
      if (spec.signal?.aborted) return { exitCode: exitCodeOf(outcome.died), mountsUsed: mounts !== null, syncSuppressed: false };
      throw new KilnError(`RUN: the resident run helper died (${describeExit(outcome.died)}) during RUN ${spec.argv.join(" ")}; the step did not finish`);
    }
    const reply = outcome.reply;
    if ("error" in reply) {
      if (reply.exec === "ENOEXEC" || isExecFormatError(reply.error)) {
        const why = explainExecFailure(rootfs, spec.argv[0]!, { pathVar: envValue(env, "PATH"), cwd, dir: process.env.KILN_BINFMT_MISC_DIR || undefined });
        throw new KilnError(`RUN: ${why ?? reply.error}`);
      }
      throw new KilnError(`RUN: ${reply.error}`);
    }
    if (!("exitCode" in reply)) throw new KilnError("internal: the run helper's reply has no exit code");
    if (!reply.mountsUsed && !warnedNoMounts) {
      warnedNoMounts = true;
      const why = reply.reason ?? helper.startReason ?? "kiln lacks CAP_SYS_ADMIN";
      (spec.warn ?? ((m) => process.stderr.write(`kiln: ${m}\n`)))(`RUN without namespaces or mounts (plain chroot; no /proc, /dev, resolv.conf): ${why}`);
    }
    return { exitCode: reply.exitCode, mountsUsed: reply.mountsUsed, syncSuppressed: helper.syncSuppressed, syncReason: helper.syncReason };
  } finally {
    if (helper) releaseRunHelper(helper);
    release();
  }
}

/** A RUN asked to start after its abort: nothing runs (the abort's KilnError is rethrown). */
function abortedResult(signal: AbortSignal | undefined): RunResult | undefined {
  if (!signal?.aborted) return undefined;
  if (signal.reason instanceof KilnError) throw signal.reason;
  return { exitCode: 143, mountsUsed: false, syncSuppressed: false };
}

/** argv and env go to execve as C strings: a NUL byte cannot be carried (the runtimes' own messages say less). */
function checkNoNul(argv: string[], env: string[]): void {
  const arg = argv.findIndex((a) => a.includes("\0"));
  if (arg >= 0) throw new KilnError(`RUN: the command contains a NUL byte (in argument ${arg + 1}); a command line cannot carry one`);
  const kv = env.find((e) => e.includes("\0"));
  if (kv !== undefined) throw new KilnError(`RUN: the environment variable ${kv.split("=")[0]!.replace(/\0/g, "\\0")} contains a NUL byte; an environment cannot carry one`);
}
