// A cache-mount directory as one tar+zstd blob and back (docs/cache.md, "Cache mounts in the
// cache repository"), its content digest (what decides whether it changed), and a cheap
// fingerprint. The tar is deterministic: names sorted, each entry with its own mode, owner and
// mtime, hard links by inode (src/fs/plan-writer.ts). Extraction goes through the unpacker's
// confinement (src/fs/unpack.ts): nothing in a blob (`..`, absolute names, planted symlinks) can
// write outside the directory.
import { createHash } from "node:crypto";
import { closeSync, openSync, readlinkSync, readSync } from "node:fs";
import { compressionOfMediaType, decompress, zstdSupported } from "../fs/compression.ts";
import { emptyPlan } from "../fs/diff.ts";
import type { WrittenLayer } from "../fs/layer-writer.ts";
import { writePlanLayer } from "../fs/plan-writer.ts";
import { hostPath, T_BLOCK, T_CHAR, T_DIR, T_FIFO, T_FILE, T_SYMLINK, walkTree } from "../fs/tree-index.ts";
import { extractTar } from "../fs/unpack.ts";
import { compareUtf8, encodeCanon } from "./encoding.ts";

/** The directory as a tar+zstd layer file in `outDir` (gzip when the runtime has no zstd). */
export async function archiveDir(dir: string, outDir: string): Promise<WrittenLayer> {
  const plan = emptyPlan();
  for (const rel of (await walkTree(dir, new Set())).keys()) plan.entries.add(rel);
  return await writePlanLayer(dir, plan, outDir, { compression: zstdSupported() ? "zstd" : "gzip" });
}

/**
 * Extract a blob into `dest` (an existing, empty directory). Archive mode, not layer mode: a
 * cached file named `.wh.x` is a file, not a whiteout; entries keep their owner.
 */
export async function extractArchive(blob: AsyncIterable<Uint8Array>, dest: string, what: string, mediaType: string, warn: (m: string) => void): Promise<void> {
  if (compressionOfMediaType(mediaType) === undefined) throw new Error(`${what}: unexpected media type ${mediaType}`);
  await extractTar(decompress(blob, what), dest, { what, owner: "archive", onWarning: warn });
}

/**
 * A cheap fingerprint of the directory as it is on this machine (lstat only: inode, size, mtime,
 * ctime of non-directories, mode, owner), so an untouched directory is recognised without
 * reading or archiving it. Directory ctimes are left out, as the walk snapshotter does.
 */
export async function dirFingerprint(dir: string): Promise<{ fingerprint: string; entries: number }> {
  const idx = await walkTree(dir, new Set());
  const h = createHash("sha256");
  for (const rel of [...idx.keys()].sort()) {
    const m = idx.get(rel)!;
    h.update(`${rel}\0${m.type} ${m.mode} ${m.uid} ${m.gid} ${m.size} ${m.mtimeMs} ${m.type === T_DIR ? "" : m.ctimeMs} ${m.ino} ${m.nlink}\n`);
  }
  return { fingerprint: h.digest("hex"), entries: idx.size };
}

const TYPE_NAMES: Record<number, string> = { [T_FILE]: "file", [T_DIR]: "dir", [T_SYMLINK]: "symlink", [T_CHAR]: "char", [T_BLOCK]: "block", [T_FIFO]: "fifo" };

/**
 * The content digest of a directory: "sha256:" + SHA-256 of the canonical encodings
 * (src/cache/encoding.ts) of one list per path, [path, type, mode, uid, gid, data], in UTF-8 byte
 * order of the paths; data is "sha256:<hex>" of a file's bytes, a symlink's target, else "".
 * Times are left out: a cache whose files were only rewritten with the same bytes (apt-get update
 * renewing its lists) has not changed. Sockets are left out, as the tar leaves them out.
 */
export async function contentDigest(dir: string): Promise<string> {
  const idx = await walkTree(dir, new Set());
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const rel of [...idx.keys()].sort(compareUtf8)) {
    const m = idx.get(rel)!;
    const type = TYPE_NAMES[m.type];
    if (!type) continue;
    const host = hostPath(dir, rel);
    const data = m.type === T_FILE ? fileDigest(host, buf) : m.type === T_SYMLINK ? readlinkSync(host) : "";
    h.update(encodeCanon([rel, type, m.mode, m.uid, m.gid, data]));
  }
  return `sha256:${h.digest("hex")}`;
}

function fileDigest(path: string, buf: Buffer): string {
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return `sha256:${h.digest("hex")}`;
}
