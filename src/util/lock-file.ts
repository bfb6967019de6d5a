// A lock file for short read-modify-write sections shared by processes (an OCI layout's
// index.json written by two builds, or by a build and `kiln copy`). Created with O_EXCL
// ("wx"), which node:fs gives the same on Bun and Deno (and NFS v3+ honours); flock would need
// FFI. The file names its holder, so a lock left by a crashed process is broken at once when
// the holder is known dead, and after STALE_MS in any case.
import { closeSync, fstatSync, linkSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { KilnError } from "./errors.ts";

const STALE_MS = 30_000;
const WAIT_MS = 60_000;

/** The PID namespace: a PID only says something about processes in the same one. */
function pidNamespace(): string {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

/** Whether a process of this PID namespace is running (EPERM: it is, but not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the lock at `path` (already stat'ed) belongs to no one any more. */
function isStale(path: string, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > STALE_MS) return true;
  let holder: string[];
  try {
    holder = readFileSync(path, "utf8").split("\n");
  } catch {
    return false;
  }
  const [pid, ns] = holder;
  const ours = pidNamespace();
  return ours !== "" && ns === ours && /^\d+$/.test(pid ?? "") && !processAlive(Number(pid));
}

/**
 * Remove a stale lock, but only the one judged stale: it is moved aside first, and a fresh
 * lock that another waiter created meanwhile (another inode) is put back.
 */
function breakLock(path: string, ino: number): void {
  const aside = `${path}.stale-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already
  }
  try {
    if (statSync(aside).ino !== ino) linkSync(aside, path);
  } catch {
    // a third waiter locked meanwhile: it holds the lock
  } finally {
    rmSync(aside, { force: true });
  }
}

/** Remove our lock, unless it was broken as stale and another holder's lock is there now. */
function release(path: string, ino: number): void {
  try {
    if (statSync(path).ino === ino) rmSync(path, { force: true });
  } catch {
    // already gone
  }
}

/** Run `f` holding the lock file `path`; waits (polling) up to WAIT_MS for another holder. */
export async function withLockFile<T>(path: string, f: () => T | Promise<T>): Promise<T> {
  const start = Date.now();
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (fd !== undefined) {
      let ino: number;
      try {
        writeSync(fd, `${process.pid}\n${pidNamespace()}\n`);
        ino = fstatSync(fd).ino;
      } finally {
        closeSync(fd);
      }
      try {
        return await f();
      } finally {
        release(path, ino);
      }
    }
    try {
      const st = statSync(path);
      if (isStale(path, st.mtimeMs)) breakLock(path, st.ino);
    } catch {
      // released meanwhile
    }
    if (Date.now() - start > WAIT_MS) throw new KilnError(`${path}: still locked after ${WAIT_MS / 1000}s (remove it if no kiln is writing there)`);
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
}
