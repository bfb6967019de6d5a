// The mounts a RUN command expects (/proc, /sys, /dev, resolv.conf, hosts), made by the helper in
// its private mount namespace: they vanish with it, so nothing leaks to the host even on a crash.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import * as libc from "../runtime/libc.ts";
import type { MountPlan } from "./protocol.ts";

const { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT } = libc;

/** Host device nodes bind-mounted into the fresh /dev (bind works where mknod is not allowed). */
const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: [string, string][] = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
  ["ptmx", "pts/ptmx"],
];

/** Make every mount of this (already unshared) namespace private, then mount the plan. */
export function setupMounts(plan: MountPlan, warn: (msg: string) => void): void {
  try {
    libc.mount(null, "/", null, MS_REC | MS_PRIVATE, null);
  } catch (e) {
    // Under a plain chroot "/" is not a mount point (EINVAL): the mounts below are still ours.
    if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e;
  }
  mountFiles(plan);
  // proc shows the PID namespace of the process that mounts it: the helper, PID 1 of the new one.
  if (plan.proc) libc.mount("proc", plan.proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
  if (plan.sys) mountSys(plan.sys, warn);
  if (plan.dev) mountDev(plan.dev, warn);
}

/**
 * hosts and resolv.conf: copies of the RUN's own (it may edit them; nothing reaches the host or
 * the next RUN), on a small tmpfs mounted where /proc (or /sys, /dev) goes and then hidden under
 * that mount. Nothing is written to the host's disk.
 */
function mountFiles(plan: MountPlan): void {
  const files = [plan.hosts, plan.resolvConf].filter((f) => f !== undefined);
  const base = plan.proc ?? plan.sys ?? plan.dev;
  if (files.length === 0 || !base) return;
  libc.mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=1m");
  files.forEach((f, i) => {
    const copy = `${base}/file${i}`;
    writeFileSync(copy, f.content, { mode: 0o644 });
    libc.mount(copy, f.target, null, MS_BIND, null);
  });
}

function mountSys(target: string, warn: (msg: string) => void): void {
  try {
    libc.mount("sysfs", target, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
    return;
  } catch {
    /* sysfs can be refused inside containers: fall back to a read-only bind of the host's */
  }
  try {
    libc.mount("/sys", target, null, MS_BIND | MS_REC, null);
    libc.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null);
  } catch (e) {
    warn(`RUN: /sys not mounted: ${(e as Error).message}`);
  }
}

function mountDev(dev: string, warn: (msg: string) => void): void {
  libc.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
  for (const name of DEVICES) {
    const target = `${dev}/${name}`;
    writeFileSync(target, "", { mode: 0o666 });
    try {
      libc.mount(`/dev/${name}`, target, null, MS_BIND, null);
    } catch (e) {
      warn(`RUN: /dev/${name} not available: ${(e as Error).message}`);
    }
  }
  for (const [name, to] of DEV_LINKS) symlinkSync(to, `${dev}/${name}`);
  mkdirSync(`${dev}/pts`, { mode: 0o755 });
  try {
    libc.mount("devpts", `${dev}/pts`, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  } catch (e) {
    warn(`RUN: /dev/pts not mounted: ${(e as Error).message}`);
  }
  mkdirSync(`${dev}/shm`, { mode: 0o1777 });
  libc.mount("shm", `${dev}/shm`, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
}
