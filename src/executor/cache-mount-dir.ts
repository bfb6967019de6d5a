// The persistent directory behind one RUN --mount=type=cache id: created on first use, seeded,
// filled from the cache repository (--cache-run-mounts), and held under a pid lock file for
// sharing=locked|private, so concurrent builds on one machine never share a half-written cache.
import { createHash } from "node:crypto";
import { chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { CacheMountRemote } from "../cache/mount-store.ts";
import type { CacheSpec } from "../dockerfile/mount-spec.ts";
import { KilnError } from "../util/errors.ts";
import { processAlive } from "../util/lock-file.ts";

/**
 * The cache directory of one id: created on first use (mode/uid/gid, seeded from from=/source), then
 * shared across builds. locked: wait for other holders; private: a throwaway directory when held.
 * With a remote, a missing or empty directory is first filled from the cache repository (a
 * non-empty local copy is kept as it is); the stored copy replaces from=/source seeding.
 */
export async function openCacheDir(base: string, s: CacheSpec, seed: string | undefined, scratch: string, releases: (() => void)[], remote?: CacheMountRemote): Promise<string> {
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const name = createHash("sha256").update(s.id).digest("hex").slice(0, 32);
  const dir = join(base, name);
  if (s.sharing !== "shared") {
    const lock = join(base, `${name}.lock`);
    if (!tryLock(lock)) {
      if (s.sharing === "private") {
        const tmp = join(scratch, `cache-${name}-${process.pid}-${Date.now()}`);
        createCacheDir(tmp, s, seed);
        releases.push(() => rmSync(tmp, { recursive: true, force: true }));
        return tmp;
      }
      await waitLock(lock, s.id);
    }
    releases.push(() => rmSync(lock, { force: true }));
  }
  const fresh = !existsSync(dir);
  if (remote) await fillFromRemote(remote, dir, s);
  if (!existsSync(dir)) {
    // Built aside and renamed: a crash never leaves a half-seeded cache.
    const tmp = `${dir}.new-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    createCacheDir(tmp, s, seed);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another build made it first
    }
  }
  if (fresh) {
    try {
      // A record of which id a directory holds, for people cleaning up.
      const fd = openSync(`${dir}.id`, "w", 0o600);
      writeSync(fd, s.id + "\n");
      closeSync(fd);
    } catch { /* informational only */ }
  }
  if (!statSync(dir).isDirectory()) throw new KilnError(`RUN --mount=type=cache: ${dir} is not a directory`);
  return dir;
}

/**
 * Fill a missing or empty cache directory from the cache repository: extracted aside, then renamed
 * into place (over an empty directory too), so a failed fetch or a crash leaves no half cache.
 * Under the id's lock for sharing=locked/private (the caller takes it first).
 */
async function fillFromRemote(remote: CacheMountRemote, dir: string, s: CacheSpec): Promise<void> {
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) return;
  const tmp = `${dir}.fetch-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  if (!(await remote.fill(s.id, tmp, dir))) return;
  chownSync(tmp, s.uid, s.gid);
  chmodSync(tmp, s.mode);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another build filled it first
  }
}

function createCacheDir(dir: string, s: CacheSpec, seed: string | undefined): void {
  if (seed && statSync(seed).isDirectory()) cpSync(seed, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  else mkdirSync(dir, { recursive: true });
  chownSync(dir, s.uid, s.gid);
  chmodSync(dir, s.mode);
}

/** A lock file holding the owner's pid; one whose owner is gone is taken over. */
function tryLock(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const pid = Number(readFileSafe(path).trim());
  if (pid > 0 && processAlive(pid)) return false;
  rmSync(path, { force: true });
  return tryLock(path);
}

async function waitLock(path: string, id: string): Promise<void> {
  const start = Date.now();
  while (!tryLock(path)) {
    if (Date.now() - start > 3600_000) throw new KilnError(`RUN --mount=type=cache,id=${id},sharing=locked: still locked by another build after an hour (${path})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}
