// One RUN inside the resident helper, all on its JS thread through FFI: fresh namespaces and
// mounts, chroot, working directory, spawn as USER, wait, then kill and reap whatever the command
// left behind, and back to the host. Nothing here may load a module: it runs chrooted.
import { mkdirSync } from "node:fs";
import * as libc from "../runtime/libc.ts";
import { DEFAULT_PATH, envValue, lookPath } from "./exec-path.ts";
import type { Credentials } from "./helper-creds.ts";
import type { HostState } from "./helper-host.ts";
import { setupMounts } from "./mounts.ts";
import type { FinalReply, HelperReply, HelperRequest } from "./protocol.ts";
import { setupRunMounts } from "./run-mounts.ts";

const encoder = new TextEncoder();

export interface StepContext {
  host: HostState;
  creds: Credentials;
  /** The helper is PID 1 of the RUN's PID namespace (else the command gets a process group of its own). */
  pidNamespace: boolean;
  reply(r: HelperReply): void;
}

/** Run `req`; the final reply (exit code or error) is returned, `started` is sent on the way. */
export function runStep(c: StepContext, req: HelperRequest): FinalReply {
  const say = (line: string) => libc.writeFd(2, encoder.encode(`kiln: ${line}\n`));
  let mountsUsed = false;
  let reason: string | undefined;
  try {
    c.host.reset();
    const isolated = req.network === "none";
    const needed = isolated || (req.runMounts?.length ?? 0) > 0;
    let extraEnv: string[] = [];
    const warnings: string[] = [];
    if (req.mounts) {
      try {
        c.host.enterStep(isolated);
        mountsUsed = true;
        if (TEST_LATE_THREAD) startThread();
      } catch (e) {
        reason = (e as Error).message;
      }
      if (mountsUsed) {
        setupMounts(req.mounts, (w) => warnings.push(w));
        if (req.hostname) libc.sethostname(req.hostname);
        if (isolated) libc.interfaceUp("lo");
        if (req.runMounts?.length) extraEnv = setupRunMounts(req.runMounts, req.scratchDir!);
      }
    }
    if (needed && !mountsUsed) return { id: req.id, error: `RUN --mount and --network=none need mount and network namespaces: ${reason ?? "kiln lacks CAP_SYS_ADMIN"}` };
    try {
      c.host.enterRoot(req.rootfs);
    } catch (e) {
      return { id: req.id, error: `cannot chroot into ${req.rootfs}: ${(e as Error).message}; RUN needs root (CAP_SYS_CHROOT)` };
    }
    mkdirSync(req.cwd, { recursive: true, mode: 0o755 });
    libc.chdir(req.cwd);
    for (const w of warnings) say(w);

    const file = req.argv[0]!;
    const path = lookPath(file, envValue(req.env, "PATH") ?? DEFAULT_PATH);
    if (path === null) {
      say(`exec: "${file}": executable file not found in $PATH`);
      return { id: req.id, exitCode: 127, mountsUsed, reason };
    }
    let pid: number;
    try {
      // A runtime may have turned its stdio non-blocking; the command would get EAGAIN.
      libc.setBlocking(1);
      libc.setBlocking(2);
      pid = c.creds.spawnAs({ uid: req.uid, gid: req.gid, groups: req.groups }, () =>
        libc.spawnProcess({ path, argv: req.argv, env: environment([...req.env, ...extraEnv]), stdin: c.host.devNull, resetIds: true, newProcessGroup: !c.pidNamespace }),
      );
    } catch (e) {
      const code = (e as libc.LibcError).code;
      say(`exec ${file}: ${code === "ENOENT" ? "no such file or directory" : (e as Error).message.replace(/^posix_spawn \S+: /, "")}`);
      // The runner explains it (a foreign-architecture binary without a binfmt handler, usually).
      if (code === "ENOEXEC") return { id: req.id, error: `exec ${file}: ENOEXEC (exec format error)`, exec: code, exitCode: 126 };
      return { id: req.id, exitCode: code === "ENOENT" ? 127 : 126, mountsUsed, reason };
    }
    c.reply({ id: req.id, started: pid });
    const exitCode = libc.waitpid(pid)?.code ?? 1;
    // No process outlives its step: PID 1 kills everything else in its namespace, or the command's group.
    if (c.pidNamespace) libc.kill(-1, libc.SIGKILL);
    else libc.kill(-pid, libc.SIGKILL);
    while (libc.waitpid(-1, c.pidNamespace ? 0 : libc.WNOHANG) !== null) { /* reap */ }
    return { id: req.id, exitCode, mountsUsed, reason };
  } catch (e) {
    return { id: req.id, error: (e as Error).message };
  } finally {
    // The RUN's namespaces (and so its mounts) are dropped here, before the runner removes the placeholders.
    c.host.reset();
  }
}

/**
 * Tests only: start a thread in the middle of a RUN, as the runtime may, so that the helper must
 * retire (helper-host.ts threadLeftBehind). Never set by kiln.
 */
const TEST_LATE_THREAD = process.env.KILN_TEST_RUN_HELPER_LATE_THREAD === "1";
function startThread(): void {
  const worker = new Worker(URL.createObjectURL(new Blob(["setInterval(() => {}, 1000);"], { type: "text/javascript" })), { type: "module" });
  void worker;
}

/** "K=V" list with one entry per name, the last value winning, in first-seen order (as an env object would). */
function environment(list: string[]): string[] {
  const m = new Map<string, string>();
  for (const kv of list) {
    const i = kv.indexOf("=");
    const [k, v] = i < 0 ? [kv, ""] : [kv.slice(0, i), kv.slice(i + 1)];
    m.set(k, v);
  }
  return [...m].map(([k, v]) => `${k}=${v}`);
}
