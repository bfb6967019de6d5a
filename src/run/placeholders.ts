// Mount points the runner needs but the rootfs may lack (/proc, /etc/hosts, ...). They are created
// on the host side before the helper starts and removed after the step (restoring the parent's
// mtime), so they never show up in the layer snapshot.
import { closeSync, lstatSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import * as libc from "../runtime/libc.ts";
import { dirname } from "node:path";

interface Created {
  path: string;
  dir: boolean;
}

export class Placeholders {
  private created: Created[] = [];
  private parents = new Map<string, { atime: bigint; mtime: bigint }>();

  /**
   * Make sure `host` exists as a directory (dir) or a regular file (!dir). Returns false when
   * something of the other kind is already there (the caller then skips that mount).
   */
  ensure(host: string, dir: boolean): boolean {
    const st = lstatOrNull(host);
    if (st) return dir ? st.isDirectory() : st.isFile();
    this.ensureDir(dirname(host));
    this.remember(dirname(host));
    if (dir) mkdirSync(host, 0o755);
    else closeSync(openSync(host, "wx", 0o644));
    this.created.push({ path: host, dir });
    return true;
  }

  private ensureDir(path: string): void {
    const st = lstatOrNull(path);
    if (st) return;
    this.ensureDir(dirname(path));
    this.remember(dirname(path));
    mkdirSync(path, 0o755);
    this.created.push({ path, dir: true });
  }

  private remember(parent: string): void {
    if (this.parents.has(parent)) return;
    const st = statSync(parent, { bigint: true });
    this.parents.set(parent, { atime: st.atimeNs, mtime: st.mtimeNs });
  }

  /** Remove what was created (a directory the command filled is left: that is a real change). */
  removeAll(): void {
    for (const c of this.created.reverse()) {
      try {
        if (c.dir) rmdirSync(c.path);
        else unlinkSync(c.path);
      } catch { /* not empty, or already gone */ }
    }
    this.created = [];
    for (const [p, t] of this.parents) {
      try {
        // To the nanosecond: the snapshot compares mtimes exactly, and a parent off by 100 ns is a layer entry.
        libc.setTimesNs(p, t.atime, t.mtime);
      } catch { /* removed by the command */ }
    }
    this.parents.clear();
  }
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
