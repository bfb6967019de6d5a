// Small filesystem operations of instructions other than COPY/ADD, all resolved inside the rootfs.
import { chownSync, lstatSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { posix } from "node:path";
import type { InlineFile } from "../dockerfile/index.ts";
import { cleanArchivePath, RootResolver } from "../fs/resolve.ts";

// Inline heredoc scripts (RUN <<EOF with #!) live here during the RUN and are removed after.
export const INLINE_DIR = "/.kiln-inline";

/** mkdir -p inside the rootfs, every created level owned by `owner`; returns the top directories created. */
export function makeDirs(rootfs: string, paths: string[], owner?: { uid: number; gid: number }): string[] {
  const created: string[] = [];
  for (const path of paths) {
    const r = new RootResolver(rootfs);
    const parts = cleanArchivePath(path).split("/").filter(Boolean);
    let first: string | undefined;
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      try {
        r.dir(rel, false);
        continue;
      } catch { /* missing: create it below */ }
      const real = r.dir(rel, true);
      if (owner) chownSync(r.host(real), owner.uid, owner.gid);
      first ??= "/" + real;
    }
    if (first) created.push(first);
  }
  return created;
}

/**
 * Write a RUN's inline scripts into INLINE_DIR; returns the argv with their paths rewritten and a
 * cleanup that removes them and puts the root directory's times back.
 */
export function writeInlineFiles(rootfs: string, files: InlineFile[], argv: string[]): { argv: string[]; cleanup: () => void } {
  if (files.length === 0) return { argv, cleanup: () => {} };
  const dir = rootfs + INLINE_DIR;
  const rootTimes = lstatSync(rootfs);
  mkdirSync(dir, { mode: 0o755 });
  for (const f of files) writeFileSync(posix.join(dir, posix.basename(f.path)), f.data, { mode: f.mode });
  return {
    argv: argv.map((a) => (files.some((f) => f.path === a) ? posix.join(INLINE_DIR, posix.basename(a)) : a)),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      utimesSync(rootfs, rootTimes.atime, rootTimes.mtime);
    },
  };
}
