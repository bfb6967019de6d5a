// The cache entry format shared by the registry and OCI-layout stores: one small image per
// step, tagged with the key, holding the step's layer (or none) and a config saying what made it.
import { descriptor } from "../image/image.ts";
import { sha256 } from "../image/digest.ts";
import { configMediaType, DOCKER_MANIFEST, manifestMediaType, OCI_MANIFEST, type ImageFormat } from "../image/media-types.ts";
import { rfc3339 } from "../image/mutate.ts";
import type { ImageConfig, ImageManifest } from "../image/types.ts";
import { KilnError } from "../util/errors.ts";
import { CACHE_KEY_VERSION } from "./key.ts";

/** Config labels of an entry: its key (guards against foreign tags), the key format, and "no layer". */
export const LABEL_KEY = "dev.kiln.cache.key";
export const LABEL_VERSION = "dev.kiln.cache.version";
export const LABEL_EMPTY = "dev.kiln.cache.empty-layer";

/** Manifest annotations of an OCI entry, besides the labels above. */
const ANNOTATION_CREATED = "dev.kiln.cache.created";
const ANNOTATION_CREATED_BY = "dev.kiln.cache.created-by";
const ANNOTATION_DIFF_ID = "dev.kiln.cache.diff-id";

/** A layer file as src/fs/layer-writer.ts writes it. */
export interface WrittenLayerLike {
  path: string;
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
}

export interface PutMeta {
  /** History created_by of the step (what a hit puts in the image's history). */
  createdBy: string;
  /** Manifest family for an entry without a layer (default "oci"); with a layer, its media type decides. */
  format?: ImageFormat;
  /** Recorded in the entry config (default linux/unknown: entries are not runnable images). */
  platform?: { os: string; architecture: string; variant?: string };
  /**
   * The store's blob of this layer's digest was found corrupt: write it again even though the
   * store says it has one. An OCI layout replaces its file. A registry may keep the copy it holds
   * (distribution skips committing an upload whose digest it has), so there the entry is repaired
   * only by new content; until then each build warns and rebuilds the step, never uses the bad copy.
   */
  replaceBlob?: boolean;
}

export interface CacheHit {
  key: string;
  /** Digest of the entry manifest. */
  manifestDigest: string;
  /** The step's layer; undefined for a step that changed nothing. */
  layer?: { digest: string; size: number; mediaType: string; diffId: string };
  /** True for a step that produced no layer (its history entry is empty_layer). */
  empty: boolean;
  createdBy: string;
  /** RFC 3339 time the entry was written (the TTL counts from it). */
  created: string;
}

export interface EntryBlobs {
  configBytes: Uint8Array;
  configDigest: string;
  manifestBytes: Uint8Array;
  manifestDigest: string;
  mediaType: string;
}

const enc = new TextEncoder();

/** Docker v2s2 entry for a Docker layer media type, OCI otherwise, so a hit is never converted. */
export function entryFormat(layer: WrittenLayerLike | null, fallback: ImageFormat = "oci"): ImageFormat {
  if (!layer) return fallback;
  return layer.mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci";
}

export function buildEntry(key: string, layer: WrittenLayerLike | null, meta: PutMeta, created: Date): EntryBlobs {
  const format = entryFormat(layer, meta.format);
  const when = rfc3339(created);
  const labels: Record<string, string> = { [LABEL_KEY]: key, [LABEL_VERSION]: CACHE_KEY_VERSION };
  if (!layer) labels[LABEL_EMPTY] = "true";
  const p = meta.platform ?? { os: "linux", architecture: "unknown" };
  const config: ImageConfig = {
    created: when,
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: { Labels: labels },
    rootfs: { type: "layers", diff_ids: layer ? [layer.diffId] : [] },
    history: [{ created: when, created_by: meta.createdBy, comment: "kiln cache entry", ...(layer ? {} : { empty_layer: true }) }],
  };
  const configBytes = enc.encode(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType(format),
    config: descriptor({ mediaType: configMediaType(format), digest: configDigest, size: configBytes.length }),
    layers: layer ? [descriptor({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })] : [],
  };
  // OCI manifests carry what a hit needs, so a lookup is one request; Docker v2s2 has no
  // annotations and is read from the config.
  if (format === "oci") {
    manifest.annotations = {
      [LABEL_KEY]: key,
      [LABEL_VERSION]: CACHE_KEY_VERSION,
      [ANNOTATION_CREATED]: when,
      [ANNOTATION_CREATED_BY]: meta.createdBy,
      ...(layer ? { [ANNOTATION_DIFF_ID]: layer.diffId } : { [LABEL_EMPTY]: "true" }),
    };
  }
  const manifestBytes = enc.encode(JSON.stringify(manifest));
  return { configBytes, configDigest, manifestBytes, manifestDigest: sha256(manifestBytes), mediaType: manifest.mediaType! };
}

/** The config descriptor of an entry manifest (checked to be a kiln entry's shape). */
export function parseEntryManifest(bytes: Uint8Array, where: string): ImageManifest {
  let m: ImageManifest;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes)) as ImageManifest;
  } catch {
    throw new KilnError(`${where}: cache entry manifest is not valid JSON`);
  }
  const mt = m?.mediaType;
  if (m?.schemaVersion !== 2 || (mt !== undefined && mt !== OCI_MANIFEST && mt !== DOCKER_MANIFEST) || !m.config?.digest || !Array.isArray(m.layers) || m.layers.length > 1) {
    throw new KilnError(`${where}: not a kiln cache entry (want an image manifest with at most one layer)`);
  }
  return m;
}

/** The hit an entry describes; throws when the config does not belong to `key`. */
export function entryHit(key: string, manifestDigest: string, m: ImageManifest, configBytes: Uint8Array, where: string): CacheHit {
  let c: ImageConfig;
  try {
    c = JSON.parse(new TextDecoder().decode(configBytes)) as ImageConfig;
  } catch {
    throw new KilnError(`${where}: cache entry config is not valid JSON`);
  }
  const labels = c?.config?.Labels ?? {};
  if (labels[LABEL_KEY] !== key) throw new KilnError(`${where}: tag ${key} holds an entry labelled for key "${labels[LABEL_KEY] ?? ""}"`);
  const diffIds = c.rootfs?.diff_ids ?? [];
  if (diffIds.length !== m.layers.length) throw new KilnError(`${where}: cache entry has ${m.layers.length} layers but ${diffIds.length} diff_ids`);
  const empty = m.layers.length === 0;
  if (empty !== (labels[LABEL_EMPTY] === "true")) throw new KilnError(`${where}: cache entry's "${LABEL_EMPTY}" label does not match its layers`);
  if (!c.created || Number.isNaN(Date.parse(c.created))) throw new KilnError(`${where}: cache entry has no valid created time`);
  const l = m.layers[0];
  return {
    key,
    manifestDigest,
    layer: l ? { digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: diffIds[0]! } : undefined,
    empty,
    createdBy: c.history?.[0]?.created_by ?? "",
    created: c.created,
  };
}

/**
 * The hit an OCI entry's manifest annotations describe, or undefined when it has none (a Docker
 * entry, or one written before they existed: read its config with entryHit).
 */
export function annotatedHit(key: string, manifestDigest: string, m: ImageManifest, where: string): CacheHit | undefined {
  const a = m.annotations;
  if (!a || a[LABEL_KEY] === undefined) return undefined;
  if (a[LABEL_KEY] !== key) throw new KilnError(`${where}: tag ${key} holds an entry labelled for key "${a[LABEL_KEY]}"`);
  const created = a[ANNOTATION_CREATED] ?? "";
  if (Number.isNaN(Date.parse(created))) throw new KilnError(`${where}: cache entry has no valid created time`);
  const l = m.layers[0];
  const diffId = a[ANNOTATION_DIFF_ID];
  if (l ? !diffId || a[LABEL_EMPTY] !== undefined : a[LABEL_EMPTY] !== "true") throw new KilnError(`${where}: cache entry's annotations do not match its layers`);
  return {
    key,
    manifestDigest,
    layer: l ? { digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: diffId! } : undefined,
    empty: !l,
    createdBy: a[ANNOTATION_CREATED_BY] ?? "",
    created,
  };
}

/** Whether an entry written at `created` is older than the TTL (ttlMs <= 0 or Infinity: never). */
export function expired(created: string, ttlMs: number, now: Date): boolean {
  if (!(ttlMs > 0) || ttlMs === Infinity) return false;
  return now.getTime() - Date.parse(created) > ttlMs;
}
