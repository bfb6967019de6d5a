// Pure functions that derive a new Image from an old one. The input is never changed.
import { cloneJson } from "../util/clone.ts";
import { KilnError } from "../util/errors.ts";
import { sha256 } from "./digest.ts";
import { makeImage, type Image, type Layer } from "./image.ts";
import { withLayerProps } from "./layer.ts";
import { convertLayerMediaType, type ImageFormat } from "./media-types.ts";
import { hostPlatform, parsePlatform } from "./platform.ts";
import type { ContainerConfig, HistoryEntry, ImageConfig, ImageManifest, Platform } from "./types.ts";

/** The Image for `FROM scratch`: no layers, an empty runtime config. */
export function emptyImage(platform: Platform | string = hostPlatform(), format: ImageFormat = "oci"): Image {
  const p = typeof platform === "string" ? parsePlatform(platform) : platform;
  const config: ImageConfig = { architecture: p.architecture, os: p.os, config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] };
  if (p.variant) config.variant = p.variant;
  return makeImage({ format, config, layers: [] });
}

function mutable(img: Image): ImageConfig {
  return cloneJson(img.config) as ImageConfig;
}

function rebuild(img: Image, config: ImageConfig, layers: readonly Layer[] = img.layers, format: ImageFormat = img.format): Image {
  config.rootfs = { type: "layers", diff_ids: layers.map((l) => l.diffId) };
  return makeImage({ format, config, layers, annotations: img.manifest.annotations as Record<string, string> | undefined });
}

/**
 * Append layers with their history. `history` may hold empty_layer entries (ENV, CMD…);
 * its non-empty entries must match the layers one to one. Without history, each layer
 * gets a plain entry.
 */
export function appendLayers(img: Image, layers: readonly Layer[], history?: readonly HistoryEntry[]): Image {
  const hist = history ? [...history] : layers.map(() => ({ created_by: "kiln" }) as HistoryEntry);
  const nonEmpty = hist.filter((h) => !h.empty_layer).length;
  if (nonEmpty !== layers.length) {
    throw new KilnError(`appendLayers: ${layers.length} layers but ${nonEmpty} non-empty history entries`);
  }
  const config = mutable(img);
  config.history = [...(config.history ?? []), ...hist.map((h) => ({ ...h }))];
  return rebuild(img, config, [...img.layers, ...layers]);
}

/** Add history entries that carry no layer (metadata instructions). */
export function appendHistory(img: Image, entries: readonly HistoryEntry[]): Image {
  const config = mutable(img);
  config.history = [...(config.history ?? []), ...entries.map((h) => ({ ...h, empty_layer: true }))];
  return rebuild(img, config);
}

/** Replace the whole config file; rootfs.diff_ids always follows the image's layers. */
export function withConfig(img: Image, config: ImageConfig): Image {
  return rebuild(img, cloneJson(config) as ImageConfig);
}

/** Replace the runtime config (Env, Cmd, Entrypoint, Labels…). */
export function withContainerConfig(img: Image, cc: ContainerConfig): Image {
  const config = mutable(img);
  config.config = cloneJson(cc);
  return rebuild(img, config);
}

/** Set the image's `created` time. */
export function withCreated(img: Image, created: Date | string): Image {
  const config = mutable(img);
  config.created = typeof created === "string" ? created : rfc3339(created);
  return rebuild(img, config);
}

export function withHistory(img: Image, history: readonly HistoryEntry[]): Image {
  const nonEmpty = history.filter((h) => !h.empty_layer).length;
  if (nonEmpty !== img.layers.length) throw new KilnError(`withHistory: ${img.layers.length} layers but ${nonEmpty} non-empty history entries`);
  const config = mutable(img);
  config.history = history.map((h) => ({ ...h }));
  return rebuild(img, config);
}

/** Manifest annotations (OCI only; Docker v2s2 has none). */
export function withAnnotations(img: Image, annotations: Record<string, string>): Image {
  return makeImage({ format: img.format, config: img.config as ImageConfig, configBytes: img.configBytes, layers: img.layers, annotations: { ...(img.manifest.annotations ?? {}), ...annotations } });
}

/** The same image with OCI or Docker v2s2 manifest, config and layer media types. */
export function withFormat(img: Image, format: ImageFormat): Image {
  if (format === img.format) return img;
  const layers = img.layers.map((l) => withLayerProps(l, { mediaType: convertLayerMediaType(l.mediaType, format) }));
  return makeImage({ format, config: img.config as ImageConfig, configBytes: img.configBytes, layers, annotations: format === "oci" ? (img.manifest.annotations as Record<string, string>) : undefined });
}

export interface ManifestBlob {
  mediaType: string;
  bytes: Uint8Array;
  digest: string;
  manifest: ImageManifest;
}

/** The manifest of `img` in the given format (same config bytes, converted media types). */
export function toManifest(img: Image, format: ImageFormat = img.format): ManifestBlob {
  const i = withFormat(img, format);
  return { mediaType: i.mediaType, bytes: i.manifestBytes, digest: sha256(i.manifestBytes), manifest: i.manifest as ImageManifest };
}

/**
 * Strip what changes from run to run (kaniko --reproducible): `created` of the image and
 * of every history entry become `epoch` (default 1970-01-01T00:00:00Z).
 */
export function canonicalize(img: Image, epoch: Date = new Date(0)): Image {
  const config = mutable(img);
  const t = rfc3339(epoch);
  config.created = t;
  config.history = (config.history ?? []).map((h) => ({ ...h, created: t }));
  return rebuild(img, config);
}

/** Go's time.RFC3339 rendering as Docker writes it ("2024-01-02T03:04:05Z"). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}
