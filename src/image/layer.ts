// Layers backed by local files or bytes in memory, and layer wrappers.
import { createReadStream } from "node:fs";
import { gunzipSync } from "node:zlib";
import { KilnError } from "../util/errors.ts";
import { checkDigest, sha256, verifyStream } from "./digest.ts";
import type { Layer } from "./image.ts";
import { layerCompression } from "./media-types.ts";
import type { Reference } from "./reference.ts";

export interface FileLayerInfo {
  path: string;
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  annotations?: Record<string, string>;
  /** Repositories that may already hold this blob (e.g. the cache repo it came from). */
  sources?: Reference[];
}

/** A layer whose compressed bytes are in a local file (written by the layer writer, or a cache dir). */
export function layerFromFile(info: FileLayerInfo): Layer {
  checkDigest(info.digest, `layer digest for ${info.path}`);
  checkDigest(info.diffId, `layer diffID for ${info.path}`);
  return Object.freeze({
    digest: info.digest,
    diffId: info.diffId,
    size: info.size,
    mediaType: info.mediaType,
    annotations: info.annotations,
    sources: Object.freeze([...(info.sources ?? [])]),
    path: info.path,
    open: async () => verifyStream(createReadStream(info.path, { highWaterMark: 1 << 20 }), info.digest, info.size, info.path),
  });
}

/**
 * A layer held in memory (small layers, tests). The diffID is computed when the media
 * type says gzip or uncompressed; zstd layers must pass it.
 */
export function layerFromBytes(bytes: Uint8Array, mediaType: string, diffId?: string): Layer {
  const digest = sha256(bytes);
  if (!diffId) {
    const c = layerCompression(mediaType);
    if (c === "zstd") throw new KilnError("layerFromBytes: zstd layers need an explicit diffId");
    diffId = c === "gzip" ? sha256(gunzipSync(bytes)) : digest;
  }
  const copy = bytes.slice();
  return Object.freeze({
    digest,
    diffId,
    size: copy.length,
    mediaType,
    sources: Object.freeze([]),
    open: async () => (async function* () { yield copy; })(),
  });
}

/** The same layer with other properties (media type on a format change, extra mount sources). */
export function withLayerProps(l: Layer, props: { mediaType?: string; sources?: readonly Reference[]; annotations?: Record<string, string> }): Layer {
  return Object.freeze({
    digest: l.digest,
    diffId: l.diffId,
    size: l.size,
    mediaType: props.mediaType ?? l.mediaType,
    annotations: props.annotations ?? l.annotations,
    urls: l.urls,
    sources: Object.freeze([...(props.sources ?? l.sources)]),
    path: l.path,
    open: () => l.open(),
  });
}
