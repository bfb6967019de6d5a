// Cache entries in a local OCI image layout (--cache-repo oci:DIR): the same entry images as
// in a registry, tagged through org.opencontainers.image.ref.name in index.json. Written by
// the one layout writer (atomic, digest-checked blobs; index.json under a lock), so a build's
// --oci-layout-path or `kiln copy` may share the directory.
import { rmSync } from "node:fs";
import type { Layer } from "../image/image.ts";
import { layerFromFile } from "../image/layer.ts";
import { readLayoutBlob } from "../image/layout.ts";
import { blobPath, OciLayoutWriter, readLayoutIndex, REF_NAME } from "../image/layout-writer.ts";
import type { Descriptor } from "../image/types.ts";
import { annotatedHit, buildEntry, entryHit, expired, parseEntryManifest, type CacheHit, type PutMeta, type WrittenLayerLike } from "./entry.ts";
import { isCacheKey } from "./key.ts";
import type { CacheStore, CacheStoreOptions } from "./store.ts";

export class LayoutCacheStore implements CacheStore {
  readonly repository = undefined;
  private now: () => Date;

  constructor(readonly dir: string, private opts: CacheStoreOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  describe(): string {
    return `oci:${this.dir}`;
  }

  async probe(keys: readonly string[]): Promise<(CacheHit | undefined)[]> {
    const failures: string[] = [];
    let byTag = new Map<string, Descriptor>();
    try {
      for (const d of readLayoutIndex(this.dir).manifests ?? []) {
        const tag = d.annotations?.[REF_NAME];
        if (tag) byTag.set(tag, d);
      }
    } catch (e) {
      failures.push((e as Error).message);
      byTag = new Map();
    }
    const out = keys.map((key) => {
      const d = byTag.get(key);
      if (!d || !isCacheKey(key)) return undefined;
      try {
        const where = `${this.describe()} entry ${key}`;
        const manifest = parseEntryManifest(readLayoutBlob(this.dir, d), where);
        const hit = annotatedHit(key, d.digest, manifest, where) ?? entryHit(key, d.digest, manifest, readLayoutBlob(this.dir, manifest.config), where);
        return expired(hit.created, this.opts.ttlMs, this.now()) ? undefined : hit;
      } catch (e) {
        failures.push(`${key.slice(0, 12)}: ${(e as Error).message}`);
        return undefined;
      }
    });
    if (failures.length) this.opts.warn(`cache ${this.describe()}: ${failures.length} lookup(s) failed, counted as misses (${failures[0]}${failures.length > 1 ? "; …" : ""})`);
    return out;
  }

  layerOf(hit: CacheHit): Layer | undefined {
    if (!hit.layer) return undefined;
    const { digest, size, mediaType, diffId } = hit.layer;
    return layerFromFile({ path: blobPath(this.dir, digest), digest, size, mediaType, diffId });
  }

  async put(key: string, layer: WrittenLayerLike | null, meta: PutMeta): Promise<void> {
    if (this.opts.readOnly) return;
    try {
      if (!isCacheKey(key)) throw new Error(`"${key}" is not a cache key`);
      const e = buildEntry(key, layer, meta, this.now());
      const w = new OciLayoutWriter(this.dir).init();
      if (layer && meta.replaceBlob) rmSync(blobPath(this.dir, layer.digest), { force: true }); // the stored copy is corrupt
      if (layer) await w.putFile(layer.path, layer.digest, layer.size);
      w.putBytes(e.configBytes, e.configDigest);
      w.putBytes(e.manifestBytes, e.manifestDigest);
      await w.addManifest({ mediaType: e.mediaType, digest: e.manifestDigest, size: e.manifestBytes.length }, key);
    } catch (e) {
      this.opts.warn(`cache ${this.describe()}: could not store entry ${key.slice(0, 12)}: ${(e as Error).message}`);
    }
  }
}
