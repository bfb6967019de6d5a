// Where the builds of a bench run write: contexts, kiln's workspaces, buildah's storage.
//
// On ext4 without a journal (this VM's root filesystem), creating files stays slow for minutes
// after many were deleted: the inode allocator skips every free inode whose inode-table block is
// cached and whose dtime is recent (ext4's recently_deleted(), checked only when there is no
// journal; perf shows it under ext4_create). Each bench run deletes what it created, so a build
// that unpacks 50,000 files after the previous run removed its 50,000 took 8-14 s of system time
// instead of 0.5-1.5 s, for both builders, by an amount that depended on the order of the runs.
// Tried and measured not to be enough: waiting 30 s; syncing and dropping the page cache (the
// unpack reads the inode-table blocks back in and meets the recent dtimes again).
// Every CI runner's filesystem has a journal. So on a journal-less ext4 the builds run on a
// journaled ext4 in a loop-mounted sparse file under the work dir (`--scratch loop` forces it,
// `--scratch workdir` measures the bare disk, history and all).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export type ScratchMode = "auto" | "loop" | "workdir";
export const SCRATCH_MODES: readonly ScratchMode[] = ["auto", "loop", "workdir"];

export interface Scratch {
  dir: string;
  /** One line for the bench's log. */
  describe: string;
  release(): void;
}

/** Sparse: only what the builds write takes space (fat-base and big need a few GB at once). */
const IMAGE_SIZE = "32G";

export function scratchDir(work: string, mode: ScratchMode): Scratch {
  const dir = join(work, "scratch");
  mkdirSync(dir, { recursive: true });
  if (mode === "workdir" || (mode === "auto" && !journalLessExt4(work))) return { dir, describe: `builds in ${dir}`, release: () => {} };
  const image = join(work, "scratch.ext4");
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
  };
  try {
    run("truncate", ["-s", IMAGE_SIZE, image]);
    run("mkfs.ext4", ["-q", "-F", "-E", "nodiscard", image]);
    run("mount", ["-o", "loop", image, dir]);
  } catch (e) {
    rmSync(image, { force: true });
    if (mode === "loop") throw new Error(`${(e as Error).message} (--scratch workdir builds on the work dir's own filesystem)`);
    // auto: still measure, and say why runs that follow mass deletions may be slow.
    return { dir, describe: `builds in ${dir}, on an ext4 without a journal (no loop mount: ${(e as Error).message}); runs after big deletions are slowed, see scripts/bench/scratch-fs.ts`, release: () => {} };
  }
  return {
    dir,
    describe: `builds on a journaled ext4 in ${image}${mode === "auto" ? " (the work dir's ext4 has no journal: scripts/bench/scratch-fs.ts)" : ""}`,
    release() {
      if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
      rmSync(image, { force: true });
    },
  };
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
