// Test helpers: a full description of a directory tree (types, modes, owners, link targets,
// content hashes, xattrs, hardlink groups) and a readable diff of two of them.
import fs from "node:fs";
import { createHash } from "node:crypto";
import { libcAvailable, lgetxattr, llistxattr } from "../../src/runtime/libc.ts";

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  link?: string;
  sha?: string;
  rdev?: number;
  xattrs?: string;
  mtime?: number;
  /** index of the hardlink group (first path with the same inode), for files with nlink > 1 */
  group?: string;
}

export function typeOf(st: fs.Stats): string {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return "socket";
}

export function captureTree(root: string, opts: { mtimes?: boolean; skip?: (rel: string) => boolean } = {}): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  const groups = new Map<string, string>();
  const xok = libcAvailable();
  const visit = (rel: string) => {
    const host = rel === "" ? root : `${root}/${rel}`;
    const st = fs.lstatSync(host);
    const n: NodeInfo = { type: typeOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (n.type === "symlink") {
      n.link = fs.readlinkSync(host);
      delete (n as Partial<NodeInfo>).mode; // symlink modes are not settable on Linux
    }
    if (n.type === "file") {
      n.sha = createHash("sha256").update(fs.readFileSync(host)).digest("hex");
      if (st.nlink > 1) {
        const k = `${st.ino}`;
        if (!groups.has(k)) groups.set(k, rel || ".");
        n.group = groups.get(k);
      }
    }
    if (n.type === "char" || n.type === "block") n.rdev = st.rdev;
    if (opts.mtimes && n.type !== "symlink" && n.type !== "dir") n.mtime = Math.floor(st.mtimeMs / 1000);
    if (xok) {
      const names = llistxattr(host).filter((x) => !x.startsWith("trusted.overlay.") && x !== "security.selinux").sort();
      if (names.length) n.xattrs = names.map((x) => `${x}=${Buffer.from(lgetxattr(host, x) ?? []).toString("hex")}`).join(",");
    }
    out.set(rel || ".", n);
    if (n.type === "dir") {
      for (const c of fs.readdirSync(host).sort()) {
        const cr = rel === "" ? c : `${rel}/${c}`;
        if (opts.skip?.(cr)) continue;
        visit(cr);
      }
    }
  };
  visit("");
  return out;
}

/** Human-readable differences (empty when equal). Hardlink groups compare by membership. */
export function diffTrees(a: Map<string, NodeInfo>, b: Map<string, NodeInfo>, limit = 30): string[] {
  const d: string[] = [];
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y) d.push(`only in first: ${p} (${x.type})`);
    else if (JSON.stringify(x) !== JSON.stringify(y)) d.push(`differs: ${p}\n   ${JSON.stringify(x)}\n   ${JSON.stringify(y)}`);
    if (d.length >= limit) return d;
  }
  for (const [p, y] of b) if (!a.has(p)) {
    d.push(`only in second: ${p} (${y.type})`);
    if (d.length >= limit) return d;
  }
  return d;
}

export function* fileChunks(path: string, size = 1 << 16): Generator<Uint8Array> {
  const data = fs.readFileSync(path);
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export async function* asAsync(it: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* it;
}
