// Resolving archive paths inside a rootfs the way openat2(RESOLVE_IN_ROOT) does: one component at
// a time, symlinks followed with the rootfs as "/" (so `/bin -> /usr/bin` and a hostile `x -> /etc`
// both stay inside), `..` clamped at the root. Directories already verified during this layer are
// cached, which keeps the syscall count per entry close to one lstat for its final component.
import fs from "node:fs";
import { KilnError } from "../util/errors.ts";

const MAX_LINKS = 40; // Linux's MAXSYMLINKS

/**
 * Lexically clean an archive name into a rootfs-relative path ("" for the root itself).
 * Leading "/" and "./" are dropped like GNU tar does; a `..` that climbs above the root is refused.
 * `label` names the archive in that error, `place` the directory ("rootfs", "destination").
 */
export function cleanArchivePath(name: string, label?: string, place = "rootfs"): string {
  const out: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length === 0) throw new KilnError(`${where(label)}entry "${name}" climbs out of the ${place} with ".."; refusing it`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out.join("/");
}

function where(label?: string): string {
  return label ? `${label}: ` : "";
}

export function splitParent(rel: string): [string, string] {
  const i = rel.lastIndexOf("/");
  return i < 0 ? ["", rel] : [rel.slice(0, i), rel.slice(i + 1)];
}

export class RootResolver {
  /** lexical directory path → real (symlink-free) rootfs-relative path */
  private dirs = new Map<string, string>();
  private links = 0;

  /** `label` names the archive being unpacked in errors, e.g. `layer sha256:…`. */
  constructor(readonly root: string, private label?: string) {}

  host(real: string): string {
    if (real === "") return this.root;
    return this.root === "/" ? "/" + real : this.root + "/" + real;
  }

  /** Forget cached directories: call after removing or replacing any directory or symlink. */
  invalidate(): void {
    this.dirs.clear();
  }

  /**
   * The real rootfs-relative path of directory `rel` (lexically clean), following symlinks inside
   * the root. Missing directories are created (mode 0755, like tar) when `create` is set.
   */
  dir(rel: string, create: boolean): string {
    if (rel === "") return "";
    const hit = this.dirs.get(rel);
    if (hit !== undefined) return hit;
    this.links = 0;
    const [parent, name] = splitParent(rel);
    const real = this.step(this.dir(parent, create), name, create, rel);
    this.dirs.set(rel, real);
    return real;
  }

  /** Resolve `rel`'s parent directory; the final component is returned as is (never followed). */
  parent(rel: string, create: boolean): { dir: string; name: string; real: string } {
    const [parent, name] = splitParent(rel);
    const dir = this.dir(parent, create);
    return { dir, name, real: dir === "" ? name : dir + "/" + name };
  }

  /** Note a directory created or verified by the caller so later entries skip the lstat. */
  remember(rel: string, real: string): void {
    this.dirs.set(rel, real);
  }

  // One component below an already-resolved real directory; returns the real path of a directory.
  private step(parentReal: string, name: string, create: boolean, forPath: string): string {
    if (name === "..") return splitParent(parentReal)[0];
    if (name === "." || name === "") return parentReal;
    const real = parentReal === "" ? name : parentReal + "/" + name;
    const host = this.host(real);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !create) {
        throw new KilnError(`${where(this.label)}cannot resolve "${forPath}": "/${real}" ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (e as Error).message}`);
      }
      fs.mkdirSync(host, 0o755);
      return real;
    }
    if (st.isDirectory()) return real;
    if (st.isSymbolicLink()) {
      if (++this.links > MAX_LINKS) throw new KilnError(`${where(this.label)}too many levels of symlinks resolving "${forPath}" inside the rootfs`);
      const target = fs.readlinkSync(host);
      let cur = target.startsWith("/") ? "" : parentReal;
      for (const c of target.split("/")) cur = this.step(cur, c, create, forPath);
      return cur;
    }
    throw new KilnError(`${where(this.label)}cannot resolve "${forPath}": "/${real}" is not a directory`);
  }
}
