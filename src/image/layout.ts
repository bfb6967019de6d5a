// Reading an image from an OCI image layout directory (image-spec layout.md: oci-layout,
// index.json, blobs/<alg>/<hex>), and writing one into it through the one layout writer.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { sha256 } from "./digest.ts";
import { makeImage, parseImageConfig, parseImageManifest, type Image } from "./image.ts";
import { layerFromFile } from "./layer.ts";
import { blobPath, OciLayoutWriter, readLayoutIndex, REF_NAME } from "./layout-writer.ts";
import { formatOf, isImageManifest, isIndex } from "./media-types.ts";
import { withFormat } from "./mutate.ts";
import { hostPlatform, selectManifest } from "./platform.ts";
import type { Descriptor, ImageIndex, Platform } from "./types.ts";

export { blobPath, REF_NAME } from "./layout-writer.ts";

export interface WriteLayoutOptions {
  /** Keep a Docker v2s2 manifest as is (exact digest) instead of converting it to OCI. */
  keepDockerFormat?: boolean;
}

/**
 * Write an image into an OCI layout (creating it, or adding to an existing one). With a
 * tag, the index entry carries org.opencontainers.image.ref.name and replaces an older
 * entry of that tag. Returns the manifest descriptor.
 *
 * Docker v2s2 images are converted to OCI media types (as skopeo does): skopeo and umoci
 * only read OCI manifests from a layout. The config and layer bytes are unchanged; the
 * manifest digest changes. `keepDockerFormat` writes the v2s2 manifest byte for byte.
 */
export async function writeOciLayout(img: Image, dir: string, tag?: string, opts: WriteLayoutOptions = {}): Promise<Descriptor> {
  if (img.format === "docker" && !opts.keepDockerFormat) img = withFormat(img, "oci");
  const w = new OciLayoutWriter(dir).init();
  return await w.addManifest(await w.putImage(img), tag);
}

/** A blob of the layout, checked against its digest. */
export function readLayoutBlob(dir: string, d: Pick<Descriptor, "digest">): Uint8Array {
  const path = blobPath(dir, d.digest);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new KilnError(`OCI layout ${dir}: blob ${d.digest} is missing`);
  }
  if (sha256(bytes) !== d.digest) throw new KilnError(`OCI layout ${dir}: blob ${d.digest} does not match its digest`);
  return bytes;
}

/**
 * The index.json entry whose ref.name is `tag` (a full reference in the annotation also
 * matches by its tag), or the only entry when no tag is given.
 */
export function findLayoutEntry(dir: string, tag?: string): Descriptor {
  if (!existsSync(join(dir, "index.json"))) throw new KilnError(`${dir}: not an OCI image layout (no index.json)`);
  const entries = readLayoutIndex(dir).manifests ?? [];
  const tags = () => entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean).join(", ");
  if (tag) {
    const d = entries.find((e) => e.annotations?.[REF_NAME] === tag) ?? entries.find((e) => e.annotations?.[REF_NAME]?.endsWith(`:${tag}`));
    if (!d) throw new KilnError(`OCI layout ${dir}: no image tagged "${tag}" (has: ${tags() || "no tags"})`);
    return d;
  }
  if (entries.length === 1) return entries[0]!;
  throw new KilnError(`OCI layout ${dir}: holds ${entries.length} images; name one with :TAG (tags: ${tags() || "none"})`);
}

/** Read an image from an OCI layout (the entry findLayoutEntry picks); an index entry is resolved to `platform` (default: the host's). */
export function readOciLayout(dir: string, tag?: string, platform: Platform = hostPlatform()): Image {
  let d: Descriptor | undefined = findLayoutEntry(dir, tag);
  for (let depth = 0; d && isIndex(d.mediaType); depth++) {
    if (depth > 4) throw new KilnError(`OCI layout ${dir}: indexes nested too deep`);
    const child = JSON.parse(new TextDecoder().decode(readLayoutBlob(dir, d))) as ImageIndex;
    d = selectManifest(child.manifests ?? [], platform, `OCI layout ${dir}`);
  }
  if (!d || !isImageManifest(d.mediaType)) throw new KilnError(`OCI layout ${dir}: unsupported manifest type ${d?.mediaType}`);
  const where = `OCI layout ${dir} manifest ${d.digest}`;
  const manifestBytes = readLayoutBlob(dir, d);
  const manifest = parseImageManifest(manifestBytes, where);
  const configBytes = readLayoutBlob(dir, manifest.config);
  const config = parseImageConfig(configBytes, where);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) throw new KilnError(`${where}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  const layers = manifest.layers.map((l, i) =>
    layerFromFile({ path: blobPath(dir, l.digest), mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i]!, annotations: l.annotations }),
  );
  return makeImage({ format: formatOf(d.mediaType), config, configBytes, layers, manifestBytes });
}
