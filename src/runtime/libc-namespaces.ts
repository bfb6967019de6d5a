// Linux namespaces: unshare, setns, the UTS hostname and bringing loopback up in a new network
// namespace. Namespaces are per thread: only the calling (JS) thread and the children it spawns see them.
import { libcError } from "./libc-errors.ts";
import { call, lib } from "./libc-loader.ts";

export const CLONE_FS = 0x00000200;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

const encoder = new TextEncoder();

export function unshare(flags: number): void {
  call("unshare", [flags | 0], undefined, `0x${(flags >>> 0).toString(16)}`);
}

/** Join the namespace behind `fd` (an open /proc/.../ns/* file); nstype 0 = any. */
export function setns(fd: number, nstype: number): void {
  call("setns", [fd | 0, nstype | 0], undefined, `fd ${fd}`);
}

/** Set the hostname (of the current UTS namespace: unshare CLONE_NEWUTS first). */
export function sethostname(name: string): void {
  const b = encoder.encode(name);
  call("sethostname", [b.length ? b : new Uint8Array(1), b.length], undefined, name);
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
