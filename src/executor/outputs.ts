// Where a finished image goes: registries, an OCI layout, a docker-load tarball, digest files.
// Every registry push puts blobs first and the manifest last, so no tag points at a half image.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { parseRegistryLocation } from "../image/location.ts";
import { parseRepository, type Reference } from "../image/reference.ts";
import { writeDockerArchive, writeDockerArchiveImages } from "../image/docker-archive.ts";
import { writeOciLayout } from "../image/layout.ts";
import type { Image } from "../image/image.ts";
import { pushImage, type RegistryClient } from "../registry/index.ts";
import type { BlobPushEvent } from "../registry/push.ts";
import type { EarlyPush } from "../registry/early-push.ts";
import { pushIndex } from "../registry/push-index.ts";
import type { BuiltIndex } from "../image/index-manifest.ts";
import { writeOciLayoutIndex } from "../image/index-layout.ts";
import type { Logger } from "../util/log.ts";
import type { BuildOptions } from "./options.ts";

export function parseDestinations(opts: BuildOptions): Reference[] {
  return opts.destinations.map((d) => parseRegistryLocation(d, { what: "flag --destination" }));
}

export async function writeOutputs(img: Image, opts: BuildOptions, client: RegistryClient, log: Logger, mountFrom: string[], early?: EarlyPush): Promise<void> {
  const dests = parseDestinations(opts);
  if (opts.ociLayoutPath) {
    await writeOciLayout(img, opts.ociLayoutPath, dests[0]?.tag ?? "latest");
    log.info(`wrote OCI layout ${opts.ociLayoutPath}`, { event: "output", kind: "oci-layout", path: opts.ociLayoutPath });
  }
  if (opts.tarPath) {
    const tmp = `${opts.tarPath}.kiln-partial`;
    try {
      await writeDockerArchive(img, tmp, dests.filter((d) => d.tag).map((d) => d.toString()));
      renameSync(tmp, opts.tarPath);
    } finally {
      rmSync(tmp, { force: true });
    }
    log.info(`wrote image tarball ${opts.tarPath}`, { event: "output", kind: "tar", path: opts.tarPath });
  }
  if (!opts.noPush && dests.length > 0) {
    const t0 = performance.now();
    const total = (img.layers.length + 1) * dests.length;
    let done = 0;
    // A line per second while a push takes longer than that.
    const ticker = setInterval(() => log.info(`pushing: ${done} of ${total} blobs done`, { event: "push-progress", done, total }), 1000);
    let res;
    try {
      res = await pushImage(client, img, dests, {
        mountFrom: [...new Set(mountFrom)].map((r) => parseRepository(r)),
        pushedEarly: early && ((dest, digest) => early.pushed(dest, digest)),
        onBlob: (e) => {
          done++;
          log.debug(`blob ${e.digest.slice(0, 19)} ${e.action} at ${e.destination.context()}`);
        },
      });
    } finally {
      clearInterval(ticker);
    }
    logPushed(log, res, t0);
  }
  writeDigestFiles(img.manifestDigest, dests, opts);
}

/**
 * A multi-platform build's outputs: the index (with every platform's image) in the OCI layout
 * and under each destination (children by digest first, the tag last), digest files naming it.
 */
export async function writeIndexOutputs(idx: BuiltIndex, opts: BuildOptions, client: RegistryClient, log: Logger, mountFrom: string[]): Promise<void> {
  const dests = parseDestinations(opts);
  if (opts.ociLayoutPath) {
    await writeOciLayoutIndex(idx, opts.ociLayoutPath, dests[0]?.tag ?? "latest");
    log.info(`wrote OCI layout ${opts.ociLayoutPath} (index of ${idx.images.length} platforms)`, { event: "output", kind: "oci-layout", path: opts.ociLayoutPath });
  }
  if (opts.tarPath) {
    // A docker-load tarball holds images, not an index: one per platform, each destination's tag
    // suffixed with the platform (app:1 → app:1-linux-arm64), as multi-arch tags are commonly named.
    const tmp = `${opts.tarPath}.kiln-partial`;
    try {
      const entries = idx.images.map((img, i) => ({ img, refTags: dests.filter((d) => d.tag).map((d) => d.withTag(`${d.tag}-${platformTag(idx.index.manifests[i]!.platform!)}`).toString()) }));
      await writeDockerArchiveImages(entries, tmp);
      renameSync(tmp, opts.tarPath);
    } finally {
      rmSync(tmp, { force: true });
    }
    log.info(`wrote image tarball ${opts.tarPath} (${idx.images.length} platforms)`, { event: "output", kind: "tar", path: opts.tarPath });
  }
  if (!opts.noPush && dests.length > 0) {
    const t0 = performance.now();
    const res = await pushIndex(client, idx, dests, { mountFrom: [...new Set(mountFrom)].map((r) => parseRepository(r)), onBlob: (e) => log.debug(`blob ${e.digest.slice(0, 19)} ${e.action} at ${e.destination.context()}`) });
    logPushed(log, res, t0);
  }
  writeDigestFiles(idx.digest, dests, opts);
}

/** "linux-arm64-v8": a platform as a tag suffix. */
function platformTag(p: { os: string; architecture: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("-");
}

/** What a push did: each reference pushed, then the blob counts and the time. */
function logPushed(log: Logger, res: { blobs: readonly BlobPushEvent[]; pushed: readonly Reference[] }, t0: number): void {
  const counts = { uploaded: 0, mounted: 0, exists: 0 };
  for (const b of res.blobs) counts[b.action]++;
  for (const p of res.pushed) log.info(`pushed ${p}`, { event: "pushed", reference: p.toString() });
  log.info(`push took ${((performance.now() - t0) / 1000).toFixed(2)}s (blobs: ${counts.uploaded} uploaded, ${counts.mounted} mounted, ${counts.exists} already there)`, { event: "push-done", ...counts });
}

/** --digest-file and friends name `digest` (the image's, or the index's). */
function writeDigestFiles(digest: string, dests: Reference[], opts: BuildOptions): void {
  if (opts.digestFile) writeFileSync(opts.digestFile, digest);
  if (opts.imageNameWithDigestFile) writeFileSync(opts.imageNameWithDigestFile, dests.map((d) => `${d.context()}@${digest}\n`).join(""));
  if (opts.imageNameTagWithDigestFile) {
    writeFileSync(opts.imageNameTagWithDigestFile, dests.map((d) => `${d.context()}:${d.tag ?? "latest"}@${digest}\n`).join(""));
  }
}
