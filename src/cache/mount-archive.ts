// A cache-mount directory as one tar+zstd blob and back (docs/cache.md, "Cache mounts in the
// cache repository"). The tar is deterministic — names sorted, each entry with its own mode,
// owner and mtime, hard links by inode (src/fs/plan-writer.ts) — so its diffID is the content
// digest of the directory. Extraction goes through the unpacker's confinement (src/fs/unpack.ts):
// nothing in a blob (`..`, absolute names, planted symlinks) can write outside the directory.
import { createHash } from "node:crypto";
import { compressionOfMediaType, decompress, zstdSupported } from "../fs/compression.ts";
import { emptyPlan } from "../fs/diff.ts";
import type { WrittenLayer } from "../fs/layer-writer.ts";
import { writePlanLayer } from "../fs/plan-writer.ts";
import { T_DIR, walkTree } from "../fs/tree-index.ts";
import { extractTar } from "../fs/unpack.ts";

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
