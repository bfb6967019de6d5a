// The build's own directory: every rootfs, layer file and downloaded blob lives below it, and
// it is removed when the build ends, fails or is interrupted.
import { chmodSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeOnExit } from "../util/cleanup.ts";

export interface Workspace {
  dir: string;
  /** Layer files written by snapshots (named by digest). */
  layers: string;
  /** Downloaded base/cache layer blobs, reused when a stage is unpacked twice. */
  blobs: string;
  /** A fresh directory for one purpose (a stage's rootfs, an extracted context). */
  subdir(name: string): string;
  /** Remove everything now (also happens at exit). */
  dispose(): void;
}

/** KILN_WORKDIR (or the system temp dir) holds the build dirs; it must allow devices and xattrs. */
export function createWorkspace(parent = process.env.KILN_WORKDIR || tmpdir(), blobDir?: string): Workspace {
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "kiln-build-"));
  // A rootfs is "/" for RUN commands of any user: its directories must be traversable.
  chmodSync(dir, 0o755);
  const dispose = removeOnExit(dir);
  const layers = join(dir, "layers");
  // --cache-dir keeps downloaded base layers (by digest) across builds.
  const blobs = blobDir ?? join(dir, "blobs");
  mkdirSync(layers);
  mkdirSync(blobs, { recursive: true });
  let n = 0;
  return {
    dir,
    layers,
    blobs,
    subdir(name: string) {
      const p = join(dir, `${String(++n).padStart(2, "0")}-${name}`);
      mkdirSync(p, { mode: 0o755 });
      chmodSync(p, 0o755);
      return p;
    },
    dispose,
  };
}
