// The helper process the runner starts for each RUN (kiln re-executed, see runner.ts). It is
// PID 1 of a fresh PID namespace: it unshares a mount namespace, mounts /proc (which must be done
// from inside the new PID namespace), /sys, /dev..., chroots itself, drops to the USER and spawns
// the command. When it exits, the kernel kills everything left in the namespace.
// Everything is imported statically: after chroot, no module can be loaded any more.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { exit } from "../runtime/index.ts";
import * as libc from "../runtime/libc.ts";
import { DEFAULT_PATH, envValue, lookPath } from "./exec-path.ts";
import { setupMounts } from "./mounts.ts";
import { setupRunMounts } from "./run-mounts.ts";
import { HELPER_SPEC_ENV, type HelperSpec, type HelperStatus } from "./protocol.ts";
import { signalNumber } from "./signals.ts";
import { syncFilterProgram } from "./sync-filter.ts";

const SIGKILL = 9;
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

export async function runHelper(): Promise<never> {
  const raw = process.env[HELPER_SPEC_ENV];
  if (!raw) {
    process.stderr.write(`kiln: run helper started without ${HELPER_SPEC_ENV}\n`);
    exit(125);
  }
  const spec = JSON.parse(readFileSync(raw, "utf8")) as HelperSpec;
  const statusFd = openSync(spec.statusFile, "w");
  const report = (s: HelperStatus) => writeSync(statusFd, JSON.stringify(s) + "\n");
  try {
    return await run(spec, report);
  } catch (e) {
    report({ error: (e as Error).message });
    closeSync(statusFd);
    exit(125);
  }
}

async function run(spec: HelperSpec, report: (s: HelperStatus) => void): Promise<never> {
  // If kiln dies (even by SIGKILL), take the namespace and its processes with it.
  try {
    libc.setParentDeathSignal(SIGKILL);
  } catch { /* best effort */ }
  const warnings: string[] = [];
  let mountsUsed = false;
  let reason: string | undefined;
  const isolated = spec.network === "none";
  const needed = isolated || (spec.runMounts?.length ?? 0) > 0;
  let extraEnv: string[] = [];
  if (spec.mounts) {
    try {
      libc.unshare(libc.CLONE_NEWNS | libc.CLONE_NEWUTS | libc.CLONE_NEWIPC | (isolated ? libc.CLONE_NEWNET : 0));
      mountsUsed = true;
    } catch (e) {
      reason = (e as Error).message;
    }
    if (mountsUsed) {
      setupMounts(spec.mounts, (w) => warnings.push(w));
      if (spec.hostname) libc.sethostname(spec.hostname);
      if (isolated) libc.interfaceUp("lo");
      if (spec.runMounts?.length) extraEnv = setupRunMounts(spec.runMounts, spec.scratchDir!);
    }
  }
  if (needed && !mountsUsed) throw new Error(`RUN --mount and --network=none need mount and network namespaces: ${reason ?? "kiln lacks CAP_SYS_ADMIN"}`);
  try {
    libc.chroot(spec.rootfs);
  } catch (e) {
    throw new Error(`cannot chroot into ${spec.rootfs}: ${(e as Error).message}; RUN needs root (CAP_SYS_CHROOT)`);
  }
  process.chdir("/");
  mkdirSync(spec.cwd, { recursive: true, mode: 0o755 });
  process.chdir(spec.cwd);

  // Before dropping to USER: installing a filter needs CAP_SYS_ADMIN.
  const sync = spec.suppressSync ? suppressSync() : { syncSuppressed: false };
  libc.setgroups(spec.groups);
  libc.setresgid(spec.gid, spec.gid, spec.gid);
  libc.setresuid(spec.uid, spec.uid, spec.uid);
  report({ mountsUsed, reason, ...sync });
  for (const w of warnings) process.stderr.write(`kiln: ${w}\n`);

  const [file, ...args] = spec.argv;
  const path = lookPath(file!, envValue(spec.env, "PATH") ?? DEFAULT_PATH);
  if (path === null) {
    process.stderr.write(`kiln: exec: "${file}": executable file not found in $PATH\n`);
    exit(127);
  }
  const env = Object.fromEntries([...spec.env, ...extraEnv].map((kv) => {
    const i = kv.indexOf("=");
    return i < 0 ? [kv, ""] : [kv.slice(0, i), kv.slice(i + 1)];
  }));
  const child = spawn(path, args, { argv0: file, env, cwd: spec.cwd, stdio: "inherit" });
  for (const sig of FORWARDED) process.on(sig, () => child.kill(sig));
  const code = await new Promise<number>((resolve) => {
    child.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      // The runner explains it (a foreign-architecture binary without a binfmt handler, usually).
      if (code === "ENOEXEC") report({ error: `exec ${file}: ENOEXEC (exec format error)` });
      process.stderr.write(`kiln: exec ${file}: ${code === "ENOENT" ? "no such file or directory" : e.message}\n`);
      resolve(code === "ENOENT" ? 127 : 126);
    });
    child.on("exit", (c, s) => resolve(c ?? 128 + signalNumber(s)));
  });
  exit(code);
}

/** Not fatal when refused (no CAP_SYS_ADMIN, seccomp off, unknown arch): the command just syncs for real. */
function suppressSync(): { syncSuppressed: boolean; syncReason?: string } {
  const program = syncFilterProgram();
  if (!program) return { syncSuppressed: false, syncReason: `no syscall table for ${process.arch}` };
  try {
    libc.seccompFilter(program);
    return { syncSuppressed: true };
  } catch (e) {
    return { syncSuppressed: false, syncReason: (e as Error).message };
  }
}
