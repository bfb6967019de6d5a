// Processes and descriptors at the syscall level, for the resident run helper (src/run/helper*.ts),
// which must not go through the runtime's event loop: blocking read/write/waitpid, kill, signal
// dispositions, the parent-death signal and seccomp filters.
import { libcError } from "./libc-errors.ts";
import { call, lib } from "./libc-loader.ts";

export const PR_SET_PDEATHSIG = 1;
export const SIGKILL = 9;
export const SIGTERM = 15;
export const WNOHANG = 1;
const EINTR = 4;
const EAGAIN = 11;
const ECHILD = 10;
const ESRCH = 3;
const SIG_IGN = 1n;

const SECCOMP_SYSCALL: Record<string, number> = { x64: 317, arm64: 277 };
const SECCOMP_SET_MODE_FILTER = 1n;
const SECCOMP_FILTER_FLAG_TSYNC = 1n;

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
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (128 bytes: never moved by the engine)
  const fprog = new Uint8Array(128);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, program.length / 8, true);
  v.setBigUint64(8, l.address(program), true);
  const r = l.call("syscall", [BigInt(nr), SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, l.address(fprog)]);
  if (r === -1) throw libcError("seccomp", l.lastErrno());
  // With TSYNC, a positive result names a thread that could not take the filter.
  if (r !== 0) throw new Error(`seccomp: thread ${r} could not be synchronized`);
}

/** Ignore `signal` in this process (a command started with POSIX_SPAWN_SETSIGDEF gets the default back). */
export function ignoreSignal(signal: number): void {
  if (lib().call("signal", [signal | 0, SIG_IGN]) === -1) throw libcError("signal", lib().lastErrno(), undefined, String(signal));
}

/** kill(2); false when there is no such process (ESRCH). */
export function kill(pid: number, signal: number): boolean {
  const l = lib();
  if (l.call("kill", [pid | 0, signal | 0]) === 0) return true;
  const errno = l.lastErrno();
  if (errno === ESRCH) return false;
  throw libcError("kill", errno, undefined, `${pid} ${signal}`);
}

/** How a process ended: `code` is its exit status, or 128+N when signal N killed it (the shell's convention). */
export interface WaitResult {
  pid: number;
  code: number;
  signal?: number;
}

/** Blocking waitpid(2) (WNOHANG: null when nothing has ended); null when there is no child to wait for (ECHILD). */
export function waitpid(pid: number, options = 0): WaitResult | null {
  const l = lib();
  const status = new Int32Array(4);
  const bytes = new Uint8Array(status.buffer);
  for (;;) {
    const r = l.call("waitpid", [pid | 0, bytes, options | 0]);
    if (r === 0) return null;
    if (r > 0) {
      const s = status[0]!;
      const term = s & 0x7f;
      if (term === 0) return { pid: r, code: (s >> 8) & 0xff };
      return { pid: r, code: 128 + term, signal: term };
    }
    const errno = l.lastErrno();
    if (errno === EINTR) continue;
    if (errno === ECHILD) return null;
    throw libcError("waitpid", errno, undefined, String(pid));
  }
}

/** Blocking read(2) of up to buf.length bytes; 0 at end of file. */
export function readFd(fd: number, buf: Uint8Array): number {
  const l = lib();
  for (;;) {
    const r = l.call("read", [fd | 0, buf, buf.length]);
    if (r >= 0) return r;
    const errno = l.lastErrno();
    if (errno !== EINTR) throw libcError("read", errno, undefined, `fd ${fd}`);
  }
}

/** write(2) all of `data`, across partial writes. */
export function writeFd(fd: number, data: Uint8Array): void {
  const l = lib();
  let off = 0;
  while (off < data.length) {
    const chunk = off === 0 ? data : data.subarray(off);
    const r = l.call("write", [fd | 0, chunk.byteOffset === 0 ? chunk : chunk.slice(), chunk.length]);
    if (r >= 0) {
      off += r;
      continue;
    }
    const errno = l.lastErrno();
    if (errno !== EINTR && errno !== EAGAIN) throw libcError("write", errno, undefined, `fd ${fd}`);
  }
}
