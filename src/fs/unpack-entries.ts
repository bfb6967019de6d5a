// Writing tar entries into a directory, one synchronous call per entry and per body piece (the
// push reader's TarSink). Every path goes through RootResolver with the directory as "/", so nothing
// in the archive (`..`, absolute names, symlinks planted by this or an earlier layer, hardlink
// targets) can make a write land outside it.
//
// Syscalls per entry are the cost of unpacking, so each entry first tries the one call that creates
// it (open O_EXCL, mkdir, symlink) and only looks at what is there when that fails with EEXIST;
// chown and chmod are skipped when the create call already produced the right owner and mode; and
// directory times are set at the end by path while nothing was removed or replaced (else through a
// descriptor reached without symlinks).
import fs from "node:fs";
import type { TarHeader } from "../tar/types.ts";
import type { TarSink } from "../tar/push-reader.ts";
import { KilnError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";
import { cleanArchivePath, RootResolver, splitParent } from "./resolve.ts";
import { makeSpecial } from "./unpack-special.ts";
import { applyXattrs } from "./unpack-xattrs.ts";
import { OPAQUE_WHITEOUT, removeOpaque, removeWhiteout, WHITEOUT_PREFIX } from "./unpack-whiteout.ts";

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
export interface UnpackOptions {
  kind: "layer" | "archive";
  /** Names the archive in errors and warnings: `layer sha256:…`, `ADD "app.tar"`. */
  what: string;
  owner: UnpackOwner;
  onWarning?: (msg: string) => void;
  /** Rootfs-relative paths never written or removed, with everything below them. */
  protect?: readonly string[];
  /** Skeleton rootfs: regular files are created empty and their inode numbers added here. */
  skeleton?: Set<number>;
  /** Rootfs-relative real paths a skeleton keeps whole besides SKELETON_KEEPS. */
  keep?: readonly string[];
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

const isExists = (e: unknown) => (e as NodeJS.ErrnoException).code === "EEXIST";

export class Unpacker implements TarSink {
  private r: RootResolver;
  private isRoot = process.getuid?.() === 0;
  private euid = process.geteuid?.() ?? -1;
  private egid = process.getegid?.() ?? -1;
  private umask = process.umask();
  /** real dir → has setgid (new entries then inherit the dir's group, so chown cannot be skipped) */
  private setgid = new Map<string, boolean>();
  /** real rootfs-relative paths written by this layer: an opaque whiteout must spare them. */
  private written = new Set<string>();
  /** Real rootfs-relative paths of directories written, with their times: applied last (finish). */
  private dirTimes: [string, number, number][] = [];
  /** Set once anything was removed or replaced: directory paths must then be verified again. */
  private changed = false;
  private warned = new Set<string>();
  private what: string;
  private layer: boolean;
  /** What errors call the directory: "rootfs" or "destination". */
  private place: string;
  /** Whether files are chowned at all, and to a fixed owner rather than the entries' own. */
  private chown: boolean;
  private fixedOwner: { uid: number; gid: number } | undefined;
  /** The entry being written, its file descriptor (files; -1 when none) and where it goes. */
  private cur: TarHeader | null = null;
  private fd = -1;
  private curHost = "";
  private curDir = "";
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

  warn(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    (this.opts.onWarning ?? ((m: string) => console.error(redact(`kiln: warning: ${m}`))))(`${this.what}: ${msg}`);
  }

  entry(h: TarHeader): void {
    this.cur = h;
    try {
      this.start(h);
    } catch (e) {
      throw this.failed(e);
    }
  }

  body(bytes: Uint8Array): void {
    if (this.fd < 0) return; // a skeleton file, or an entry that was skipped
    try {
      let off = 0;
      while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
    } catch (e) {
      throw this.failed(e);
    }
  }

  end(): void {
    if (this.fd < 0) return;
    try {
      this.endFile(this.cur!);
    } catch (e) {
      throw this.failed(e);
    }
  }

  /** Close what an error left open. */
  abort(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private failed(e: unknown): unknown {
    this.abort();
    if (e instanceof KilnError) return e;
    return new KilnError(`${this.what}: cannot extract ${JSON.stringify(this.cur?.name)}: ${(e as Error).message}`);
  }

  private start(h: TarHeader): void {
    const rel = cleanName(h.name) ?? cleanArchivePath(h.name, this.what, this.place);
    if (this.opts.protect?.length && this.isProtected(rel)) return;
    if (rel === "") {
      // "./" carries the rootfs's own metadata; an archive's destination directory keeps its own.
      if (this.layer && h.type === "dir") this.meta(this.r.root, h);
      return;
    }
    if (!this.layer) this.top.add(splitTop(rel));
    const { dir, name, real } = this.r.parent(rel, true);
    if (this.layer && name.startsWith(WHITEOUT_PREFIX)) return this.whiteout(dir, name);
    const host = this.r.host(real);
    if (this.layer) this.written.add(real);
    switch (h.type) {
      case "file":
        return this.file(dir, real, host, h);
      case "dir":
        return this.dir(rel, dir, real, host, h);
      case "symlink":
        return this.symlink(dir, host, h);
      case "hardlink":
        return this.hardlink(host, h);
      case "char":
      case "block":
      case "fifo":
        this.clear(host, false);
        if (makeSpecial(host, h, (k, m) => this.warn(k, m))) this.meta(host, h);
        return;
    }
  }

  private isProtected(rel: string): boolean {
    const p = this.opts.protect!;
    // A whiteout names the path it removes.
    const [dir, name] = splitParent(rel);
    const target = this.layer && name.startsWith(WHITEOUT_PREFIX) && name !== OPAQUE_WHITEOUT ? (dir ? dir + "/" : "") + name.slice(WHITEOUT_PREFIX.length) : rel;
    return p.some((q) => target === q || target.startsWith(q + "/"));
  }

  private invalidate(): void {
    this.changed = true;
    this.r.invalidate();
    this.setgid.clear();
  }

  finish(): void {
    // Children were created after their directory, so directory mtimes are set last. While nothing
    // was removed or replaced, every directory this archive made is still a directory at its real
    // path (resolved without symlinks when it was made). Otherwise a later entry may have replaced
    // the directory, or one of its parents, with a symlink to anywhere (`d/`, then `d -> /etc`): the
    // path is resolved again inside the rootfs, and the times go on a descriptor of the directory
    // itself (O_NOFOLLOW), never through a host path.
    if (!this.changed) {
      for (let i = this.dirTimes.length - 1; i >= 0; i--) {
        const [real, a, m] = this.dirTimes[i]!;
        fs.lutimesSync(this.r.host(real), a, m);
      }
      return;
    }
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
    } else {
      fs.unlinkSync(host);
    }
    this.invalidate();
    return false;
  }

  // The create call alone where nothing is there yet (a fresh rootfs: no lstat first); whatever is
  // there is removed only when it fails with EEXIST.
  private create<T>(host: string, make: () => T): T {
    try {
      return make();
    } catch (e) {
      if (!isExists(e)) throw e;
      this.clear(host, false);
      return make();
    }
  }

  private owner(h: TarHeader): [number, number] {
    return [this.fixedOwner?.uid ?? h.uid, this.fixedOwner?.gid ?? h.gid];
  }

  // Whether an entry just created in `dir` needs a chown: new inodes belong to kiln's euid/egid,
  // or take the group of a setgid directory.
  private needsChown(dir: string, uid: number, gid: number): boolean {
    return this.chown && (uid !== this.euid || gid !== this.egid || this.dirHasSetgid(dir));
  }

  // Never write through an existing file (O_EXCL): it may be a hardlink from a lower layer.
  // Skeleton files are left empty (their body is skipped) and their inode is recorded.
  private file(dir: string, real: string, host: string, h: TarHeader): void {
    const perm = h.mode & 0o777;
    const fd = this.create(host, () => fs.openSync(host, O_NEW, perm));
    this.fd = fd;
    this.curHost = host;
    this.curDir = dir;
    const sk = this.opts.skeleton;
    if (sk && h.size > 0 && !SKELETON_KEEPS.includes(real) && !this.opts.keep?.includes(real)) {
      sk.add(fs.fstatSync(fd).ino);
      this.endFile(h); // the body is skipped: fd is -1 while it streams past
    }
  }

  private endFile(h: TarHeader): void {
    const fd = this.fd;
    try {
      const mode = h.mode & 0o7777;
      const [uid, gid] = this.owner(h);
      if (this.needsChown(this.curDir, uid, gid)) fs.fchownSync(fd, uid, gid);
      if (mode > 0o777 || (mode & this.umask) !== 0) fs.fchmodSync(fd, mode);
      if (this.layer) applyXattrs(this.curHost, h, (k, m) => this.warn(k, m));
      fs.futimesSync(fd, h.atime ?? h.mtime, h.mtime);
    } finally {
      this.fd = -1;
      fs.closeSync(fd);
    }
  }

  private dirHasSetgid(real: string): boolean {
    let v = this.setgid.get(real);
    if (v === undefined) {
      v = (fs.lstatSync(this.r.host(real)).mode & 0o2000) !== 0;
      this.setgid.set(real, v);
    }
    return v;
  }

  private dir(rel: string, parent: string, real: string, host: string, h: TarHeader): void {
    const mode = h.mode & 0o7777;
    const perm = mode & 0o777;
    let made = true;
    try {
      fs.mkdirSync(host, perm);
    } catch (e) {
      if (!isExists(e)) throw e;
      made = !this.clear(host, true);
      if (made) fs.mkdirSync(host, perm);
    }
    this.r.remember(rel, real);
    const [uid, gid] = this.owner(h);
    if (made ? this.needsChown(parent, uid, gid) : this.chown) fs.chownSync(host, uid, gid);
    // mkdir applied `perm` minus the umask, and a setgid parent adds its setgid bit.
    if (!made || mode !== perm || (perm & this.umask) !== 0 || this.dirHasSetgid(parent)) fs.chmodSync(host, mode);
    this.setgid.set(real, (mode & 0o2000) !== 0);
    if (this.layer) applyXattrs(host, h, (k, m) => this.warn(k, m));
    this.dirTimes.push([real, h.atime ?? h.mtime, h.mtime]);
  }

  private symlink(dir: string, host: string, h: TarHeader): void {
    const target = h.linkname ?? "";
    this.create(host, () => fs.symlinkSync(target, host));
    const [uid, gid] = this.owner(h);
    if (this.needsChown(dir, uid, gid)) fs.lchownSync(host, uid, gid);
    if (this.layer) applyXattrs(host, h, (k, m) => this.warn(k, m));
    fs.lutimesSync(host, h.atime ?? h.mtime, h.mtime);
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
    this.create(host, () => fs.linkSync(target, host));
  }

  // The rootfs's own "./" entry and device nodes. chown before chmod (chown clears setuid/setgid),
  // xattrs after both (chown clears security.capability).
  private meta(host: string, h: TarHeader): void {
    const [uid, gid] = this.owner(h);
    if (this.chown) fs.chownSync(host, uid, gid);
    fs.chmodSync(host, h.mode & 0o7777);
    if (this.layer) applyXattrs(host, h, (k, m) => this.warn(k, m));
    if (h.type !== "dir") fs.utimesSync(host, h.atime ?? h.mtime, h.mtime);
  }

  private whiteout(dirReal: string, name: string): void {
    if (name === OPAQUE_WHITEOUT) removeOpaque(this.r, dirReal, this.written);
    else removeWhiteout(this.r, dirReal, name, this.what);
    this.invalidate();
  }
}

// Names that need no cleaning (no leading "/", no empty, "." or ".." component; a trailing "/" is
// dropped), as nearly all layer entries are, skip cleanArchivePath's split and join.
const UNCLEAN = /^\/|\/\/|\/$|(^|\/)\.\.?(\/|$)/;
function cleanName(name: string): string | undefined {
  const n = name.endsWith("/") ? name.slice(0, -1) : name;
  return n === "" || UNCLEAN.test(n) ? undefined : n;
}

function splitTop(rel: string): string {
  const i = rel.indexOf("/");
  return i < 0 ? rel : rel.slice(0, i);
}
