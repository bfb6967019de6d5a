// libc calls that node:fs lacks (xattrs, mknod, chroot, namespaces, mounts), reached through
// bun:ffi on Bun and Deno.dlopen on Deno. Node cannot host these; callers get a clear error.
// Failures throw an Error shaped like node's fs errors: code = errno name, errno, syscall, path.
import { runtime } from "./index.ts";

/** The C types used by the symbol table; each backend maps them to its FFI names. */
export type CType = "buf" | "i32" | "u32" | "u64" | "usize" | "isize";
export interface SymbolSpec {
  args: CType[];
  ret: CType;
}

/** A loaded libc: raw calls return the C return value (number) and errno is read right after. */
export interface LibcBackend {
  call(name: SymbolName, args: unknown[]): number;
  /** errno captured immediately after the last call that returned -1. */
  lastErrno(): number;
  /** Address of a buffer's bytes, for pointers inside structs; valid while `buf` is referenced. */
  address(buf: Uint8Array): bigint;
}

export const SYMBOLS = {
  lgetxattr: { args: ["buf", "buf", "buf", "usize"], ret: "isize" },
  lsetxattr: { args: ["buf", "buf", "buf", "usize", "i32"], ret: "i32" },
  llistxattr: { args: ["buf", "buf", "usize"], ret: "isize" },
  lremovexattr: { args: ["buf", "buf"], ret: "i32" },
  mknod: { args: ["buf", "u32", "u64"], ret: "i32" },
  chroot: { args: ["buf"], ret: "i32" },
  unshare: { args: ["i32"], ret: "i32" },
  setns: { args: ["i32", "i32"], ret: "i32" },
  mount: { args: ["buf", "buf", "buf", "u64", "buf"], ret: "i32" },
  umount2: { args: ["buf", "i32"], ret: "i32" },
  setgroups: { args: ["usize", "buf"], ret: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], ret: "i32" },
  setresuid: { args: ["u32", "u32", "u32"], ret: "i32" },
  sethostname: { args: ["buf", "usize"], ret: "i32" },
  // prctl is variadic; passing every argument as a 64-bit integer is ABI-safe on x86_64/aarch64 Linux.
  prctl: { args: ["i32", "u64", "u64", "u64", "u64"], ret: "i32" },
  // Variadic too, for syscalls glibc has no wrapper for (seccomp).
  syscall: { args: ["u64", "u64", "u64", "u64"], ret: "isize" },
  utimensat: { args: ["i32", "buf", "buf", "i32"], ret: "i32" },
} satisfies Record<string, SymbolSpec>;
export type SymbolName = keyof typeof SYMBOLS;

/** glibc first, then musl (Alpine) names. */
export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

// --- constants (Linux, x86_64/aarch64) ---
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;

export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export const XATTR_CREATE = 0x1;
export const XATTR_REPLACE = 0x2;

export const PR_SET_PDEATHSIG = 1;

const SECCOMP_SYSCALL: Record<string, number> = { x64: 317, arm64: 277 };
const SECCOMP_SET_MODE_FILTER = 1n;
const SECCOMP_FILTER_FLAG_TSYNC = 1n;

const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  7: ["E2BIG", "argument list too long"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  15: ["ENOTBLK", "block device required"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  24: ["EMFILE", "too many open files"],
  25: ["ENOTTY", "inappropriate ioctl for device"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  34: ["ERANGE", "numerical result out of range"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many levels of symbolic links"],
  61: ["ENODATA", "no data available"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  // Linux defines EOPNOTSUPP == ENOTSUP == 95; node reports it as ENOTSUP, and so do we.
  95: ["ENOTSUP", "operation not supported"],
  122: ["EDQUOT", "disk quota exceeded"],
};

export interface LibcError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `E${errno}`;
}

function libcError(syscall: string, errno: number, path?: string, extra?: string): LibcError {
  const [code, text] = ERRNO[errno] ?? [`E${errno}`, `errno ${errno}`];
  const where = [path, extra].filter((s) => s !== undefined && s !== "").join(" ");
  const err = new Error(`${syscall}${where ? ` ${where}` : ""}: ${text} (${code})`) as LibcError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

// --- backend loading: the backend module loads now (async import), libc is opened on first use ---
type BackendModule = { openLibc(names: string[], symbols: typeof SYMBOLS): LibcBackend };
const backendModule: BackendModule | null =
  runtime === "bun"
    ? await import("./libc-bun.ts")
    : runtime === "deno"
      ? await import("./libc-deno.ts")
      : null;

let backend: LibcBackend | null = null;
let loadError: Error | null = null;

function lib(): LibcBackend {
  if (backend) return backend;
  if (loadError) throw loadError;
  if (!backendModule) {
    loadError = new Error(`libc: not available on ${runtime} (kiln needs Bun or Deno for xattrs, mknod, chroot and mounts)`);
    throw loadError;
  }
  try {
    backend = backendModule.openLibc(LIBC_NAMES, SYMBOLS);
    return backend;
  } catch (e) {
    loadError = new Error(`libc: cannot open ${LIBC_NAMES.join(" or ")}: ${(e as Error).message}`);
    throw loadError;
  }
}

/** True when the runtime can reach libc through FFI (Bun or Deno with --allow-ffi). */
export function libcAvailable(): boolean {
  try {
    lib();
    return true;
  } catch {
    return false;
  }
}

/** Kept for callers of the old stub. */
export function notAvailable(what: string): never {
  throw new Error(`${what}: not available on this runtime (kiln needs Bun or Deno for it)`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function cstr(s: string): Uint8Array {
  const b = encoder.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

function check(name: SymbolName, ret: number, path?: string, extra?: string): number {
  if (ret === -1) throw libcError(name, lib().lastErrno(), path, extra);
  return ret;
}

function call(name: SymbolName, args: unknown[], path?: string, extra?: string): number {
  return check(name, lib().call(name, args), path, extra);
}

const ENODATA = 61;
const ERANGE = 34;

/** The value of extended attribute `name` on `path` (not following symlinks); null when absent. */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const p = cstr(path);
  const n = cstr(name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = lib().call("lgetxattr", [p, n, null, 0]);
    if (size === -1) {
      const errno = lib().lastErrno();
      if (errno === ENODATA) return null;
      throw libcError("lgetxattr", errno, path, name);
    }
    // A zero-length buffer still needs a valid pointer for the FFI layers.
    const buf = new Uint8Array(Math.max(size, 1));
    const got = lib().call("lgetxattr", [p, n, buf, size]);
    if (got === -1) {
      const errno = lib().lastErrno();
      if (errno === ENODATA) return null;
      if (errno === ERANGE) continue; // grew between the two calls
      throw libcError("lgetxattr", errno, path, name);
    }
    return buf.slice(0, got);
  }
  throw libcError("lgetxattr", ERANGE, path, name);
}

/** Set extended attribute `name` on `path` (not following symlinks), creating or replacing it. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const buf = value.length ? value : new Uint8Array(1);
  call("lsetxattr", [cstr(path), cstr(name), buf, value.length, 0], path, name);
}

/** Names of the extended attributes on `path` (not following symlinks). */
export function llistxattr(path: string): string[] {
  const p = cstr(path);
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = call("llistxattr", [p, null, 0], path);
    if (size === 0) return [];
    const buf = new Uint8Array(size);
    const got = lib().call("llistxattr", [p, buf, size]);
    if (got === -1) {
      const errno = lib().lastErrno();
      if (errno === ERANGE) continue;
      throw libcError("llistxattr", errno, path);
    }
    return decoder
      .decode(buf.subarray(0, got))
      .split("\0")
      .filter((s) => s !== "");
  }
  throw libcError("llistxattr", ERANGE, path);
}

export function lremovexattr(path: string, name: string): void {
  call("lremovexattr", [cstr(path), cstr(name)], path, name);
}

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

/** Note: namespaces are per thread; only the calling (JS) thread and the children it spawns see them. */
export function unshare(flags: number): void {
  call("unshare", [flags | 0], undefined, `0x${(flags >>> 0).toString(16)}`);
}

/** Join the namespace behind `fd` (an open /proc/.../ns/* file); nstype 0 = any. */
export function setns(fd: number, nstype: number): void {
  call("setns", [fd | 0, nstype | 0], undefined, `fd ${fd}`);
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  call(
    "mount",
    [source === null ? null : cstr(source), cstr(target), fstype === null ? null : cstr(fstype), BigInt(flags >>> 0), data === null ? null : cstr(data)],
    target,
    fstype ?? source ?? "",
  );
}

export function umount2(target: string, flags: number): void {
  call("umount2", [cstr(target), flags | 0], target);
}

/** Set supplementary groups (glibc applies it to every thread of the process). */
export function setgroups(gids: number[]): void {
  const buf = new Uint32Array(Math.max(gids.length, 1));
  gids.forEach((g, i) => (buf[i] = g >>> 0));
  call("setgroups", [gids.length, new Uint8Array(buf.buffer)], undefined, gids.join(","));
}

export function setresgid(r: number, e: number, s: number): void {
  call("setresgid", [r >>> 0, e >>> 0, s >>> 0], undefined, `${r},${e},${s}`);
}

export function setresuid(r: number, e: number, s: number): void {
  call("setresuid", [r >>> 0, e >>> 0, s >>> 0], undefined, `${r},${e},${s}`);
}

/** Set the hostname (of the current UTS namespace: unshare CLONE_NEWUTS first). */
export function sethostname(name: string): void {
  const b = encoder.encode(name);
  call("sethostname", [b.length ? b : new Uint8Array(1), b.length], undefined, name);
}

/** Ask the kernel to send `signal` to this process when its parent dies. */
export function setParentDeathSignal(signal: number): void {
  call("prctl", [PR_SET_PDEATHSIG, BigInt(signal), 0n, 0n, 0n]);
}

/**
 * Install a seccomp BPF program (struct sock_filter[]) on every thread of this process; children
 * inherit it across fork and exec. Needs CAP_SYS_ADMIN (kiln never sets no_new_privs: that would
 * break setuid programs in RUN).
 */
export function seccompFilter(program: Uint8Array): void {
  const nr = SECCOMP_SYSCALL[process.arch];
  if (nr === undefined) throw libcError("seccomp", 38, undefined, process.arch);
  const l = lib();
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Uint8Array(16);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, program.length / 8, true);
  v.setBigUint64(8, l.address(program), true);
  const r = l.call("syscall", [BigInt(nr), SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, l.address(fprog)]);
  if (r === -1) throw libcError("seccomp", l.lastErrno());
  // With TSYNC, a positive result names a thread that could not take the filter.
  if (r !== 0) throw new Error(`seccomp: thread ${r} could not be synchronized`);
}

// Raw syscall numbers for bringing an interface up (glibc's socket/ioctl are not in SYMBOLS).
const SYS_NR: Record<string, { socket: number; ioctl: number; close: number }> = {
  x64: { socket: 41, ioctl: 16, close: 3 },
  arm64: { socket: 198, ioctl: 29, close: 57 },
};
const SIOCGIFFLAGS = 0x8913n;
const SIOCSIFFLAGS = 0x8914n;
const IFF_UP = 0x1;

/** Set interface `name` up in this thread's network namespace (`ip link set NAME up`): RUN --network=none's loopback. */
export function interfaceUp(name: string): void {
  const nr = SYS_NR[process.arch];
  if (!nr) throw libcError("socket", 38, undefined, process.arch);
  const l = lib();
  const fd = l.call("syscall", [BigInt(nr.socket), 2n /* AF_INET */, 2n /* SOCK_DGRAM */, 0n]);
  if (fd === -1) throw libcError("socket", l.lastErrno());
  try {
    // struct ifreq: char ifr_name[16]; then a union whose short ifr_flags sits at offset 16.
    const ifr = new Uint8Array(40);
    ifr.set(encoder.encode(name).subarray(0, 15));
    if (l.call("syscall", [BigInt(nr.ioctl), BigInt(fd), SIOCGIFFLAGS, l.address(ifr)]) === -1) throw libcError("ioctl SIOCGIFFLAGS", l.lastErrno(), name);
    const v = new DataView(ifr.buffer);
    v.setUint16(16, v.getUint16(16, true) | IFF_UP, true);
    if (l.call("syscall", [BigInt(nr.ioctl), BigInt(fd), SIOCSIFFLAGS, l.address(ifr)]) === -1) throw libcError("ioctl SIOCSIFFLAGS", l.lastErrno(), name);
  } finally {
    l.call("syscall", [BigInt(nr.close), BigInt(fd), 0n, 0n]);
  }
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
