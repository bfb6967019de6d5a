// Writing a LayerPlan as a layer: entries sorted by name, hardlinks detected by inode, whiteouts,
// xattrs, optional mtime clamping. Content is read only here, only for the paths in the plan.
import fs from "node:fs";
import type { TarHeader } from "../tar/types.ts";
import { libcAvailable, lgetxattr, llistxattr } from "../runtime/libc.ts";
import { KilnError } from "../util/errors.ts";
import type { LayerPlan } from "./diff.ts";
import { LayerWriter, type WrittenLayer } from "./layer-writer.ts";
import type { Compression } from "./compression.ts";
import { hostPath } from "./tree-index.ts";
import { splitParent } from "./resolve.ts";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "./unpack.ts";

export interface PlanWriteOptions {
  compression: Compression;
  level?: number;
  /** Clamp every mtime to at most this (seconds), for byte-identical layers. */
  reproducible?: { epoch: number };
}

const SMALL = 1 << 20;
/** Never copied into layers: overlayfs bookkeeping and host SELinux labels. */
const SKIP_XATTR = /^(trusted\.overlay\.|security\.selinux$)/;

type Item = { name: string; rel: string; kind: 0 | 1 | 2 }; // 0 entry, 1 whiteout, 2 opaque

export async function writePlanLayer(root: string, plan: LayerPlan, outDir: string, opts: PlanWriteOptions): Promise<WrittenLayer> {
  const items: Item[] = [];
  for (const rel of plan.entries) items.push({ name: rel, rel, kind: 0 });
  for (const rel of plan.whiteouts) {
    const [dir, base] = splitParent(rel);
    items.push({ name: (dir ? dir + "/" : "") + WHITEOUT_PREFIX + base, rel, kind: 1 });
  }
  for (const rel of plan.opaque) items.push({ name: rel + "/" + OPAQUE_WHITEOUT, rel, kind: 2 });
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const w = new LayerWriter(outDir, { compression: opts.compression, level: opts.level });
  const links = new Map<string, string>(); // "dev:ino" → first name written
  const xattrsOk = libcAvailable();
  const clamp = opts.reproducible ? (t: number) => Math.min(t, opts.reproducible!.epoch) : (t: number) => t;
  try {
    for (const it of items) {
      if (it.kind !== 0) {
        await w.add({ name: it.name, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: clamp(0) });
        continue;
      }
      const host = hostPath(root, it.rel);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(host);
      } catch {
        continue; // removed after the walk (e.g. by a process that outlived its step)
      }
      const h: TarHeader = {
        name: it.name,
        type: "file",
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: 0,
        mtime: clamp(Math.floor(st.mtimeMs / 1000)),
      };
      if (xattrsOk) {
        const x = readXattrs(host);
        if (x) h.xattrs = x;
      }
      if (st.isFile()) {
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            h.type = "hardlink";
            h.linkname = first;
            delete h.xattrs;
            await w.add(h);
            continue;
          }
          links.set(key, it.name);
        }
        h.size = st.size;
        await w.add(h, st.size === 0 ? undefined : st.size <= SMALL ? readSmall(host, st.size) : readLarge(host, st.size));
      } else if (st.isDirectory()) {
        h.type = "dir";
        await w.add(h);
      } else if (st.isSymbolicLink()) {
        h.type = "symlink";
        h.linkname = fs.readlinkSync(host);
        await w.add(h);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        h.type = st.isCharacterDevice() ? "char" : "block";
        h.devmajor = devMajor(st.rdev);
        h.devminor = devMinor(st.rdev);
        await w.add(h);
      } else if (st.isFIFO()) {
        h.type = "fifo";
        await w.add(h);
      } // sockets cannot be represented in tar and are dropped, as docker and kaniko do
    }
    return await w.finish();
  } catch (e) {
    w.abort();
    if (e instanceof KilnError) throw e;
    throw new KilnError(`snapshot of ${root}: ${(e as Error).message}`);
  }
}

function readXattrs(host: string): Map<string, Uint8Array> | undefined {
  let names: string[];
  try {
    names = llistxattr(host);
  } catch {
    return undefined; // ENOTSUP on filesystems without xattrs
  }
  let out: Map<string, Uint8Array> | undefined;
  for (const n of names.sort()) {
    if (SKIP_XATTR.test(n)) continue;
    const v = lgetxattr(host, n);
    if (v === null) continue;
    (out ??= new Map()).set(n, v);
  }
  return out;
}

// Exactly `size` bytes, as promised in the header, even if the file changed size since the lstat.
function readSmall(host: string, size: number): Uint8Array {
  const buf = new Uint8Array(size);
  const fd = fs.openSync(host, "r");
  try {
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

// One buffer, reused: the tar writer's consumer copies what it keeps (layer-writer.ts), and a
// fresh 4 MiB buffer per chunk left hundreds of MB of garbage for a big file.
async function* readLarge(host: string, size: number): AsyncGenerator<Uint8Array> {
  const fd = fs.openSync(host, "r");
  const whole = new Uint8Array(Math.min(4 << 20, size));
  try {
    let off = 0;
    while (off < size) {
      const buf = whole.subarray(0, Math.min(whole.length, size - off));
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, off + got);
        if (n === 0) break;
        got += n;
      }
      off += buf.length; // a file that shrank is padded with zeros to its header size
      yield buf;
    }
  } finally {
    fs.closeSync(fd);
  }
}

// glibc's major()/minor() for a 64-bit dev_t that fits a JS number (all real devices do).
export function devMajor(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}
