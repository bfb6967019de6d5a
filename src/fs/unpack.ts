// Unpacking tar streams into a directory, streaming: OCI layers onto a rootfs (applyLayer), and ADD
// archives and tar build contexts into a destination directory (extractTar). Every path goes through
// RootResolver with the directory as "/", so nothing in the archive (`..`, absolute names, symlinks
// planted by this or an earlier layer, hardlink targets) can make a write land outside it. Sync fs
// calls on purpose: per-call overhead dominates unpacking, and the sync calls are the cheapest on
// both Bun and Deno.
import fs from "node:fs";
import { spawnSync } from "node:child_process";
import { readTar } from "../tar/reader.ts";
import type { TarHeader } from "../tar/types.ts";
import { libcAvailable, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from "../runtime/libc.ts";
import { KilnError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";
import { decompress, limitUnpacked } from "./compression.ts";
import { cleanArchivePath, RootResolver, splitParent } from "./resolve.ts";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

export interface ApplyOptions {
  mediaType: string;
  onWarning?: (msg: string) => void;
  /** Layer digest, named in errors. */
  source?: string;
  /**
   * Rootfs-relative paths (no leading "/") never written or removed, with everything below them:
   * in-container mode unpacks into "/" and must spare /proc, /kiln, the context and mounts.
   */
  protect?: readonly string[];
  /**
   * A skeleton rootfs: regular files are created empty (with their owner, mode and times), except
   * SKELETON_KEEPS, and their inode numbers are added to this set. For steps that only add files
   * (COPY, WORKDIR, VOLUME): they need the tree and its metadata, never file contents.
   */
  skeleton?: Set<number>;
  /** Rootfs-relative real paths a skeleton keeps whole besides SKELETON_KEEPS (the targets of links there). */
  keep?: readonly string[];
}

/** Files a skeleton rootfs keeps whole: user and group names are looked up in them (--chown, USER). */
export const SKELETON_KEEPS: readonly string[] = ["etc/passwd", "etc/group"];

/** Who owns what is extracted: the entries' own uid/gid, whoever runs kiln ("none"), or a fixed owner (ADD --chown). */
export type UnpackOwner = "archive" | "none" | { uid: number; gid: number };

/**
 * What an extraction does besides writing the entries; applyLayer and extractTar set it.
 * - "layer": `.wh.` names are whiteouts, "./" carries the rootfs's own metadata, entries keep their
 *   uid/gid and xattrs.
 * - "archive" (ADD, tar contexts; Docker and BuildKit do the same): `.wh.` names are plain files, the
 *   destination directory keeps its own metadata, xattrs are not applied, and `owner` decides
 *   the files' owner.
 */
interface UnpackOptions {
  kind: "layer" | "archive";
  /** Names the archive in errors and warnings: `layer sha256:…`, `ADD "app.tar"`. */
  what: string;
  owner: UnpackOwner;
  onWarning?: (msg: string) => void;
  protect?: readonly string[];
  skeleton?: Set<number>;
  keep?: readonly string[];
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
const WRITE_BUF = 1 << 20;

/** Apply one layer (gzip, zstd or plain tar; detected from its bytes) to `rootfs`. */
export async function applyLayer(rootfs: string, compressed: AsyncIterable<Uint8Array>, opts: ApplyOptions): Promise<void> {
  const what = opts.source ? `layer ${opts.source}` : `layer (${opts.mediaType})`;
  await unpack(rootfs, decompress(compressed, what), { kind: "layer", what, owner: "archive", onWarning: opts.onWarning, protect: opts.protect, skeleton: opts.skeleton, keep: opts.keep });
}

export interface ExtractOptions {
  /** Named in errors, e.g. `ADD "app.tar.gz"`. */
  what: string;
  /** "archive" for ADD, "none" for build contexts, or a --chown. */
  owner: UnpackOwner;
  onWarning?: (msg: string) => void;
}

/**
 * Extract an uncompressed tar stream into `destHost` for ADD or a tar build context; returns the
 * top-level names written. Whiteout names are plain files and the archive's "/" is `destHost`.
 */
export async function extractTar(tar: AsyncIterable<Uint8Array>, destHost: string, opts: ExtractOptions): Promise<string[]> {
  const u = await unpack(destHost, tar, { kind: "archive", ...opts });
  return [...u.top];
}

async function unpack(dir: string, tar: AsyncIterable<Uint8Array>, opts: UnpackOptions): Promise<Unpacker> {
  const u = new Unpacker(fs.realpathSync(dir), opts);
  const what = opts.what;
  try {
    for await (const entry of readTar(limitUnpacked(tar, what))) {
      try {
        await u.entry(entry.header, entry.body);
      } catch (e) {
        if (e instanceof KilnError) throw e;
        throw new KilnError(`${what}: cannot extract ${JSON.stringify(entry.header.name)}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    // The tar reader's own errors (truncated, bad checksum, bad PAX) are about the archive, not kiln.
    if (e instanceof KilnError) throw e;
    throw new KilnError(`${what}: ${(e as Error).message}`);
  }
  u.finish();
  return u;
}

class Unpacker {
  private r: RootResolver;
  private isRoot = process.getuid?.() === 0;
  private euid = process.geteuid?.() ?? -1;
  private egid = process.getegid?.() ?? -1;
  private umask = process.umask();
  /** real dir → has setgid (new files then inherit the dir's group, so chown cannot be skipped) */
  private setgid = new Map<string, boolean>();
  /** real rootfs-relative paths written by this layer: an opaque whiteout must spare them. */
  private written = new Set<string>();
  /** Real rootfs-relative paths of directories written, with their times: applied last (finish). */
  private dirTimes: [string, number, number][] = [];
  private warned = new Set<string>();
  private buf = Buffer.allocUnsafe(WRITE_BUF);
  private what: string;
  private layer: boolean;
  /** What errors call the directory: "rootfs" or "destination". */
  private place: string;
  /** Whether files are chowned at all, and to a fixed owner rather than the entries' own. */
  private chown: boolean;
  private fixedOwner: { uid: number; gid: number } | undefined;
  /** Archive mode: the top-level names written. */
  readonly top = new Set<string>();

  constructor(root: string, private opts: UnpackOptions) {
    this.what = opts.what;
    this.layer = opts.kind === "layer";
    this.place = this.layer ? "rootfs" : "destination";
    this.chown = this.isRoot && opts.owner !== "none";
    this.fixedOwner = typeof opts.owner === "object" ? opts.owner : undefined;
    this.r = new RootResolver(root, this.what);
  }

  private warn(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    (this.opts.onWarning ?? ((m: string) => console.error(redact(`kiln: warning: ${m}`))))(`${this.what}: ${msg}`);
  }

  async entry(h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = cleanArchivePath(h.name, this.what, this.place);
    if (this.isProtected(rel)) return;
    if (rel === "") {
      // "./" carries the rootfs's own metadata; an archive's destination directory keeps its own.
      if (this.layer && h.type === "dir") this.meta(this.r.root, h, false);
      return;
    }
    if (!this.layer) this.top.add(splitTop(rel));
    const { dir, name, real } = this.r.parent(rel, true);
    if (this.layer && name.startsWith(WHITEOUT_PREFIX)) return this.whiteout(dir, name);
    const host = this.r.host(real);
    if (this.layer) this.written.add(real);
    switch (h.type) {
      case "file":
        return this.file(dir, host, h, this.opts.skeleton && h.size > 0 && !SKELETON_KEEPS.includes(real) && !this.opts.keep?.includes(real) ? null : body);
      case "dir":
        return this.dir(rel, real, host, h);
      case "symlink":
        this.clear(host, false);
        fs.symlinkSync(h.linkname ?? "", host);
        this.meta(host, h, true);
        return;
      case "hardlink":
        return this.hardlink(host, h);
      case "char":
      case "block":
      case "fifo":
        return this.special(host, h);
    }
  }

  private isProtected(rel: string): boolean {
    const p = this.opts.protect;
    if (!p || p.length === 0) return false;
    // A whiteout names the path it removes.
    const [dir, name] = splitParent(rel);
    const target = this.layer && name.startsWith(WHITEOUT_PREFIX) && name !== OPAQUE_WHITEOUT ? (dir ? dir + "/" : "") + name.slice(WHITEOUT_PREFIX.length) : rel;
    return p.some((q) => target === q || target.startsWith(q + "/"));
  }

  private invalidate(): void {
    this.r.invalidate();
    this.setgid.clear();
  }

  finish(): void {
    // Children were created after their directory, so directory mtimes are set last, deepest first.
    // A later entry may have replaced the directory, or one of its parents, with a symlink to
    // anywhere (`d/`, then `d -> /etc`): the path is resolved again inside the rootfs, and the
    // times go on a descriptor of the directory itself (O_NOFOLLOW), never through a host path.
    this.r.invalidate();
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [real, a, m] = this.dirTimes[i]!;
      const fd = this.openDir(real);
      if (fd === undefined) continue; // replaced by a later entry: that entry set its own times
      try {
        fs.futimesSync(fd, a, m);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  // A descriptor of the directory at `real` if it still is one there, reached without a symlink.
  private openDir(real: string): number | undefined {
    const [parent] = splitParent(real);
    try {
      if (this.r.dir(parent, false) !== parent) return undefined;
      return fs.openSync(this.r.host(real), O_DIR);
    } catch (e) {
      if (e instanceof KilnError) return undefined;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return undefined;
      throw e;
    }
  }

  // Remove whatever is at `host` unless it is a directory we may keep. Returns true when a directory remains.
  private clear(host: string, keepDir: boolean): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      return false;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      fs.rmSync(host, { recursive: true, force: true });
      this.invalidate();
    } else {
      fs.unlinkSync(host);
      if (st.isSymbolicLink()) this.invalidate();
    }
    return false;
  }

  // Syscalls per file are the cost of unpacking: chown and chmod are skipped when open() already
  // produced the right owner and mode (root-owned files without setgid parents, umask-clean modes).
  // body null: a skeleton file, left empty (the tar reader skips the unread body).
  private async file(dir: string, host: string, h: TarHeader, body: AsyncIterable<Uint8Array> | null): Promise<void> {
    const mode = h.mode & 0o7777;
    let fd: number;
    try {
      fd = fs.openSync(host, O_NEW, mode & 0o777);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      this.clear(host, false); // never write through an existing file: it may be a hardlink from a lower layer
      fd = fs.openSync(host, O_NEW, mode & 0o777);
    }
    try {
      if (!body) this.opts.skeleton!.add(fs.fstatSync(fd).ino);
      else if (h.size > 0) await this.writeBody(fd, body);
      if (this.chown) {
        const uid = this.fixedOwner?.uid ?? h.uid;
        const gid = this.fixedOwner?.gid ?? h.gid;
        if (uid !== this.euid || gid !== this.egid || this.dirHasSetgid(dir)) fs.fchownSync(fd, uid, gid);
      }
      if (mode > 0o777 || (mode & this.umask) !== 0) fs.fchmodSync(fd, mode);
      this.xattrs(host, h);
      fs.futimesSync(fd, h.atime ?? h.mtime, h.mtime);
    } finally {
      fs.closeSync(fd);
    }
  }

  // Coalesce small chunks into ~1 MiB writes.
  private async writeBody(fd: number, body: AsyncIterable<Uint8Array>): Promise<void> {
    const buf = this.buf;
    let used = 0;
    for await (const chunk of body) {
      if (chunk.length >= WRITE_BUF / 2) {
        if (used) used = flush(fd, buf, used);
        writeAll(fd, chunk, chunk.length);
        continue;
      }
      if (used + chunk.length > WRITE_BUF) used = flush(fd, buf, used);
      buf.set(chunk, used);
      used += chunk.length;
    }
    if (used) flush(fd, buf, used);
  }

  private dirHasSetgid(real: string): boolean {
    let v = this.setgid.get(real);
    if (v === undefined) {
      v = (fs.lstatSync(this.r.host(real)).mode & 0o2000) !== 0;
      this.setgid.set(real, v);
    }
    return v;
  }

  private dir(rel: string, real: string, host: string, h: TarHeader): void {
    if (!this.clear(host, true)) fs.mkdirSync(host, 0o700);
    this.r.remember(rel, real);
    this.setgid.set(real, (h.mode & 0o2000) !== 0);
    this.meta(host, h, false);
    this.dirTimes.push([real, h.atime ?? h.mtime, h.mtime]);
  }

  private hardlink(host: string, h: TarHeader): void {
    const targetRel = cleanArchivePath(h.linkname ?? "", this.what, this.place);
    if (targetRel === "") throw new KilnError(`${this.what}: hardlink "${h.name}" points at the ${this.place} itself`);
    const target = this.r.host(this.r.parent(targetRel, false).real);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(target);
    } catch {
      throw new KilnError(`${this.what}: hardlink "${h.name}" -> "${h.linkname}": target does not exist in the ${this.place}`);
    }
    if (st.isDirectory()) throw new KilnError(`${this.what}: hardlink "${h.name}" -> "${h.linkname}": target is a directory`);
    if (target === host) return;
    this.clear(host, false);
    fs.linkSync(target, host);
  }

  private special(host: string, h: TarHeader): void {
    this.clear(host, false);
    const kind = h.type === "char" ? S_IFCHR : h.type === "block" ? S_IFBLK : S_IFIFO;
    try {
      if (libcAvailable()) mknod(host, kind | (h.mode & 0o777), h.devmajor ?? 0, h.devminor ?? 0);
      else if (h.type === "fifo") mkfifo(host);
      else throw Object.assign(new Error("mknod needs libc (Bun or Deno with FFI)"), { code: "ENOSYS" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPERM" || code === "EACCES" || code === "ENOSYS") {
        this.warn(`mknod:${h.name}`, `skipping ${h.type} device "${h.name}": ${code} (creating device nodes needs root)`);
        return;
      }
      throw e;
    }
    this.meta(host, h, false);
  }

  // chown before chmod (chown clears setuid/setgid), xattrs after both (chown clears security.capability).
  private meta(host: string, h: TarHeader, symlink: boolean): void {
    const uid = this.fixedOwner?.uid ?? h.uid;
    const gid = this.fixedOwner?.gid ?? h.gid;
    if (symlink) {
      if (this.chown) fs.lchownSync(host, uid, gid);
      this.xattrs(host, h);
      fs.lutimesSync(host, h.atime ?? h.mtime, h.mtime);
      return;
    }
    if (this.chown) fs.chownSync(host, uid, gid);
    fs.chmodSync(host, h.mode & 0o7777);
    this.xattrs(host, h);
    if (h.type !== "dir") fs.utimesSync(host, h.atime ?? h.mtime, h.mtime);
  }

  // Layers only: ADD archives and contexts are extracted without xattrs.
  private xattrs(host: string, h: TarHeader): void {
    if (!this.layer || !h.xattrs || h.xattrs.size === 0) return;
    if (!libcAvailable()) {
      this.warn("xattr-libc", `extended attributes not applied (this runtime has no FFI for lsetxattr), first on "${h.name}"`);
      return;
    }
    for (const [k, v] of h.xattrs) {
      try {
        lsetxattr(host, k, v);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EPERM" || code === "EACCES") {
          this.warn(`xattr:${k}`, `cannot set xattr ${k} (${code}), first on "${h.name}"; skipping it`);
          continue;
        }
        throw e;
      }
    }
  }

  private whiteout(dirReal: string, name: string): void {
    const dirHost = this.r.host(dirReal);
    if (name === OPAQUE_WHITEOUT) {
      let names: string[];
      try {
        names = fs.readdirSync(dirHost);
      } catch {
        return;
      }
      for (const n of names) {
        const childReal = dirReal === "" ? n : dirReal + "/" + n;
        if (this.written.has(childReal)) continue;
        fs.rmSync(this.r.host(childReal), { recursive: true, force: true });
      }
      this.invalidate();
      return;
    }
    const victim = name.slice(WHITEOUT_PREFIX.length);
    if (victim === "" || victim === "." || victim === "..") {
      throw new KilnError(`${this.what}: invalid whiteout "${name}" in "/${dirReal}"`);
    }
    const real = dirReal === "" ? victim : dirReal + "/" + victim;
    fs.rmSync(this.r.host(real), { recursive: true, force: true });
    this.invalidate();
  }
}

function splitTop(rel: string): string {
  const i = rel.indexOf("/");
  return i < 0 ? rel : rel.slice(0, i);
}

function writeAll(fd: number, b: Uint8Array, n: number): void {
  let off = 0;
  while (off < n) off += fs.writeSync(fd, b, off, n - off);
}

function flush(fd: number, b: Uint8Array, n: number): number {
  writeAll(fd, b, n);
  return 0;
}

function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr?.toString().trim() || r.error?.message}`);
}
