// Resolve a path inside a rootfs the way the chrooted process will see it: symlinks (the final one
// too) are followed with the rootfs as "/", so `/etc/resolv.conf -> /run/x` lands on <rootfs>/run/x
// and never on the host's /run/x. Missing components are kept as they are.
import { lstatSync, readlinkSync } from "node:fs";
import { KilnError } from "../util/errors.ts";

const MAX_LINKS = 40;

/** The host path of `path` (absolute inside the rootfs) after following symlinks inside `rootfs`. */
export function resolveInRoot(rootfs: string, path: string): string {
  const real: string[] = [];
  const todo = path.split("/").reverse();
  let links = 0;
  while (todo.length) {
    const name = todo.pop()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      real.pop();
      continue;
    }
    const host = `${rootfs}/${[...real, name].join("/")}`;
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      /* missing: keep it lexically */
    }
    if (!isLink) {
      real.push(name);
      continue;
    }
    if (++links > MAX_LINKS) throw new KilnError(`too many levels of symlinks resolving ${path} inside ${rootfs}`);
    const target = readlinkSync(host);
    if (target.startsWith("/")) real.length = 0;
    todo.push(...target.split("/").reverse());
  }
  return real.length ? `${rootfs}/${real.join("/")}` : rootfs;
}
