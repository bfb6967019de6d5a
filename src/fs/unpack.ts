// Unpacking tar streams into a directory, streaming: OCI layers onto a rootfs (applyLayer), and ADD
// archives and tar build contexts into a destination directory (extractTar). The decompressed bytes
// go chunk by chunk through the push tar reader into the Unpacker (unpack-entries.ts), which writes
// each entry with synchronous fs calls: per-call overhead dominates unpacking, the sync calls are
// the cheapest on both Bun and Deno, and the whole archive costs one await per chunk.
import fs from "node:fs";
import { TarPushReader } from "../tar/push-reader.ts";
import { KilnError } from "../util/errors.ts";
import { limitUnpacked } from "./compression.ts";
import { inflateLayer } from "./small-layer.ts";
import { SKELETON_KEEPS, Unpacker, type UnpackOptions, type UnpackOwner } from "./unpack-entries.ts";

export { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "./unpack-whiteout.ts";
export { SKELETON_KEEPS, type UnpackOwner };

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

/** Apply one layer (gzip, zstd or plain tar; detected from its bytes) to `rootfs`. */
export async function applyLayer(rootfs: string, compressed: AsyncIterable<Uint8Array>, opts: ApplyOptions): Promise<void> {
  const what = opts.source ? `layer ${opts.source}` : `layer (${opts.mediaType})`;
  await unpack(rootfs, inflateLayer(compressed, what), { kind: "layer", what, owner: "archive", onWarning: opts.onWarning, protect: opts.protect, skeleton: opts.skeleton, keep: opts.keep });
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
  const reader = new TarPushReader(u);
  try {
    for await (const chunk of limitUnpacked(tar, opts.what)) reader.push(chunk);
    reader.finish();
  } catch (e) {
    u.abort();
    // The tar reader's own errors (truncated, bad checksum, bad PAX) are about the archive, not kiln.
    if (e instanceof KilnError) throw e;
    throw new KilnError(`${opts.what}: ${(e as Error).message}`);
  }
  u.finish();
  return u;
}
