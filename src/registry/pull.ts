// Images backed by a registry: manifests resolved (index → platform), config fetched,
// layers fetched lazily when opened. Every image pull starts here, so mirrors and remaps
// (client.pullManifest) and --image-download-retry apply to FROM, COPY --from, copy and warm alike.
import { KilnError } from "../util/errors.ts";
import { makeImage, parseImageConfig, parseImageManifest, type Image, type Layer } from "../image/image.ts";
import { DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, formatOf, isImageManifest, isIndex } from "../image/media-types.ts";
import { hostPlatform, selectManifest } from "../image/platform.ts";
import type { Reference } from "../image/reference.ts";
import type { Descriptor, ImageIndex, Platform } from "../image/types.ts";
import type { ManifestResponse, ReadOptions, RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";

export interface FetchImageOptions {
  /** Which image to take from an index (default: the host's platform). */
  platform?: Platform;
}

export interface ResolvedManifest extends ManifestResponse {
  /** The reference that names exactly this image manifest (repo@digest), where it was found (a mirror, or the original). */
  ref: Reference;
  /** The index it was picked from, when the reference named an index. */
  index?: ManifestResponse;
}

/** Resolve a reference to an image manifest, picking the platform from an index. */
export async function resolveImageManifest(client: RegistryClient, ref: Reference, opts: FetchImageOptions = {}): Promise<ResolvedManifest> {
  const { from, ...top } = await client.pullManifest(ref);
  checkSupported(top.mediaType, ref);
  if (isImageManifest(top.mediaType)) return { ...top, ref: from.withDigest(top.digest) };
  const index = JSON.parse(new TextDecoder().decode(top.bytes)) as ImageIndex;
  const want = opts.platform ?? hostPlatform();
  const d = selectManifest(index.manifests ?? [], want, `${ref}`);
  const child = from.withDigest(d.digest);
  const m = await client.getManifest(child, undefined, PULL);
  checkSupported(m.mediaType, child);
  if (!isImageManifest(m.mediaType)) throw new KilnError(`${child}: expected an image manifest in the index, got ${m.mediaType}`);
  return { ...m, ref: child, index: top };
}

function checkSupported(mt: string, ref: Reference): void {
  if (mt === DOCKER_MANIFEST_V1 || mt === DOCKER_MANIFEST_V1_SIGNED) {
    throw new KilnError(`${ref}: Docker schema 1 manifests are deprecated and not supported; re-push the image with a current tool`);
  }
  if (!isImageManifest(mt) && !isIndex(mt)) throw new KilnError(`${ref}: unsupported manifest media type "${mt}"`);
}

const PULL: ReadOptions = { pull: true };

/** Pull an image's manifest and config; layers are fetched when opened. --image-download-retry retries the whole download. */
export async function fetchImage(client: RegistryClient, ref: Reference, opts: FetchImageOptions = {}): Promise<Image> {
  const extra = client.options.imageDownloadRetry ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchImageOnce(client, ref, opts);
    } catch (e) {
      if (attempt >= extra || !worthAnotherDownload(e)) throw e;
      await client.pullTransport.backoff(attempt, undefined, `download of ${ref} (--image-download-retry): ${(e as Error).message}`);
    }
  }
}

/** Connection failures, 5xx and 429 may pass; a missing image, a refusal or a bad manifest will not. */
function worthAnotherDownload(e: unknown): boolean {
  if (e instanceof RegistryError) return e.status === 0 || e.status >= 500 || e.status === 429;
  return !(e instanceof KilnError);
}

async function fetchImageOnce(client: RegistryClient, ref: Reference, opts: FetchImageOptions): Promise<Image> {
  const m = await resolveImageManifest(client, ref, opts);
  const where = `${m.ref}`;
  const manifest = parseImageManifest(m.bytes, where);
  const configBytes = await client.getBlobBytes(m.ref, manifest.config.digest, manifest.config.size, PULL);
  const config = parseImageConfig(configBytes, `${where} config ${manifest.config.digest}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new KilnError(`${where}: manifest has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const layers = manifest.layers.map((d, i) => remoteLayer(client, m.ref, d, config.rootfs.diff_ids[i]!, PULL));
  return makeImage({ format: formatOf(m.mediaType), config, configBytes, layers, manifestBytes: m.bytes });
}

/**
 * A layer known by its descriptor in a registry repository. Nothing is downloaded until
 * open(); pushes to the same registry mount it from `repo`.
 */
export function remoteLayer(client: RegistryClient, repo: Reference, desc: Descriptor, diffId: string, read?: ReadOptions): Layer {
  const source = repo.withRepository(repo.repository);
  return Object.freeze({
    digest: desc.digest,
    diffId,
    size: desc.size,
    mediaType: desc.mediaType,
    annotations: desc.annotations,
    urls: desc.urls,
    sources: Object.freeze([source]),
    open: () => client.openBlob(source, desc.digest, desc.size, read),
  });
}
