// COPY and ADD into a rootfs, following BuildKit (tonistiigi/fsutil's copy):
// - dest: relative to WORKDIR; symlinks on the way (the final one too) are followed with the rootfs
//   as "/" (BuildKit's fs.RootPath), so `/bin -> usr/bin` works and `/evil -> /etc` lands in
//   <rootfs>/etc, never the host's; missing parents are created 0755, owned by --chown if given;
// - a directory source copies its contents; the destination directory itself keeps its metadata;
//   existing child directories take the source's mode/owner/mtime (fsutil overwrites them); a child
//   directory that exists as a symlink to a directory inside the rootfs is followed (Docker's
//   classic builder and kaniko do; fsutil refuses);
// - a file source goes to dest/basename when dest ends with "/" or is a directory, else to dest;
//   an existing file (or symlink) there is replaced, an existing directory is an error;
// - metadata: source mode (or --chmod, on every copied file and directory, not on created parents),
//   source mtime, owner 0:0 for the context (or the source's own for --from with preserveOwner),
//   or --chown for everything written including created parents; xattrs are not copied;
//   hardlinked files within one COPY stay hardlinked.
// - with several sources, or a wildcard matching several, dest must end with "/" (Docker/kaniko;
//   a wildcard matching exactly one file may name a file destination).
import fs from "node:fs";
import { errnoText, KilnError } from "../../util/errors.ts";
import { resolveInRoot } from "../../run/root-path.ts";
import { decompressAny, isArchiveFile } from "./archive.ts";
import { extractTar } from "../../fs/unpack.ts";
import { parseChmod, resolveChown, type Owner } from "./owner.ts";
import { discard, download, parseChecksum, type Download } from "./remote.ts";
import { enumerateSources, isUrl, segments, type Match } from "./sources.ts";
import type { CopyResult, CopySpec } from "./types.ts";

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

const baseName = (p: string) => p.split("/").filter((s) => s !== "").pop() ?? "";

export async function copyInto(spec: CopySpec): Promise<CopyResult> {
  try {
    return await copyIntoUnchecked(spec);
  } catch (e) {
    // An errno from the file system (a file vanished, EACCES as non-root, ENOSPC) is the user's
    // to act on; the message carries the paths.
    if (e instanceof KilnError || typeof (e as NodeJS.ErrnoException)?.code !== "string") throw e;
    throw new KilnError(`${spec.isAdd ? "ADD" : "COPY"} failed: ${(e as Error).message}`);
  }
}

async function copyIntoUnchecked(spec: CopySpec): Promise<CopyResult> {
  const cmd = spec.isAdd ? "ADD" : "COPY";
  const heredocs = spec.heredocs ?? [];
  if (spec.sources.length === 0 && heredocs.length === 0) throw new KilnError(`${cmd} needs at least one source`);
  if (spec.checksum !== undefined) {
    if (!spec.isAdd) throw new KilnError(`COPY does not support --checksum; use ADD`);
    const local = spec.sources.find((s) => !isUrl(s));
    if (local !== undefined) throw new KilnError(`ADD --checksum works only with http(s) URL sources, not "${local}"`);
    parseChecksum(spec.checksum);
  }
  const chmod = spec.chmod === undefined || spec.chmod === "" ? undefined : parseChmod(spec.chmod);
  const groups = enumerateSources(spec);
  const workdir = spec.workdir.startsWith("/") ? spec.workdir : "/" + spec.workdir;
  const destAbs = "/" + segments(spec.dest.startsWith("/") ? spec.dest : workdir + "/" + spec.dest).join("/");
  const destIsDir = spec.dest.endsWith("/") || /(^|\/)\.$/.test(spec.dest) || destAbs === "/" || spec.parents === true;
  const total = groups.reduce((n, g) => n + (g.url ? 1 : g.matches.length), 0) + heredocs.length;
  if (total > 1 && !destIsDir) {
    throw new KilnError(`When using ${cmd} with more than one source file, the destination must be a directory and end with a / ("${spec.dest}")`);
  }
  const w = new Writer(spec, cmd, chmod);
  const downloads = new Map<string, Download>();
  try {
    // Everything is fetched (and checksummed) before the first write into the rootfs.
    for (const g of groups) if (g.url && !downloads.has(g.url)) downloads.set(g.url, await download(g.url, spec.tmpDir, spec.checksum));
    for (const g of groups) {
      if (g.url) w.url(downloads.get(g.url)!, destAbs, destIsDir);
      else for (const m of g.matches) await w.match(m, destAbs, destIsDir);
    }
    for (const h of heredocs) w.heredoc(h.name, h.content, destAbs, destIsDir);
  } finally {
    for (const d of downloads.values()) discard(d);
  }
  w.finish();
  return { paths: w.paths() };
}

class Writer {
  private root: string;
  private owner?: Owner;
  private isRoot = process.getuid?.() === 0;
  private changed = new Set<string>();
  private dirTimes: [string, number, number][] = [];
  private links = new Map<string, string>();

  constructor(
    private spec: CopySpec,
    private cmd: string,
    private chmod: number | undefined,
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
    fs.chmodSync(h, this.chmod ?? mode);
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
