// Shared bits of the cache tests: layer files as the layer writer leaves them, and a warning sink.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { WrittenLayerLike } from "../../src/cache/index.ts";
import { OCI_LAYER_GZIP } from "../../src/image/media-types.ts";

export const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
export const randomKey = () => randomBytes(32).toString("hex");

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A gzip layer file with random content (not a real tar: the cache never looks inside). */
export function layerFile(dir: string, mediaType = OCI_LAYER_GZIP, n = 5000): WrittenLayerLike & { bytes: Uint8Array } {
  const raw = randomBytes(n);
  const bytes = gzipSync(raw);
  const digest = sha(bytes);
  const path = join(dir, digest.slice(7));
  writeFileSync(path, bytes);
  return { path, mediaType, digest, size: bytes.length, diffId: sha(raw), bytes };
}

export function warnings(): { list: string[]; warn: (m: string) => void } {
  const list: string[] = [];
  return { list, warn: (m) => list.push(m) };
}
