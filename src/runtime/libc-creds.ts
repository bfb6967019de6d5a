// User and group ids. glibc applies each of these to every thread of the process (its setxid broadcast).
import { call } from "./libc-loader.ts";

/** Set supplementary groups. */
export function setgroups(gids: number[]): void {
  const buf = new Uint32Array(Math.max(gids.length, 1));
  gids.forEach((g, i) => (buf[i] = g >>> 0));
  call("setgroups", [gids.length, new Uint8Array(buf.buffer)], undefined, gids.join(","));
}

/** The process's supplementary groups. */
export function getgroups(): number[] {
  const n = call("getgroups", [0, null]);
  const buf = new Uint32Array(Math.max(n, 1) + 16);
  const got = call("getgroups", [buf.length, new Uint8Array(buf.buffer)]);
  return [...buf.subarray(0, got)];
}

export function setresgid(r: number, e: number, s: number): void {
  call("setresgid", [r >>> 0, e >>> 0, s >>> 0], undefined, `${r},${e},${s}`);
}

export function setresuid(r: number, e: number, s: number): void {
  call("setresuid", [r >>> 0, e >>> 0, s >>> 0], undefined, `${r},${e},${s}`);
}
