// On ext4 without a journal (this VM's root filesystem), creating files is slow for
// dirty_expire_centisecs (30 s) after many files were deleted: the inode allocator skips inodes
// deleted that recently (ext4's recently_deleted(), one inode-table lookup per candidate), so a
// build that unpacks 50,000 files right after the previous run removed its 50,000 takes 14 s of
// system time instead of 1.5 s (perf: recently_deleted under ext4_create). Neither builder causes
// that for itself; so a run that churned many inodes is followed by a wait until the window has
// passed, and the next run measures the builder, not its predecessor's cleanup.
import { existsSync, readdirSync, readFileSync, statfsSync, statSync } from "node:fs";

/** Inodes churned above which the next run waits the window out. */
const MANY = 5000;

/** Peak inodes in use on dir's filesystem above what was in use at start, sampled every 100 ms. */
export function watchInodes(dir: string): () => number {
  const used = () => {
    const s = statfsSync(dir);
    return s.files - s.ffree;
  };
  const start = used();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 100);
  return () => {
    clearInterval(timer);
    return Math.max(peak, used()) - start;
  };
}

/** Seconds to wait after removing `churned` inodes from dir's filesystem (0 unless ext4 without a journal). */
export function recentlyDeletedWindow(dir: string, churned: number): number {
  if (churned < MANY || !journalLessExt4(dir)) return 0;
  const centisecs = Number(readFileSync("/proc/sys/vm/dirty_expire_centisecs", "utf8").trim());
  return Number.isFinite(centisecs) ? centisecs / 100 + 1 : 31;
}

function journalLessExt4(dir: string): boolean {
  const dev = statSync(dir).dev;
  // st_dev's major/minor as the kernel encodes them (new_encode_dev).
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  let name: string;
  try {
    name = readFileSync(`/sys/dev/block/${major}:${minor}/uevent`, "utf8").match(/^DEVNAME=(.+)$/m)?.[1] ?? "";
  } catch {
    return false;
  }
  if (!name || !existsSync(`/proc/fs/ext4/${name}`)) return false;
  const journals = existsSync("/proc/fs/jbd2") ? readdirSync("/proc/fs/jbd2") : [];
  return !journals.some((j) => j.startsWith(`${name}-`));
}
