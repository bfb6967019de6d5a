// File-system calls node:fs lacks or does imprecisely: device nodes, chroot and directory fds,
// nanosecond times, and descriptor flags (close-on-exec, blocking mode).
import { call, cstr } from "./libc-loader.ts";

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** glibc's makedev: 12 bits of major and 20 bits of minor, split across a 64-bit dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** Create a device node or fifo. `mode` is S_IFCHR|S_IFBLK|S_IFIFO | permissions (umask applies). */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  call("mknod", [cstr(path), mode >>> 0, makedev(major, minor)], path);
}

/** Change the root directory. Note: affects only the calling thread's fs when it was unshared. */
export function chroot(path: string): void {
  call("chroot", [cstr(path)], path);
}

/** chdir(2) without the runtime's own bookkeeping (which would remember a path from inside a chroot). */
export function chdir(path: string): void {
  call("chdir", [cstr(path)], path);
}

/** Change the working directory to the open directory `fd`. */
export function fchdir(fd: number): void {
  call("fchdir", [fd | 0], undefined, `fd ${fd}`);
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** Set atime and mtime to the nanosecond (node's utimes goes through a double and loses the last digits). */
export function setTimesNs(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  const ts = new Uint8Array(32);
  const v = new DataView(ts.buffer);
  v.setBigInt64(0, atimeNs / 1_000_000_000n, true);
  v.setBigInt64(8, atimeNs % 1_000_000_000n, true);
  v.setBigInt64(16, mtimeNs / 1_000_000_000n, true);
  v.setBigInt64(24, mtimeNs % 1_000_000_000n, true);
  call("utimensat", [AT_FDCWD, cstr(path), ts, AT_SYMLINK_NOFOLLOW], path);
}

const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
const O_NONBLOCK = 0o4000;

/** Mark `fd` close-on-exec: a command started later does not inherit it. */
export function setCloseOnExec(fd: number): void {
  const flags = call("fcntl", [fd | 0, F_GETFD, 0n], undefined, `fd ${fd}`);
  if ((flags & FD_CLOEXEC) === 0) call("fcntl", [fd | 0, F_SETFD, BigInt(flags | FD_CLOEXEC)], undefined, `fd ${fd}`);
}

/** Clear O_NONBLOCK on `fd` (a runtime may hand its stdio over non-blocking; a command writing to it would get EAGAIN). */
export function setBlocking(fd: number): void {
  const flags = call("fcntl", [fd | 0, F_GETFL, 0n], undefined, `fd ${fd}`);
  if ((flags & O_NONBLOCK) !== 0) call("fcntl", [fd | 0, F_SETFL, BigInt(flags & ~O_NONBLOCK)], undefined, `fd ${fd}`);
}
