// Cache entries in a registry repository: tag = key. Probes read the manifest and the tiny
// config only; puts push blobs first and tag last, so a tag never names a missing blob.
import { statSync } from "node:fs";
import type { Layer } from "../image/image.ts";
import { DOCKER_MANIFEST, OCI_MANIFEST } from "../image/media-types.ts";
import type { Reference } from "../image/reference.ts";
import { RegistryError } from "../registry/errors.ts";
import { mapLimit } from "../registry/limit.ts";
import { remoteLayer } from "../registry/pull.ts";
import type { RegistryClient } from "../registry/client.ts";
import { annotatedHit, buildEntry, entryHit, expired, parseEntryManifest, type CacheHit, type PutMeta, type WrittenLayerLike } from "./entry.ts";
import { isCacheKey } from "./key.ts";
import type { CacheStore, CacheStoreOptions } from "./store.ts";

const ENTRY_ACCEPT = `${OCI_MANIFEST}, ${DOCKER_MANIFEST}`;
/** Blobs above this size are looked for (HEAD) before they are uploaded. */
const ASK_FIRST = 64 << 10;

export class RegistryCacheStore implements CacheStore {
  private client: RegistryClient;
  private now: () => Date;

  constructor(readonly repository: Reference, private opts: CacheStoreOptions) {
    this.client = opts.client;
    this.now = opts.now ?? (() => new Date());
  }

  describe(): string {
    return this.repository.context();
  }

  async probe(keys: readonly string[]): Promise<(CacheHit | undefined)[]> {
    const failures: string[] = [];
    const out = await mapLimit(keys, this.opts.concurrency ?? 8, async (key) => {
      try {
        return await this.probeOne(key);
      } catch (e) {
        failures.push(`${key.slice(0, 12)}: ${(e as Error).message}`);
        return undefined;
      }
    });
    if (failures.length) {
      this.opts.warn(`cache ${this.describe()}: ${failures.length} lookup(s) failed, counted as misses (${failures[0]}${failures.length > 1 ? "; …" : ""})`);
    }
    return out;
  }

  private async probeOne(key: string): Promise<CacheHit | undefined> {
    if (!isCacheKey(key)) throw new Error(`"${key}" is not a cache key`);
    const ref = this.repository.withTag(key);
    let m;
    try {
      m = await this.client.getManifest(ref, ENTRY_ACCEPT);
    } catch (e) {
      // No such tag, or no such repository yet (NAME_UNKNOWN): a plain miss.
      if (e instanceof RegistryError && e.status === 404) return undefined;
      throw e;
    }
    const where = `${ref}`;
    const manifest = parseEntryManifest(m.bytes, where);
    const hit = annotatedHit(key, m.digest, manifest, where) ??
      entryHit(key, m.digest, manifest, await this.client.getBlobBytes(this.repository, manifest.config.digest, manifest.config.size), where);
    return expired(hit.created, this.opts.ttlMs, this.now()) ? undefined : hit;
  }

  layerOf(hit: CacheHit): Layer | undefined {
    if (!hit.layer) return undefined;
    const { digest, size, mediaType, diffId } = hit.layer;
    return remoteLayer(this.client, this.repository, { digest, size, mediaType }, diffId);
  }

  async hasLayer(hit: CacheHit): Promise<boolean> {
    if (!hit.layer) return true;
    try {
      return (await this.client.headBlob(this.repository, hit.layer.digest)) !== undefined;
    } catch {
      return true; // unknown: let the push or the unpack find out (and the build turn it into a miss there)
    }
  }

  async put(key: string, layer: WrittenLayerLike | null, meta: PutMeta): Promise<void> {
    if (this.opts.readOnly) return;
    try {
      if (!isCacheKey(key)) throw new Error(`"${key}" is not a cache key`);
      if (layer) {
        const st = statSync(layer.path);
        if (st.size !== layer.size) throw new Error(`layer file ${layer.path} is ${st.size} bytes, expected ${layer.size}`);
      }
      const e = buildEntry(key, layer, meta, this.now());
      // Layer and config at once (both settled before the put returns: the layer file may go
      // with the workspace after that); the tag only after both.
      const blobs = await Promise.allSettled([
        layer && this.ensureBlob(layer.digest, layer.size, () => this.client.uploadBlobFromFile(this.repository, layer.path, layer.digest, layer.size), meta.replaceBlob),
        this.ensureBlob(e.configDigest, e.configBytes.length, () => this.client.uploadBlobBytes(this.repository, e.configBytes).then(() => {})),
      ]);
      for (const b of blobs) if (b.status === "rejected") throw b.reason;
      // Last: only now may the tag exist. Concurrent PUTs of the same tag both succeed (last wins).
      await this.client.putManifest(this.repository.withTag(key), e.manifestBytes, e.mediaType);
    } catch (e) {
      this.opts.warn(`cache ${this.describe()}: could not store entry ${key.slice(0, 12)}: ${(e as Error).message}`);
    }
  }

  /**
   * Upload unless present (`replace`: upload anyway, over a stored copy known to be corrupt); a
   * failed upload is fine when a concurrent build committed the same blob meanwhile. A small
   * blob (an entry's config, most steps' layers) is uploaded without asking first: two requests
   * (POST, PUT) either way, where asking costs a third whenever the blob is new, as it nearly
   * always is; a registry given a blob it holds keeps its copy.
   */
  private async ensureBlob(digest: string, size: number, upload: () => Promise<void>, replace = false): Promise<void> {
    if (!replace && size > ASK_FIRST && (await this.client.headBlob(this.repository, digest)) !== undefined) return;
    try {
      await upload();
    } catch (e) {
      const now = await this.client.headBlob(this.repository, digest).catch(() => undefined);
      if (now === undefined) throw e;
    }
  }
}
