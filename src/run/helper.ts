// The resident run helper: kiln re-executed once (per build, pooled by pool.ts), PID 1 of its own
// PID namespace when kiln may make one. It takes one RUN request per line on stdin and runs each
// with FFI syscalls only (helper-step.ts), so no runtime starts per step. Replies go to fd 3; the
// command writes to the helper's stdout/stderr, and a per-RUN sentinel marks the end of its output.
// Everything is imported statically: while a RUN is chrooted, no module can be loaded.
import { collectGarbage, exit } from "../runtime/index.ts";
import * as libc from "../runtime/libc.ts";
import { Credentials } from "./helper-creds.ts";
import { HostState } from "./helper-host.ts";
import { launchInPidNamespace } from "./helper-launch.ts";
import { runStep, type StepContext } from "./helper-step.ts";
import { HELPER_OPTIONS_ENV, REPLY_FD, type FinalReply, type HelperOptions, type HelperReady, type HelperReply, type HelperRequest } from "./protocol.ts";
import { syncFilterProgram } from "./sync-filter.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function runHelper(): never {
  const raw = process.env[HELPER_OPTIONS_ENV];
  if (!raw) {
    process.stderr.write(`kiln: run helper started without ${HELPER_OPTIONS_ENV}\n`);
    exit(125);
  }
  const opts = JSON.parse(raw) as HelperOptions;
  let reason: string | undefined;
  // Returns only when no namespace could be made: this process is then the helper, without one.
  if (opts.launch) reason = launchInPidNamespace(opts);
  if (reason !== undefined) opts.pidNamespace = false;
  const send = (msg: HelperReady | HelperReply) => libc.writeFd(REPLY_FD, encoder.encode(JSON.stringify(msg) + "\n"));
  // If kiln dies (even by SIGKILL), take the helper, its namespace and its processes with it.
  libc.setParentDeathSignal(libc.SIGKILL);
  // Blocking reads of the control pipe and replies that never see EAGAIN.
  for (const fd of [0, REPLY_FD]) libc.setBlocking(fd);
  warmUp();
  const host = new HostState(opts.pidNamespace);
  const sync = opts.suppressSync ? suppressSync() : { syncSuppressed: false };
  const ctx: StepContext = { host, creds: new Credentials(), pidNamespace: opts.pidNamespace, reply: send };
  send({ ready: true, ...sync, pidNamespace: opts.pidNamespace, reason });
  for (const line of requests()) {
    const req = JSON.parse(line) as HelperRequest;
    let reply: FinalReply;
    let broken = false;
    try {
      reply = runStep(ctx, req);
      if (host.threadLeftBehind()) reply.retiring = true;
    } catch (e) {
      // Could not get back to the host's namespaces or root: this helper cannot run another step.
      reply = { id: req.id, error: `the run helper cannot continue: ${(e as Error).message}`, retiring: true };
      broken = true;
    }
    const end = encoder.encode(req.sentinel);
    libc.writeFd(1, end);
    libc.writeFd(2, end);
    send(reply);
    if (reply.retiring) exit(broken ? 125 : 0);
  }
  exit(0);
}

/**
 * Allocate and collect once before the first RUN: the allocator and collector start their
 * threads now, while this thread is still in the host's namespaces (see resident-helper.ts).
 */
function warmUp(): void {
  let keep: unknown[] = [];
  for (let i = 0; i < 100_000; i++) keep.push({ i, s: `x${i}` });
  keep = [];
  collectGarbage();
  void keep;
}

/** Lines from stdin, read with blocking FFI reads (the runtime's own stdin may be non-blocking or buffered). */
function* requests(): Generator<string> {
  const buf = new Uint8Array(64 * 1024);
  let pending = "";
  for (;;) {
    const n = libc.readFd(0, buf);
    if (n === 0) return;
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== "") yield line;
    }
  }
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
