// Packs a rootfs directory into a reproducible gzipped layer: GNU tar with sorted names, one fixed
// mtime, numeric owners kept as they are on disk, no atime/ctime, then gzip -n (no name/timestamp).
// Same tree in → same bytes out, so layer and image digests are stable between runs.
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, statSync } from "node:fs";
import { exec } from "./exec.ts";

export interface PackedLayer {
  /** sha256:… of the uncompressed tar (config rootfs.diff_ids). */
  diffId: string;
  /** sha256:… of the gzip blob. */
  digest: string;
  size: number;
}

export async function packRootfs(rootfs: string, tarFile: string, gzFile: string, epoch: number): Promise<PackedLayer> {
  // Top-level names listed explicitly so entries read "bin/…" rather than "./bin/…", like registry images.
  const top = readdirSync(rootfs).sort();
  await exec("tar", [
    "--create", `--file=${tarFile}`, "--format=pax", "--sort=name", `--mtime=@${epoch}`, "--numeric-owner",
    "--xattrs", "--xattrs-include=security.capability",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "-C", rootfs, "--", ...top,
  ]);
  const diffId = await sha256File(tarFile);
  await exec("sh", ["-c", `gzip -n -c -- "$0" > "$1"`, tarFile, gzFile]);
  return { diffId, digest: await sha256File(gzFile), size: statSync(gzFile).size };
}

/** Digest of a .tar.gz blob plus the diff_id of its content. */
export async function describeGzLayer(gzFile: string): Promise<PackedLayer> {
  const diffHex = (await exec("sh", ["-c", `gzip -dc -- "$0" | sha256sum`, gzFile])).split(/\s/)[0];
  return { diffId: `sha256:${diffHex}`, digest: await sha256File(gzFile), size: statSync(gzFile).size };
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (b) => h.update(b))
      .on("error", reject)
      .on("end", () => resolve(`sha256:${h.digest("hex")}`));
  });
}
