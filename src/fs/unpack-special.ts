// Device nodes and fifos from an archive: mknod through libc when the runtime has FFI (mkfifo(1)
// for fifos otherwise). Without the privilege to make them (rootless), they are skipped with one
// warning each, as umoci and GNU tar do.
import { spawnSync } from "node:child_process";
import type { TarHeader } from "../tar/types.ts";
import { libcAvailable, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from "../runtime/libc.ts";

/** Create the node at `host` (nothing there); false when it was skipped (and `warn` told). */
export function makeSpecial(host: string, h: TarHeader, warn: (key: string, msg: string) => void): boolean {
  const kind = h.type === "char" ? S_IFCHR : h.type === "block" ? S_IFBLK : S_IFIFO;
  try {
    if (libcAvailable()) mknod(host, kind | (h.mode & 0o777), h.devmajor ?? 0, h.devminor ?? 0);
    else if (h.type === "fifo") mkfifo(host);
    else throw Object.assign(new Error("mknod needs libc (Bun or Deno with FFI)"), { code: "ENOSYS" });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPERM" || code === "EACCES" || code === "ENOSYS") {
      warn(`mknod:${h.name}`, `skipping ${h.type} device "${h.name}": ${code} (creating device nodes needs root)`);
      return false;
    }
    throw e;
  }
  return true;
}

function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr?.toString().trim() || r.error?.message}`);
}
