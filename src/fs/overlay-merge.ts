// Folding an overlay's upper dir into its lower dir (the rootfs) once the overlay is unmounted:
// renames on one filesystem, so a step's new files are moved, never copied or re-extracted.
// Afterwards the rootfs is what the merged view showed, inode sharing of hard links included, and
// the layer is written from it exactly as the walk snapshotter writes its own.
import fs from "node:fs";
import { libcAvailable, lgetxattr, llistxattr, lremovexattr, lsetxattr, setTimesNs } from "../runtime/libc.ts";
import { hostPath } from "./tree-index.ts";
import { splitParent } from "./resolve.ts";

/** overlayfs's own xattrs: meaningful in an upper dir only, never copied into the rootfs. */
const OVERLAY_XATTR = /^trusted\.overlay\./;

export function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaque(host: string): boolean {
  const v = lgetxattr(host, "trusted.overlay.opaque");
  return v !== null && v.length === 1 && v[0] === 0x79; /* y */
}

/** A copy-up of a lower file (same file as before the step), not a file created anew. */
export function isCopyUp(host: string): boolean {
  return lgetxattr(host, "trusted.overlay.origin") !== null;
}

/** A lower name that must become another name of a copied-up file (`to`): they were one inode. */
export interface Relink {
  alias: string;
  to: string;
}

/** Move everything in `upper` into `root`, apply its whiteouts and opaque dirs, then relink. */
export function mergeUpper(upper: string, root: string, relinks: readonly Relink[]): void {
  mergeDir(upper, root, "");
  const rootSt = fs.lstatSync(upper);
  const have = fs.lstatSync(root);
  if (have.uid !== rootSt.uid || have.gid !== rootSt.gid) fs.lchownSync(root, rootSt.uid, rootSt.gid);
  if ((have.mode & 0o7777) !== (rootSt.mode & 0o7777)) fs.chmodSync(root, rootSt.mode & 0o7777);
  for (const r of relinks) {
    const alias = hostPath(root, r.alias);
    const parent = hostPath(root, splitParent(r.alias)[0]);
    const t = fs.lstatSync(parent, { bigint: true });
    fs.unlinkSync(alias);
    fs.linkSync(hostPath(root, r.to), alias);
    setTimesNs(parent, t.atimeNs, t.mtimeNs); // the directory itself did not change in the step
  }
}

function mergeDir(upper: string, root: string, rel: string): void {
  for (const name of fs.readdirSync(hostPath(upper, rel))) {
    const p = rel === "" ? name : rel + "/" + name;
    const u = hostPath(upper, p);
    const r = hostPath(root, p);
    const st = fs.lstatSync(u);
    const lower = lstatOrNull(r);
    if (isWhiteout(st)) {
      if (lower) fs.rmSync(r, { recursive: true, force: true });
      continue;
    }
    if (st.isDirectory() && lower?.isDirectory() && !isOpaque(u)) {
      const us = fs.lstatSync(u, { bigint: true }); // before moving children out changes its mtime
      mergeDir(upper, root, p);
      copyDirMeta(u, us, r);
      continue;
    }
    if (lower && (lower.isDirectory() || st.isDirectory())) fs.rmSync(r, { recursive: true, force: true });
    fs.renameSync(u, r); // replaces a non-directory atomically
    if (st.isDirectory()) cleanMovedTree(r);
    else stripOverlayXattrs(r);
  }
}

/** A directory present on both sides: the upper's owner, mode, xattrs and times win. */
function copyDirMeta(u: string, us: fs.BigIntStats, r: string): void {
  const rs = fs.lstatSync(r);
  if (Number(us.uid) !== rs.uid || Number(us.gid) !== rs.gid) fs.lchownSync(r, Number(us.uid), Number(us.gid));
  if ((Number(us.mode) & 0o7777) !== (rs.mode & 0o7777)) fs.chmodSync(r, Number(us.mode) & 0o7777);
  if (libcAvailable()) syncXattrs(u, r);
  setTimesNs(r, us.atimeNs, us.mtimeNs);
}

function syncXattrs(from: string, to: string): void {
  const want = new Map<string, Uint8Array>();
  for (const n of listXattrs(from)) {
    if (OVERLAY_XATTR.test(n)) continue;
    const v = lgetxattr(from, n);
    if (v !== null) want.set(n, v);
  }
  for (const n of listXattrs(to)) {
    if (!want.has(n) && !OVERLAY_XATTR.test(n)) lremovexattr(to, n);
  }
  for (const [n, v] of want) {
    const have = lgetxattr(to, n);
    if (have === null || Buffer.compare(Buffer.from(have), Buffer.from(v)) !== 0) lsetxattr(to, n, v);
  }
}

/** A directory moved in whole: no overlay xattrs (nor stray whiteouts) may stay inside it. */
function cleanMovedTree(dir: string): void {
  stripOverlayXattrs(dir);
  for (const name of fs.readdirSync(dir)) {
    const h = dir + "/" + name;
    const st = fs.lstatSync(h);
    if (isWhiteout(st)) fs.unlinkSync(h);
    else if (st.isDirectory()) cleanMovedTree(h);
    else stripOverlayXattrs(h);
  }
}

function stripOverlayXattrs(host: string): void {
  if (!libcAvailable()) return;
  for (const n of listXattrs(host)) if (OVERLAY_XATTR.test(n)) lremovexattr(host, n);
}

function listXattrs(host: string): string[] {
  try {
    return llistxattr(host);
  } catch {
    return []; // a filesystem without xattrs
  }
}

function lstatOrNull(host: string): fs.Stats | null {
  try {
    return fs.lstatSync(host);
  } catch {
    return null;
  }
}
