// mount(2) and umount2(2) with the flag values kiln uses (Linux, x86_64/aarch64).
import { call, cstr } from "./libc-loader.ts";

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
