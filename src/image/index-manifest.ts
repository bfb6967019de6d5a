// An image index (OCI) or manifest list (Docker) over N single-platform images: what a
// multi-platform build and `kiln index create` push. Pure: the same images in the same order
// always give the same bytes, so a one-command build and a fan-out + index create agree.
import { KilnError } from "../util/errors.ts";
import { sha256 } from "./digest.ts";
import { descriptor, type Image } from "./image.ts";
import { indexMediaType, type ImageFormat } from "./media-types.ts";
import { withFormat } from "./mutate.ts";
import { formatPlatform, normalizePlatform } from "./platform.ts";
import type { ImageConfig, ImageIndex, Platform } from "./types.ts";

export interface BuiltIndex {
  format: ImageFormat;
  mediaType: string;
  index: Readonly<ImageIndex>;
  bytes: Uint8Array;
  digest: string;
  /** The children in index order, each in the index's format (converted when it was not). */
  images: readonly Image[];
}

export interface MakeIndexOptions {
  /** Index annotations (OCI only: a Docker manifest list has none). */
  annotations?: Record<string, string>;
  /** How to name each image in errors (its source reference); default "image N". */
  labels?: readonly string[];
}

/**
 * The platform an image is for, from its config: os, architecture, variant, os.version and
 * os.features, normalised as containerd does, except that arm64 is written with its variant v8
 * (as Docker's official images and the distribution spec's examples do); matching treats
 * linux/arm64 and linux/arm64/v8 as one platform either way.
 */
export function platformOfConfig(config: Pick<ImageConfig, "os" | "architecture" | "variant" | "os.version" | "os.features">, where = "image"): Platform {
  if (!config.os || !config.architecture) throw new KilnError(`${where}: its config names no os/architecture, so it has no platform for an index`);
  const n = normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant || undefined });
  // Spec order (architecture, os, os.version, os.features, variant), so the bytes are stable.
  const p: Platform = { architecture: n.architecture, os: n.os };
  if (config["os.version"]) p["os.version"] = config["os.version"];
  if (config["os.features"]?.length) p["os.features"] = [...config["os.features"]];
  const variant = n.variant ?? (n.architecture === "arm64" ? "v8" : undefined);
  if (variant) p.variant = variant;
  return p;
}

/**
 * One index over `images` in `format`. Each child's descriptor carries the platform of its
 * config; two children of one platform, or none at all, are errors. Children of the other
 * format are converted (their config and layer bytes stay; the manifest digest changes).
 */
export function makeIndex(images: readonly Image[], format: ImageFormat, opts: MakeIndexOptions = {}): BuiltIndex {
  if (!images.length) throw new KilnError("an index needs at least one image");
  const label = (i: number) => opts.labels?.[i] ?? `image ${i + 1}`;
  const children = images.map((img) => (img.format === format ? img : withFormat(img, format)));
  const seen = new Map<string, number>();
  const manifests = children.map((img, i) => {
    const platform = platformOfConfig(img.config, label(i));
    const key = `${formatPlatform(platform)}|${platform["os.version"] ?? ""}`;
    const other = seen.get(key);
    if (other !== undefined) throw new KilnError(`${label(other)} and ${label(i)} are both ${formatPlatform(platform)}: an index holds one image per platform`);
    seen.set(key, i);
    return descriptor({ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifestBytes.length, platform });
  });
  const mediaType = indexMediaType(format);
  const index: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  if (format === "oci" && opts.annotations && Object.keys(opts.annotations).length) index.annotations = { ...opts.annotations };
  const bytes = new TextEncoder().encode(JSON.stringify(index));
  return { format, mediaType, index: Object.freeze(index), bytes, digest: sha256(bytes), images: Object.freeze(children) };
}
