// The resident helper's way back home. It opens its host mount, UTS and network namespaces and
// its root directory once (close-on-exec), then before and after every RUN returns its JS thread
// to them; in between the RUN gets a fresh mount/UTS/IPC (and for --network=none network)
// namespace copied from the host's current mount table, so mounts made on the host since the last
// RUN (the overlay snapshotter's) are seen, and everything the RUN mounted goes away with it.
import { closeSync, openSync, readdirSync, readlinkSync } from "node:fs";
import * as libc from "../runtime/libc.ts";

const { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS } = libc;

export class HostState {
  private readonly root: number;
  private readonly mnt: number = -1;
  private readonly uts: number = -1;
  private readonly net: number = -1;
  private netLeft = false;
  /** This thread is in a RUN's namespaces / has chrooted since the last reset. */
  private inStep = false;
  private rooted = false;
  /** Thread ids seen so far, all of them in the host's namespaces and root. */
  private threads: Set<string>;
  /** /dev/null, opened before any chroot: every command's stdin. */
  readonly devNull: number;

  constructor(readonly namespaces: boolean) {
    if (namespaces) {
      this.mnt = openSync("/proc/thread-self/ns/mnt", "r");
      this.uts = openSync("/proc/thread-self/ns/uts", "r");
      this.net = openSync("/proc/thread-self/ns/net", "r");
    }
    this.root = openSync("/", "r");
    this.devNull = openSync("/dev/null", "r");
    // From now on root and cwd are this thread's alone (the runtime's other threads keep theirs):
    // chroot affects only this thread, and setns(mnt) requires it.
    libc.unshare(libc.CLONE_FS);
    closeOnExecAll();
    this.threads = new Set(readdirSync("/proc/self/task"));
  }

  /** Back to the host's namespaces and root, where the last RUN left them. */
  reset(): void {
    // A thread the runtime started from this one meanwhile shares its root and cwd; setns(mnt) needs them private.
    libc.unshare(libc.CLONE_FS);
    if (this.inStep) {
      libc.setns(this.mnt, CLONE_NEWNS);
      libc.setns(this.uts, CLONE_NEWUTS);
      if (this.netLeft) libc.setns(this.net, CLONE_NEWNET);
      this.netLeft = false;
      this.inStep = false;
      // setns(mnt) set root and cwd to the namespace's root; kiln itself may run chrooted: its root.
      this.rooted = true;
    }
    if (this.rooted) {
      libc.fchdir(this.root);
      libc.chroot(".");
      this.rooted = false;
    }
  }

  /** A fresh mount, UTS and IPC namespace for one RUN (and network for --network=none). Throws when refused. */
  enterStep(isolateNetwork: boolean): void {
    libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (isolateNetwork ? CLONE_NEWNET : 0));
    this.inStep = true;
    if (isolateNetwork) this.netLeft = true;
  }

  /** chroot into the RUN's rootfs, at its "/". */
  enterRoot(rootfs: string): void {
    libc.chroot(rootfs);
    this.rooted = true;
    libc.chdir("/");
  }

  /**
   * After reset: true when another thread of this process is still in a RUN's mount namespace or
   * root. The engines start threads (JIT workers, GC helpers) from the JS thread whenever they
   * like; one started during a RUN keeps that RUN's namespaces and mounts alive, so the helper
   * must retire (its exit frees them).
   */
  threadLeftBehind(): boolean {
    const now = readdirSync("/proc/self/task");
    // Usually no thread is new since the last look: one readdir.
    if (now.every((tid) => this.threads.has(tid))) return false;
    const mnt = readlinkSync("/proc/thread-self/ns/mnt");
    const root = readlinkSync("/proc/thread-self/root");
    let left = false;
    for (const tid of now) {
      if (this.threads.has(tid)) continue;
      try {
        if (readlinkSync(`/proc/self/task/${tid}/ns/mnt`) !== mnt || readlinkSync(`/proc/self/task/${tid}/root`) !== root) left = true;
      } catch { /* exited meanwhile */ }
    }
    this.threads = new Set(now);
    return left;
  }

  close(): void {
    for (const fd of [this.mnt, this.uts, this.net, this.root, this.devNull]) if (fd >= 0) closeSync(fd);
  }
}

/** Every descriptor above stderr close-on-exec: a runtime may leave some of its own (or inherited ones) open. */
export function closeOnExecAll(): void {
  for (const name of readdirSync("/proc/thread-self/fd")) {
    const fd = Number(name);
    if (fd <= 2) continue;
    try {
      libc.setCloseOnExec(fd);
    } catch { /* the directory's own descriptor, closed by now */ }
  }
}
