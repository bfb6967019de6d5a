// Extracting a tar stream into a directory for ADD archives and tar build contexts. Unlike a layer
// (fs/unpack.ts), whiteout names are plain files here (Docker and BuildKit do the same), and every
// path resolves with the destination directory as "/" (BuildKit and Docker extract chrooted there),
// so neither `..`, absolute names nor symlinks in the archive can write outside it.
import fs from "node:fs";
import { readTar } from "../../tar/reader.ts";
import type { TarHeader } from "../../tar/types.ts";
import { libcAvailable, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from "../../runtime/libc.ts";
import { RootResolver } from "../../fs/resolve.ts";
import { KilnError } from "../../util/errors.ts";
import { limitUnpacked } from "../../fs/compression.ts";
import type { Owner } from "./owner.ts";

export interface ExtractOptions {
  /** Named in errors, e.g. `ADD "app.tar.gz"`. */
  what: string;
  /** "archive": the entries' own uid/gid; "none": leave as created (build contexts); or a --chown. */
  owner: "archive" | "none" | Owner;
  onWarning?: (msg: string) => void;
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Extract an uncompressed tar stream into `destHost`; returns the top-level names written. */
export async function extractTar(tar: AsyncIterable<Uint8Array>, destHost: string, opts: ExtractOptions): Promise<string[]> {
  const x = new Extractor(fs.realpathSync(destHost), opts);
  try {
    for await (const { header, body } of readTar(limitUnpacked(tar, opts.what))) {
      try {
        await x.entry(header, body);
      } catch (e) {
        if (e instanceof KilnError) throw e;
        throw new KilnError(`${opts.what}: cannot extract ${JSON.stringify(header.name)}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    // The tar reader's own errors (truncated, bad checksum, bad PAX) are about the archive.
    if (e instanceof KilnError) throw e;
    throw new KilnError(`${opts.what}: ${(e as Error).message}`);
  }
  x.finish();
  return [...x.top];
}

class Extractor {
  private r: RootResolver;
  private isRoot = process.getuid?.() === 0;
  private dirTimes: [string, number, number][] = [];
  readonly top = new Set<string>();

  constructor(root: string, private opts: ExtractOptions) {
    this.r = new RootResolver(root);
  }

  private clean(name: string): string {
    const out: string[] = [];
    for (const c of name.split("/")) {
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (out.length === 0) throw new KilnError(`${this.opts.what}: entry "${name}" climbs out of the destination with ".."; refusing it`);
        out.pop();
      } else out.push(c);
    }
    return out.join("/");
  }

  async entry(h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = this.clean(h.name);
    if (rel === "") return; // "./": the destination directory keeps its own metadata
    this.top.add(rel.split("/")[0]!);
    const { real } = this.r.parent(rel, true);
    const host = this.r.host(real);
    switch (h.type) {
      case "file": {
        this.clear(host, false);
        const fd = fs.openSync(host, O_NEW, 0o600);
        try {
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          }
        } finally {
          fs.closeSync(fd);
        }
        return this.meta(host, h);
      }
      case "dir":
        if (!this.clear(host, true)) fs.mkdirSync(host, 0o700);
        this.r.remember(rel, real);
        this.meta(host, h);
        this.dirTimes.push([host, h.atime ?? h.mtime, h.mtime]);
        return;
      case "symlink":
        this.clear(host, false);
        fs.symlinkSync(h.linkname ?? "", host);
        this.chown(host, h, true);
        fs.lutimesSync(host, h.atime ?? h.mtime, h.mtime);
        return;
      case "hardlink": {
        const targetRel = this.clean(h.linkname ?? "");
        const target = targetRel === "" ? "" : this.r.host(this.r.parent(targetRel, false).real);
        let st: fs.Stats | undefined;
        try {
          st = target === "" ? undefined : fs.lstatSync(target);
        } catch {}
        if (!st || st.isDirectory()) throw new KilnError(`${this.opts.what}: hardlink "${h.name}" -> "${h.linkname}": target is missing or a directory`);
        if (target === host) return;
        this.clear(host, false);
        fs.linkSync(target, host);
        return;
      }
      default:
        return this.special(host, h);
    }
  }

  finish(): void {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [p, a, m] = this.dirTimes[i]!;
      fs.utimesSync(p, a, m);
    }
  }

  // Remove what is at `host` unless it is a directory we may keep; true when a directory remains.
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
    } else fs.unlinkSync(host);
    this.r.invalidate();
    return false;
  }

  private special(host: string, h: TarHeader): void {
    this.clear(host, false);
    const kind = h.type === "char" ? S_IFCHR : h.type === "block" ? S_IFBLK : S_IFIFO;
    try {
      if (!libcAvailable()) throw Object.assign(new Error("no libc"), { code: "ENOSYS" });
      mknod(host, kind | (h.mode & 0o777), h.devmajor ?? 0, h.devminor ?? 0);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPERM" || code === "EACCES" || code === "ENOSYS") {
        (this.opts.onWarning ?? ((m: string) => console.error(`kiln: warning: ${m}`)))(`${this.opts.what}: skipping ${h.type} "${h.name}" (${code})`);
        return;
      }
      throw e;
    }
    this.meta(host, h);
  }

  private chown(host: string, h: TarHeader, symlink: boolean): void {
    const o = this.opts.owner;
    if (o === "none" || !this.isRoot) return;
    const [uid, gid] = o === "archive" ? [h.uid, h.gid] : [o.uid, o.gid];
    if (symlink) fs.lchownSync(host, uid, gid);
    else fs.chownSync(host, uid, gid);
  }

  // chown before chmod: chown clears setuid/setgid.
  private meta(host: string, h: TarHeader): void {
    this.chown(host, h, false);
    fs.chmodSync(host, h.mode & 0o7777);
    if (h.type !== "dir") fs.utimesSync(host, h.atime ?? h.mtime, h.mtime);
  }
}
