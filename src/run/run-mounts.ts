// RUN --mount as the helper makes them, in its private mount namespace before chroot: bind (rw ones
// over a throwaway overlay or copy), tmpfs, and secrets written to a private tmpfs and bound
// read-only onto their targets. All of it vanishes with the namespace; nothing touches the rootfs
// but the placeholders the runner created (and removes).
import { chmodSync, chownSync, cpSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as libc from "../runtime/libc.ts";
import type { HelperMount } from "./protocol.ts";

const { MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT } = libc;

/**
 * Mount `mounts` (already in order); returns the environment variables secrets add (env=).
 * `scratch` is a host directory for the private tmpfs (hidden from the host by the namespace).
 */
export function setupRunMounts(mounts: HelperMount[], scratch: string): string[] {
  const env: string[] = [];
  let staged: string | undefined;
  const stage = () => {
    if (staged) return staged;
    staged = join(scratch, "private");
    mkdirSync(staged, { recursive: true, mode: 0o700 });
    libc.mount("tmpfs", staged, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700");
    return staged;
  };
  for (const [i, m] of mounts.entries()) {
    if (m.kind !== "secret" || m.target) ensureTarget(m.target!, m.kind === "tmpfs" || (m.kind === "bind" && m.dir));
    switch (m.kind) {
      case "tmpfs":
        libc.mount("tmpfs", m.target, "tmpfs", MS_NOSUID | MS_NODEV, m.size !== undefined ? `size=${m.size}` : null);
        break;
      case "bind":
        if (m.discardWrites) bindThrowaway(m.source, m.target, m.dir, join(stage(), `rw${i}`));
        else bind(m.source, m.target, m.readonly);
        break;
      case "secret": {
        const value = "file" in m.from ? readFileSync(m.from.file) : Buffer.from(m.from.value);
        if (m.env) env.push(`${m.env}=${value.toString("utf8")}`);
        if (!m.target) break;
        const file = join(stage(), `secret${i}`);
        writeFileSync(file, value, { mode: 0o600 });
        chownSync(file, m.uid, m.gid);
        chmodSync(file, m.mode);
        bind(file, m.target, true);
        break;
      }
    }
  }
  return env;
}

function bind(source: string, target: string, readonly: boolean): void {
  libc.mount(source, target, null, MS_BIND | MS_REC, null);
  if (readonly) libc.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null);
}

/** rw bind: the command may write, the source never changes (overlay on a tmpfs, else a copy). */
function bindThrowaway(source: string, target: string, dir: boolean, work: string): void {
  mkdirSync(work, { recursive: true, mode: 0o700 });
  if (dir) {
    const upper = join(work, "upper");
    const wd = join(work, "work");
    mkdirSync(upper);
    mkdirSync(wd);
    try {
      libc.mount("overlay", target, "overlay", 0, `lowerdir=${source},upperdir=${upper},workdir=${wd}`);
      return;
    } catch { /* overlay refused (nested overlay, old kernel): fall back to a copy */ }
  }
  const copy = join(work, "copy");
  cpSync(source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  bind(copy, target, false);
}

/** A target below an earlier mount may be missing there: create it (inside that mount, never the rootfs). */
function ensureTarget(target: string, dir: boolean): void {
  try {
    lstatSync(target);
    return;
  } catch { /* missing */ }
  mkdirSync(dir ? target : dirname(target), { recursive: true, mode: 0o755 });
  if (!dir) writeFileSync(target, "", { mode: 0o644 });
}
