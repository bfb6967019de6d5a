// runInRootfs: run one RUN command chrooted into an unpacked rootfs, without a daemon.
// kiln re-executes itself as a helper (helper.ts) inside a new PID namespace; the helper is PID 1
// there, makes the mounts in its own mount namespace, chroots and spawns the command. A new PID
// namespace only applies to children of the thread that unshared it, so the runner unshares on the
// JS thread, spawns the helper, and immediately joins its original namespace again (setns).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, posix } from "node:path";
import { isCompiled, selfCommand } from "../runtime/index.ts";
import * as libc from "../runtime/libc.ts";
import { onCleanup } from "../util/cleanup.ts";
import { KilnError } from "../util/errors.ts";
import { DEFAULT_PATH, envValue } from "./exec-path.ts";
import { explainExecFailure, isExecFormatError } from "./binfmt.ts";
import { Placeholders } from "./placeholders.ts";
import { HELPER_ENV, HELPER_SPEC_ENV, type HelperMount, type HelperSpec, type HelperStatus, type MountPlan, type NetworkMode } from "./protocol.ts";
import { resolveInRoot } from "./root-path.ts";
import { signalNumber } from "./signals.ts";
import { startSshProxy, type SshProxy } from "./ssh-proxy.ts";
import { resolveUser } from "./users.ts";

export interface RunSpec {
  /** Absolute path of the unpacked root filesystem. */
  rootfs: string;
  /** The final argv: ["/bin/sh", "-c", "echo hi"] for shell form. */
  argv: string[];
  /** "K=V" list; PATH from here is used for the lookup inside the chroot. PATH and HOME get Docker's defaults when missing. */
  env: string[];
  /** Working directory inside the rootfs; created (root-owned) if missing. */
  cwd: string;
  /** "", "name", "uid", "uid:gid", "name:group", resolved in the rootfs's /etc/passwd and /etc/group. */
  user?: string;
  hostname?: string;
  /** Default: the command's output goes straight to kiln's stdout/stderr. */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  /** Abort: SIGTERM to the whole tree, SIGKILL 1 s later; resolves with 128+signal (rejects with the reason when it is a KilnError, as kiln's own `interrupted` is). */
  signal?: AbortSignal;
  /** Where the runner keeps its own files (status pipe, copied resolv.conf); default the OS temp dir. */
  tmpDir?: string;
  /** Where the one-line "running without mounts" notice goes (default: stderr). */
  warn?: (message: string) => void;
  /** Let the command's fsync/fdatasync/sync reach the disk (default: answered without syncing, see sync-filter.ts). */
  keepSync?: boolean;
  /** RUN --mount, host side (src/executor/run-mounts.ts plans them); targets absolute inside the rootfs. */
  mounts?: RunMount[];
  /** RUN --network: "none" = own network namespace with only loopback; default and host share the host's. */
  network?: NetworkMode;
}

/** One RUN --mount with host paths; its target is created when missing and removed again after the step. */
export type RunMount =
  | { kind: "bind"; source: string; target: string; readonly: boolean; /** rw: writes are thrown away */ discardWrites?: boolean }
  | { kind: "tmpfs"; target: string; size?: number }
  | { kind: "secret"; target?: string; env?: string; from: { file: string } | { env: string }; mode: number; uid: number; gid: number }
  | { kind: "ssh"; agent: string; target: string; mode: number; uid: number; gid: number };

export interface RunResult {
  exitCode: number;
  /** false when mounts/namespaces were not permitted and a plain chroot was used. */
  mountsUsed: boolean;
  /** Whether the sync filter was installed; when asked for and refused, why not. */
  syncSuppressed: boolean;
  syncReason?: string;
}

const MOUNT_DIRS = ["/proc", "/sys", "/dev"];
const MOUNT_FILES = ["/etc/resolv.conf", "/etc/hosts"];
const KILL_GRACE_MS = 1000;
const CAP_SYS_ADMIN = 21;

/**
 * Paths the runner mounts over during a RUN (their content is never the image's). A snapshot
 * must skip them and everything below them; placeholders the runner creates are removed again.
 */
export function runnerIgnoredPaths(): string[] {
  return [...MOUNT_DIRS, ...MOUNT_FILES];
}

let warnedNoMounts = false;

export async function runInRootfs(spec: RunSpec): Promise<RunResult> {
  if (!isAbsolute(spec.rootfs) || !isDir(spec.rootfs)) throw new KilnError(`RUN: rootfs ${spec.rootfs} is not an absolute path to a directory`);
  if (spec.argv.length === 0 || spec.argv[0] === "") throw new KilnError("RUN: empty command");
  if (!libc.libcAvailable()) throw new KilnError("RUN needs libc through FFI: run kiln with Bun or Deno (deno run -A)");
  if (spec.signal?.aborted) {
    if (spec.signal.reason instanceof KilnError) throw spec.signal.reason;
    return { exitCode: 143, mountsUsed: false, syncSuppressed: false };
  }
  checkNoNul(spec.argv, spec.env);
  const needsNamespaces = (spec.mounts?.length ?? 0) > 0 || spec.network === "none";
  if (needsNamespaces && !hasCapability(CAP_SYS_ADMIN)) throw new KilnError("RUN --mount and --network=none need mount namespaces: run kiln as root (CAP_SYS_ADMIN)");
  const rootfs = spec.rootfs.replace(/\/+$/, "") || "/";
  const user = resolveUser(rootfs, spec.user);
  const env = [...spec.env];
  if (envValue(env, "PATH") === undefined) env.push(`PATH=${DEFAULT_PATH}`);
  if (envValue(env, "HOME") === undefined) env.push(`HOME=${user.home}`);

  // Not the image's /tmp: in-container mode builds in "/", where that would land in the layer.
  const tmp = mkdtempSync(join(spec.tmpDir ?? tmpdir(), "kiln-run-"));
  const placeholders = new Placeholders();
  let child: ChildProcess | undefined;
  const proxies: SshProxy[] = [];
  const release = onCleanup(() => {
    if (child?.pid) killGroup(child.pid, "SIGKILL");
    for (const p of proxies) p.close();
    placeholders.removeAll();
    rmSync(tmp, { recursive: true, force: true });
  });
  try {
    const mounts = hasCapability(CAP_SYS_ADMIN) ? prepareMounts(rootfs, tmp, placeholders, spec.hostname) : null;
    const runMounts = await prepareRunMounts(rootfs, tmp, placeholders, spec.mounts ?? [], proxies);
    const ssh = (spec.mounts ?? []).find((m) => m.kind === "ssh");
    // As BuildKit: the first ssh mount is the agent unless the build set SSH_AUTH_SOCK itself.
    if (ssh && envValue(env, "SSH_AUTH_SOCK") === undefined) env.push(`SSH_AUTH_SOCK=${ssh.target}`);
    const helperSpec: HelperSpec = {
      rootfs,
      argv: spec.argv,
      env,
      cwd: posix.resolve("/", spec.cwd || "/"),
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      hostname: spec.hostname,
      mounts,
      suppressSync: spec.keepSync !== true,
      statusFile: join(tmp, "status"),
      runMounts,
      network: spec.network,
      scratchDir: tmp,
    };
    const started = startHelper(helperSpec, join(tmp, "spec.json"), spec.onOutput !== undefined, () => placeholders.removeAll());
    child = started.child;
    const exitCode = await waitHelper(child, spec);
    // Killed because kiln itself was interrupted: that, not the command's death by SIGTERM, is the outcome (exit 130/143).
    if (spec.signal?.aborted && spec.signal.reason instanceof KilnError) throw spec.signal.reason;
    const status = readStatus(helperSpec.statusFile);
    const failed = status.find((s): s is { error: string } => "error" in s);
    if (failed && isExecFormatError(failed.error)) {
      const why = explainExecFailure(rootfs, spec.argv[0]!, { pathVar: envValue(env, "PATH"), cwd: helperSpec.cwd, dir: process.env.KILN_BINFMT_MISC_DIR || undefined });
      throw new KilnError(`RUN: ${why ?? failed.error}`);
    }
    if (failed) throw new KilnError(`RUN: ${failed.error}`);
    const ok = status.find((s) => "mountsUsed" in s);
    // Aborted before the helper got as far as starting the command.
    if (!ok && spec.signal?.aborted) return { exitCode, mountsUsed: mounts !== null, syncSuppressed: false };
    if (!ok) throw new KilnError(`RUN: the run helper failed before starting the command (exit ${exitCode})`);
    if (!ok.mountsUsed && !warnedNoMounts) {
      warnedNoMounts = true;
      const why = ok.reason ?? started.reason ?? "kiln lacks CAP_SYS_ADMIN";
      (spec.warn ?? ((m) => process.stderr.write(`kiln: ${m}\n`)))(`RUN without namespaces or mounts (plain chroot; no /proc, /dev, resolv.conf): ${why}`);
    }
    return { exitCode, mountsUsed: ok.mountsUsed, syncSuppressed: ok.syncSuppressed === true, syncReason: ok.syncReason };
  } finally {
    release();
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Effective capability check from /proc: cheaper and more honest than trying and failing. */
function hasCapability(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function prepareMounts(rootfs: string, tmp: string, placeholders: Placeholders, hostname?: string): MountPlan {
  const plan: MountPlan = {};
  const at = (p: string, dir: boolean) => {
    const host = resolveInRoot(rootfs, p);
    return placeholders.ensure(host, dir) ? host : undefined;
  };
  plan.proc = at("/proc", true);
  plan.sys = at("/sys", true);
  plan.dev = at("/dev", true);
  // Copies, so a RUN that edits them cannot touch the host's files.
  const hosts = join(tmp, "hosts");
  writeFileSync(hosts, `127.0.0.1\tlocalhost${hostname ? ` ${hostname}` : ""}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, { mode: 0o644 });
  const hostsTarget = at("/etc/hosts", false);
  if (hostsTarget) plan.hosts = { source: hosts, target: hostsTarget };
  let resolv: Buffer | null = null;
  try {
    resolv = readFileSync("/etc/resolv.conf");
  } catch { /* no resolver config on the host: leave the rootfs's */ }
  if (resolv !== null) {
    const copy = join(tmp, "resolv.conf");
    writeFileSync(copy, resolv, { mode: 0o644 });
    const target = at("/etc/resolv.conf", false);
    if (target) plan.resolvConf = { source: copy, target };
  }
  return plan;
}

/** argv and env go to execve as C strings: a NUL byte cannot be carried (the runtimes' own messages say less). */
function checkNoNul(argv: string[], env: string[]): void {
  const arg = argv.findIndex((a) => a.includes("\0"));
  if (arg >= 0) throw new KilnError(`RUN: the command contains a NUL byte (in argument ${arg + 1}); a command line cannot carry one`);
  const kv = env.find((e) => e.includes("\0"));
  if (kv !== undefined) throw new KilnError(`RUN: the environment variable ${kv.split("=")[0]!.replace(/\0/g, "\\0")} contains a NUL byte; an environment cannot carry one`);
}

/**
 * Placeholders for the RUN's own mounts (sorted so a parent is mounted before what is below it),
 * and the helper's view of them. ssh mounts get a forwarding socket of the runner's.
 */
async function prepareRunMounts(rootfs: string, tmp: string, placeholders: Placeholders, mounts: RunMount[], proxies: SshProxy[]): Promise<HelperMount[]> {
  const out: HelperMount[] = [];
  const sorted = [...mounts].sort((a, b) => depth(a.target) - depth(b.target));
  for (const [i, m] of sorted.entries()) {
    if (m.kind === "secret" && !m.target) {
      out.push({ ...m, target: undefined });
      continue;
    }
    const dir = m.kind === "tmpfs" || (m.kind === "bind" && isDir(m.source));
    const target = resolveInRoot(rootfs, posix.resolve("/", m.target!));
    if (!placeholders.ensure(target, dir)) throw new KilnError(`RUN --mount: ${m.target} exists in the image and is not a ${dir ? "directory" : "file"}`);
    if (m.kind === "ssh") {
      const proxy = await startSshProxy(m.agent, join(tmp, `ssh${i}.sock`), m.mode, m.uid, m.gid);
      proxies.push(proxy);
      out.push({ kind: "bind", source: proxy.path, target, readonly: false, discardWrites: false, dir: false });
    } else if (m.kind === "bind") out.push({ kind: "bind", source: m.source, target, readonly: m.readonly, discardWrites: m.discardWrites === true, dir });
    else out.push({ ...m, target });
  }
  return out;
}

function depth(target: string | undefined): number {
  return target === undefined ? -1 : posix.resolve("/", target).split("/").length;
}

/** Compiled kiln re-executes itself (mod.ts dispatches on KILN_RUN_HELPER); from source, run the helper entry directly. */
function helperCommand(): string[] {
  const self = selfCommand();
  if (isCompiled()) return self;
  return [...self.slice(0, -1), new URL("./helper-entry.ts", import.meta.url).pathname];
}

function startHelper(spec: HelperSpec, specFile: string, pipe: boolean, dropPlaceholders: () => void): { child: ChildProcess; reason?: string } {
  const [cmd, ...args] = helperCommand();
  let nsFd = -1;
  let reason: string | undefined;
  if (spec.mounts) {
    try {
      nsFd = openSync("/proc/thread-self/ns/pid", "r");
      libc.unshare(libc.CLONE_NEWPID);
    } catch (e) {
      reason = (e as Error).message;
      if (nsFd >= 0) closeSync(nsFd);
      nsFd = -1;
      spec.mounts = null;
      dropPlaceholders();
    }
  }
  // A file, not an env var: env and argv strings are capped at 128 KiB each.
  writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
  let child: ChildProcess;
  try {
    child = spawn(cmd!, args, {
      env: { ...process.env, [HELPER_ENV]: "1", [HELPER_SPEC_ENV]: specFile },
      stdio: ["ignore", pipe ? "pipe" : "inherit", pipe ? "pipe" : "inherit"],
      // Own process group: abort and cleanup signal the whole tree at once.
      detached: true,
    });
  } finally {
    if (nsFd >= 0) {
      // Until this runs, this thread cannot create threads (the kernel forbids threads across PID namespaces).
      libc.setns(nsFd, libc.CLONE_NEWPID);
      closeSync(nsFd);
    }
  }
  return { child, reason };
}

async function waitHelper(child: ChildProcess, spec: RunSpec): Promise<number> {
  const streams: Promise<void>[] = [];
  if (spec.onOutput) {
    const onOutput = spec.onOutput;
    for (const [stream, name] of [[child.stdout, "stdout"], [child.stderr, "stderr"]] as const) {
      if (!stream) continue;
      stream.on("data", (chunk: Uint8Array) => onOutput(chunk, name));
      streams.push(new Promise((resolve) => stream.on("close", resolve).on("error", () => resolve())));
    }
  }
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    if (!child.pid) return;
    killGroup(child.pid, "SIGTERM");
    killTimer = setTimeout(() => killGroup(child.pid!, "SIGKILL"), KILL_GRACE_MS);
  };
  spec.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on("error", (e) => reject(new KilnError(`RUN: cannot start the run helper: ${e.message}`)));
      child.on("exit", (c, s) => resolve(c ?? 128 + signalNumber(s)));
    });
    // Without a PID namespace, background processes of the command would outlive it.
    if (child.pid) killGroup(child.pid, "SIGKILL");
    // Output still in the pipes is delivered; a process that escaped the group cannot hold us.
    await Promise.race([Promise.all(streams), new Promise((r) => setTimeout(r, 500))]);
    child.stdout?.destroy();
    child.stderr?.destroy();
    return code;
  } finally {
    spec.signal?.removeEventListener("abort", onAbort);
    if (killTimer) clearTimeout(killTimer);
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch { /* already gone */ }
}

function readStatus(file: string): HelperStatus[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as HelperStatus);
}
