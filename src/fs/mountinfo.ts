// Mount points under a root, from /proc/self/mountinfo. In-container mode (`--root /`) must never
// snapshot /proc, /sys, /dev, bind-mounted secrets or kiln's own volumes.
import fs from "node:fs";

/** Decode mountinfo's octal escapes (\040 for space, \011 tab, \012 newline, \134 backslash). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points strictly below `root`, as rootfs-absolute paths ("/proc", "/etc/hosts"). */
export function mountPointsToIgnore(root: string, mountinfo = "/proc/self/mountinfo"): string[] {
  const base = root === "/" ? "" : root.replace(/\/+$/, "");
  const out = new Set<string>();
  let text: string;
  try {
    text = fs.readFileSync(mountinfo, "utf8");
  } catch {
    return []; // not Linux or no /proc: nothing is mounted that we could know about
  }
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = unescape(f[4]!);
    if (mp === base || (base === "" && mp === "/")) continue;
    if (base !== "" && !mp.startsWith(base + "/")) continue;
    out.add(mp.slice(base.length));
  }
  return [...out].sort();
}
