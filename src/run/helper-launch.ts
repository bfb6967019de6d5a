// The first process of a resident run helper that is to be PID 1 of its own PID namespace. A new
// PID namespace applies to the children of the thread that unshared it, and while it is unshared
// that thread cannot start threads. kiln's own JS thread cannot promise that: its runtime may
// start a JIT or GC thread at any moment (seen: Bun aborting mid-spawn). So kiln starts this
// launcher plainly; the launcher (no late runtime threads, resident-helper.ts) unshares, re-executes
// itself with posix_spawn as the real helper, gives it its stdio and control pipes, and waits.
// Signals meant for the RUN's command reach the group; the launcher ignores them.
import { closeSync, openSync } from "node:fs";
import * as libc from "../runtime/libc.ts";
import { exit } from "../runtime/index.ts";
import { HELPER_OPTIONS_ENV, REPLY_FD, type HelperOptions } from "./protocol.ts";
import { helperCommand } from "./resident-helper.ts";

const FORWARDED_TO_COMMAND = [1, 2, 3, 13, 15] as const; // SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM
const SIGKILL = 9;

/**
 * Start the real helper in a new PID namespace and wait for it, or say why not: then the caller
 * runs as the helper itself, without namespaces (the reason goes into its ready message).
 */
export function launchInPidNamespace(opts: HelperOptions): string {
  const self = helperCommand();
  const env = Object.entries({ ...process.env, [HELPER_OPTIONS_ENV]: JSON.stringify({ ...opts, launch: false }) }).map(([k, v]) => `${k}=${v}`);
  let own = -1;
  let pid: number;
  try {
    own = openSync("/proc/thread-self/ns/pid", "r");
    libc.unshare(libc.CLONE_NEWPID);
    try {
      // stdin (the control pipe), stdout, stderr and the reply fd are inherited as they are.
      pid = libc.spawnProcess({ path: self[0]!, argv: self, env, stdin: 0, resetIds: false, newProcessGroup: false });
    } finally {
      libc.setns(own, libc.CLONE_NEWPID);
    }
  } catch (e) {
    return (e as Error).message;
  } finally {
    if (own >= 0) closeSync(own);
  }
  for (const sig of FORWARDED_TO_COMMAND) libc.ignoreSignal(sig);
  // Only the helper holds the pipes now: kiln sees them close when it ends.
  for (const fd of [0, 1, 2, REPLY_FD]) closeSync(fd);
  const end = libc.waitpid(pid);
  if (end?.signal === SIGKILL) process.kill(process.pid, "SIGKILL");
  exit(end?.code ?? 125);
}
