// The writes of one COPY/ADD into a rootfs (copy.ts has the rules it follows): destinations
// resolved inside the rootfs, parents created, entries written with their metadata, and the
// changed paths collected for the snapshotter.
import fs from "node:fs";
import { errnoText, KilnError } from "../../util/errors.ts";
import { resolveInRoot } from "../../run/root-path.ts";
import { decompressAny, isArchiveFile } from "./archive.ts";
import { extractTar } from "../../fs/unpack.ts";
import type { ChmodFn } from "./chmod.ts";
import { resolveChown, type Owner } from "./owner.ts";
import type { Download } from "./remote.ts";
import type { Match } from "./sources.ts";
import type { CopySpec } from "./types.ts";

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

const baseName = (p: string) => p.split("/").filter((s) => s !== "").pop() ?? "";

export class Writer {
  private root: string;
  private owner?: Owner;
  private isRoot = process.getuid?.() === 0;
  private changed = new Set<string>();
  private dirTimes: [string, number, number][] = [];
  private links = new Map<string, string>();

  constructor(
    private spec: CopySpec,
    private cmd: string,
    private chmod: ChmodFn | undefined,
  ) {
    this.root = fs.realpathSync(spec.rootfs);
    if (spec.chown !== undefined && spec.chown !== "") this.owner = resolveChown(this.root, spec.chown);
  }

  private host(rel: string): string {
    return rel === "" ? this.root : this.root + "/" + rel;
  }

  /** Rootfs-relative real path of a rootfs-absolute path, every symlink followed inside the root. */
  private real(abs: string): string {
    const h = resolveInRoot(this.root, abs);
    return h === this.root ? "" : h.slice(this.root.length + 1);
  }

  private lstat(rel: string): fs.Stats | undefined {
    try {
      return fs.lstatSync(this.host(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  private mkdirAll(rel: string): void {
    let cur = "";
    for (const c of rel.split("/")) {
      if (c === "") continue;
      cur = cur === "" ? c : cur + "/" + c;
      let st = this.lstat(cur);
      if (st?.isSymbolicLink()) {
        cur = this.real("/" + cur);
        st = this.lstat(cur);
      }
      if (!st) {
        const h = this.host(cur);
        fs.mkdirSync(h, 0o755);
        fs.chmodSync(h, 0o755); // not subject to the umask
        if (this.owner && this.isRoot) fs.chownSync(h, this.owner.uid, this.owner.gid);
        this.changed.add(cur);
      } else if (!st.isDirectory()) {
        throw new KilnError(`${this.cmd}: cannot create directory "/${cur}": it exists and is not a directory`);
      }
    }
  }

  /** Make room for a non-directory at rel: an existing file or symlink goes, a directory is an error. */
  private makeRoom(rel: string): string {
    const h = this.host(rel);
    const st = this.lstat(rel);
    if (st?.isDirectory()) throw new KilnError(`${this.cmd}: cannot replace directory "/${rel}" with a file`);
    if (st) fs.unlinkSync(h);
    this.changed.add(rel);
    return h;
  }

  /** Where a single non-directory source lands: dest, or dest/name when dest is a directory. */
  private fileTarget(destAbs: string, name: string, destIsDir: boolean): string {
    const rel = this.real(destAbs);
    const st = this.lstat(rel);
    if (destIsDir || st?.isDirectory()) {
      this.mkdirAll(rel);
      return rel === "" ? name : rel + "/" + name;
    }
    const slash = rel.lastIndexOf("/");
    if (slash > 0) this.mkdirAll(rel.slice(0, slash));
    return rel;
  }

  private ownerOf(st: fs.Stats): Owner {
    if (this.owner) return this.owner;
    return this.spec.preserveOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 };
  }

  // chown before chmod (chown clears setuid/setgid).
  private meta(h: string, o: Owner, mode: number, atime: number, mtime: number, dir: boolean): void {
    if (this.isRoot) fs.chownSync(h, o.uid, o.gid);
    fs.chmodSync(h, this.chmod ? this.chmod(mode, dir) : mode);
    if (dir) this.dirTimes.push([h, atime, mtime]);
    else fs.utimesSync(h, atime, mtime);
  }

  async match(m: Match, destAbs: string, destIsDir: boolean): Promise<void> {
    const parents = this.spec.parents === true;
    if (m.st.isDirectory()) {
      const target = parents && m.keep !== "" ? destAbs + "/" + m.keep : destAbs;
      const rel = this.real(target);
      const st = this.lstat(rel);
      if (st && !st.isDirectory()) throw new KilnError(`${this.cmd}: cannot copy directory "${m.rel || "."}" to "${target}": it exists and is not a directory`);
      if (!st) this.mkdirAll(rel);
      return this.tree(m, rel);
    }
    if (this.spec.isAdd && m.st.isFile() && (await isArchiveFile(m.host, `ADD "${m.rel}"`))) {
      const dirAbs = parents ? destAbs + "/" + m.keep.split("/").slice(0, -1).join("/") : destAbs;
      const rel = this.real(dirAbs);
      this.mkdirAll(rel);
      const owner = this.owner ?? "archive";
      const top = await extractTar(decompressAny(fs.createReadStream(m.host), `ADD "${m.rel}"`), this.host(rel), { what: `ADD "${m.rel}"`, owner });
      for (const t of top) this.changed.add(rel === "" ? t : rel + "/" + t);
      return;
    }
    const rel = parents ? this.fileTarget(destAbs + "/" + m.keep, "", false) : this.fileTarget(destAbs, baseName(m.rel), destIsDir);
    this.entry(rel, m.host, m.st, undefined, m.rel);
  }

  private tree(m: Match, destRel: string): void {
    const dirs = new Map<string, string>([["", destRel]]);
    for (const e of m.children) {
      const slash = e.sub.lastIndexOf("/");
      const parent = dirs.get(slash < 0 ? "" : e.sub.slice(0, slash))!;
      const name = slash < 0 ? e.sub : e.sub.slice(slash + 1);
      const rel = parent === "" ? name : parent + "/" + name;
      if (!e.st.isDirectory()) {
        this.entry(rel, e.host, e.st, e.link, m.rel === "" ? e.sub : m.rel + "/" + e.sub);
        continue;
      }
      const st = this.lstat(rel);
      if (st?.isSymbolicLink()) {
        const r = this.real("/" + rel);
        if (!this.lstat(r)?.isDirectory()) throw new KilnError(`${this.cmd}: cannot copy to non-directory "/${rel}"`);
        dirs.set(e.sub, r); // write through the in-rootfs symlink, leave its target's metadata alone
        continue;
      }
      if (st && !st.isDirectory()) throw new KilnError(`${this.cmd}: cannot copy to non-directory "/${rel}"`);
      const h = this.host(rel);
      if (!st) fs.mkdirSync(h, 0o700);
      this.meta(h, this.ownerOf(e.st), e.st.mode & 0o7777, e.st.atimeMs / 1000, e.st.mtimeMs / 1000, true);
      this.changed.add(rel);
      dirs.set(e.sub, rel);
    }
  }

  /** One file or symlink at rel (its final component is never followed). */
  private entry(rel: string, src: string, st: fs.Stats, link: string | undefined, name: string): void {
    const h = this.makeRoom(rel);
    const o = this.ownerOf(st);
    if (st.isSymbolicLink()) {
      fs.symlinkSync(link ?? fs.readlinkSync(src), h);
      if (this.isRoot) fs.lchownSync(h, o.uid, o.gid);
      fs.lutimesSync(h, st.atimeMs / 1000, st.mtimeMs / 1000);
      return;
    }
    if (!st.isFile()) throw new KilnError(`${this.cmd}: "${name}" is a special file (device, fifo or socket); only files, directories and symlinks can be copied`);
    const key = st.nlink > 1 ? `${st.dev}:${st.ino}` : "";
    const first = key ? this.links.get(key) : undefined;
    if (first !== undefined) {
      fs.linkSync(first, h);
      return;
    }
    try {
      fs.copyFileSync(src, h, fs.constants.COPYFILE_EXCL);
    } catch (e) {
      throw new KilnError(`${this.cmd} failed: cannot copy "${name}": ${errnoText(e)}`);
    }
    if (key) this.links.set(key, h);
    this.meta(h, o, st.mode & 0o7777, st.atimeMs / 1000, st.mtimeMs / 1000, false);
  }

  private writeNew(rel: string, data: Uint8Array | string, mode: number, mtime: number): void {
    const h = this.makeRoom(rel);
    const fd = fs.openSync(h, O_NEW, 0o600);
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    this.meta(h, this.owner ?? { uid: 0, gid: 0 }, mode, mtime, mtime, false);
  }

  heredoc(name: string, content: string, destAbs: string, destIsDir: boolean): void {
    this.writeNew(this.fileTarget(destAbs, name, destIsDir), content, 0o644, Date.now() / 1000);
  }

  url(d: Download, destAbs: string, destIsDir: boolean): void {
    const rel = this.fileTarget(destAbs, d.name, destIsDir);
    const h = this.makeRoom(rel);
    fs.copyFileSync(d.file, h, fs.constants.COPYFILE_EXCL);
    const t = d.mtime ?? Date.now() / 1000;
    this.meta(h, this.owner ?? { uid: 0, gid: 0 }, 0o600, t, t, false);
  }

  finish(): void {
    // Setting a directory's times does not touch its parent, so order does not matter; it must
    // only come after every write into the directory.
    for (const [h, a, m] of this.dirTimes) fs.utimesSync(h, a, m);
  }

  /** Changed paths, reduced so that none is below another (the snapshotter walks subtrees). */
  paths(): string[] {
    const out: string[] = [];
    for (const p of [...this.changed].sort()) {
      if (p === "") continue;
      const parts = p.split("/");
      let under = false;
      for (let i = 1; i < parts.length && !under; i++) under = this.changed.has(parts.slice(0, i).join("/"));
      if (!under) out.push("/" + p);
    }
    return out;
  }
}
