// The immutable image model (after go-containerregistry's v1.Image): a manifest, its
// config and its layers. Sources (registry, OCI layout, tarball, local files) produce
// Images; pure functions in mutate.ts derive new ones; sinks and pushImage consume them.
import { KilnError } from "../util/errors.ts";
import { sha256 } from "./digest.ts";
import { configMediaType, DOCKER_MANIFEST, formatOf, isForeignLayer, manifestMediaType, type ImageFormat } from "./media-types.ts";
import type { Reference } from "./reference.ts";
import type { Descriptor, ImageConfig, ImageManifest } from "./types.ts";

export interface Layer {
  /** Digest of the (compressed) blob as stored in registries. */
  readonly digest: string;
  /** Digest of the uncompressed tar (config rootfs.diff_ids). */
  readonly diffId: string;
  readonly size: number;
  readonly mediaType: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly urls?: readonly string[];
  /** Repositories known to hold this blob, so a push can mount instead of upload. */
  readonly sources: readonly Reference[];
  /** A local file with exactly these bytes, when there is one (uploads stream and retry from it). */
  readonly path?: string;
  /** The blob's bytes (compressed as stored), verified against `digest` as they are read. */
  open(): Promise<AsyncIterable<Uint8Array>>;
}

export interface Image {
  readonly format: ImageFormat;
  /** Manifest media type (OCI or Docker v2s2 image manifest). */
  readonly mediaType: string;
  readonly manifest: Readonly<ImageManifest>;
  /** Exact manifest bytes: what was pulled, or the canonical serialisation of a derived image. */
  readonly manifestBytes: Uint8Array;
  readonly manifestDigest: string;
  readonly config: Readonly<ImageConfig>;
  readonly configBytes: Uint8Array;
  readonly configDigest: string;
  readonly layers: readonly Layer[];
}

export interface ImageParts {
  format: ImageFormat;
  config: ImageConfig;
  /** Exact config bytes to keep (pulled images); derived from `config` when absent. */
  configBytes?: Uint8Array;
  layers: readonly Layer[];
  annotations?: Record<string, string>;
  /** Exact manifest bytes to keep (pulled images); must describe the same config and layers. */
  manifestBytes?: Uint8Array;
}

const enc = new TextEncoder();

/** Assemble an Image, serialising config and manifest canonically unless exact bytes are given. */
export function makeImage(parts: ImageParts): Image {
  // A config taken from another Image is deep-frozen already and shared as is; any other is copied
  // (one JSON text serves as both the copy's source and the config bytes: big configs of
  // ENV-heavy Dockerfiles are stringified once per image, not twice).
  let text: string | undefined;
  const config = Object.isFrozen(parts.config) ? parts.config : deepFreeze(JSON.parse(text = JSON.stringify(parts.config)) as ImageConfig);
  if (config.rootfs?.diff_ids?.length !== parts.layers.length) {
    throw new KilnError(`image config lists ${config.rootfs?.diff_ids?.length ?? 0} diff_ids but the image has ${parts.layers.length} layers`);
  }
  const configBytes = parts.configBytes ?? enc.encode(text ?? JSON.stringify(config));
  const configDigest = sha256(configBytes);
  let manifest: ImageManifest;
  let manifestBytes: Uint8Array;
  if (parts.manifestBytes) {
    manifestBytes = parts.manifestBytes;
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as ImageManifest;
  } else {
    manifest = buildManifest(parts.format, { mediaType: configMediaType(parts.format), digest: configDigest, size: configBytes.length }, parts.layers, parts.annotations);
    manifestBytes = enc.encode(JSON.stringify(manifest));
  }
  const mediaType = manifest.mediaType ?? manifestMediaType(parts.format);
  return Object.freeze({
    format: formatOf(mediaType),
    mediaType,
    manifest: deepFreeze(manifest),
    manifestBytes,
    manifestDigest: sha256(manifestBytes),
    config,
    configBytes,
    configDigest,
    layers: Object.freeze([...parts.layers]),
  });
}

/** A manifest with a stable key order, so the same image always has the same digest. */
export function buildManifest(format: ImageFormat, config: Descriptor, layers: readonly Layer[], annotations?: Record<string, string>): ImageManifest {
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: format === "docker" ? DOCKER_MANIFEST : manifestMediaType("oci"),
    config: descriptor(config),
    layers: layers.map((l) => layerDescriptor(l)),
  };
  if (annotations && Object.keys(annotations).length && format === "oci") m.annotations = { ...annotations };
  return m;
}

export function layerDescriptor(l: Layer): Descriptor {
  return descriptor({ mediaType: l.mediaType, digest: l.digest, size: l.size, urls: l.urls ? [...l.urls] : undefined, annotations: l.annotations ? { ...l.annotations } : undefined });
}

/** A descriptor with keys in spec order and empty optional fields dropped. */
export function descriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length) out.annotations = d.annotations;
  if (d.platform) out.platform = d.platform;
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/** Layers whose blobs a push must carry (foreign / non-distributable ones are referenced by URL). */
export function pushableLayers(img: Image): Layer[] {
  return img.layers.filter((l) => !isForeignLayer(l.mediaType));
}

/** Parse and sanity-check an image manifest's JSON. */
export function parseImageManifest(bytes: Uint8Array, where: string): ImageManifest {
  let m: ImageManifest;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new KilnError(`${where}: manifest is not valid JSON`);
  }
  if (m?.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new KilnError(`${where}: not an image manifest (schemaVersion 2 with config and layers)`);
  }
  return m;
}

export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  let c: ImageConfig;
  try {
    c = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new KilnError(`${where}: image config is not valid JSON`);
  }
  if (!c || typeof c !== "object" || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw new KilnError(`${where}: image config has no rootfs.diff_ids`);
  }
  return c;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}
