// Can the overlay snapshotter work here? Answered once per state directory with a reason that
// the log (auto mode) or the error (--snapshot-mode overlay) can show: a tiny overlay is mounted
// in the state dir with the very options the snapshotter uses, then taken down again.
import fs from "node:fs";
import { libcAvailable, mount, umount2 } from "../runtime/libc.ts";
import { CAP_SYS_ADMIN, hasCapability } from "../util/capabilities.ts";

/**
 * redirect_dir/metacopy off: a renamed directory or chmod-ed file is copied up whole, so the upper
 * dir alone describes the change. index on: a write to one name of a lower hard link is seen by
 * its other names (as without overlay), and the copy carries trusted.overlay.origin, which tells a
 * copy-up (same file) from a file deleted and created again.
 */
export const OVERLAY_OPTIONS = "redirect_dir=off,metacopy=off,index=on";
/**
 * volatile (Linux 5.10+): no syncfs of the whole upper filesystem at each unmount, which took
 * 5–400 ms a step on a busy disk. A crash loses the upper dir, which a build throws away anyway.
 */
const VOLATILE = ",volatile";

/** The mount options that worked in the probe (volatile where the kernel has it). */
export function overlayOptions(stateDir: string): string {
  return OVERLAY_OPTIONS + (volatileOk.get(`${fs.statSync(stateDir).dev}`) ? VOLATILE : "");
}
const volatileOk = new Map<string, boolean>();

/** Why overlay snapshots cannot be used for this rootfs and state dir, or null when they can. */
export function overlayUnavailable(rootfs: string, stateDir: string): string | null {
  fs.mkdirSync(stateDir, { recursive: true });
  stateDir = fs.realpathSync(stateDir);
  if (!libcAvailable()) return "mount(2) needs FFI (Bun, or Deno with --allow-ffi)";
  if (rootfs === "/") return "the rootfs is / (in-container mode)";
  if (!hasCapability(CAP_SYS_ADMIN)) return "no CAP_SYS_ADMIN to mount (rootless)";
  if (!kernelHasOverlay()) return "the kernel has no overlay filesystem";
  if (/[,:\\]/.test(rootfs + stateDir)) return `the paths ${rootfs} or ${stateDir} hold ",", ":" or "\\", which overlay options cannot carry`;
  const fsType = filesystemOf(stateDir);
  if (fsType === "overlay") return `the workspace ${stateDir} is itself on overlayfs (nested overlay)`;
  if (fs.statSync(rootfs).dev !== fs.statSync(stateDir).dev) return `the rootfs ${rootfs} and ${stateDir} are on different filesystems`;
  // A test mount costs a few milliseconds: once per filesystem holding state dirs is enough.
  const key = `${fs.statSync(stateDir).dev}`;
  if (!probed.has(key)) {
    const withVolatile = probeMount(stateDir, fsType, VOLATILE);
    volatileOk.set(key, withVolatile === null);
    probed.set(key, withVolatile === null ? null : probeMount(stateDir, fsType, ""));
  }
  return probed.get(key)!;
}

const probed = new Map<string, string | null>();

function probeMount(stateDir: string, fsType: string | undefined, extra: string): string | null {
  const dir = fs.mkdtempSync(`${stateDir}/probe-`);
  const merged = `${dir}/m`;
  for (const d of ["l", "u", "w", "m"]) fs.mkdirSync(`${dir}/${d}`);
  try {
    mount("overlay", merged, "overlay", 0, `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w,${OVERLAY_OPTIONS}${extra}`);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    return `a test mount on ${fsType ?? "this filesystem"} failed: ${(e as Error).message}`;
  }
  try {
    umount2(merged, 0);
  } catch (e) {
    return `a test mount could not be unmounted: ${(e as Error).message}`;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return null;
}

function kernelHasOverlay(): boolean {
  try {
    return /\toverlay$/m.test(fs.readFileSync("/proc/filesystems", "utf8"));
  } catch {
    return true; // no /proc: let the mount say
  }
}

/** The type of the filesystem holding `path` (the deepest mount point above it), from mountinfo. */
export function filesystemOf(path: string, mountinfo = "/proc/self/mountinfo"): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(mountinfo, "utf8");
  } catch {
    return undefined;
  }
  const real = fs.realpathSync(path);
  let best: { len: number; type: string } | undefined;
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (f.length < 5 || sep < 0) continue;
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (!(mp === "/" || real === mp || real.startsWith(mp + "/"))) continue;
    // Later lines are mounted on top of earlier ones at the same point: >= keeps the last.
    if (!best || mp.length >= best.len) best = { len: mp.length, type: f[sep + 1]! };
  }
  return best?.type;
}
