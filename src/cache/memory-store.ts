// A CacheStore held in memory: the same entries (buildEntry/annotatedHit) as the registry and
// layout stores, without either, so the planner and the stage loop are unit-tested in-process.
// Tests can also damage it (drop or corrupt a layer blob) to see a bad hit become a miss.
import { readFileSync } from "node:fs";
import type { Layer } from "../image/image.ts";
import { sha256 } from "../image/digest.ts";
import { KilnError } from "../util/errors.ts";
import { annotatedHit, buildEntry, entryHit, expired, parseEntryManifest, type CacheHit, type PutMeta, type WrittenLayerLike } from "./entry.ts";
import { isCacheKey } from "./key.ts";
import type { CacheStore } from "./store.ts";

export interface MemoryStoreOptions {
  ttlMs?: number;
  readOnly?: boolean;
  now?: () => Date;
}

export class MemoryCacheStore implements CacheStore {
  /** Tag (key) → manifest digest. */
  readonly tags = new Map<string, string>();
  /** Blobs by digest: entry manifests, configs and layers. */
  readonly blobs = new Map<string, Uint8Array>();
  /** Every put, in order (tests count writes). */
  readonly puts: string[] = [];
  private now: () => Date;

  constructor(private opts: MemoryStoreOptions = {}) {
    this.now = opts.now ?? (() => new Date());
  }

  describe(): string {
    return "memory";
  }

  async probe(keys: readonly string[]): Promise<(CacheHit | undefined)[]> {
    return keys.map((key) => {
      const digest = this.tags.get(key);
      if (!digest) return undefined;
      try {
        const bytes = this.blobs.get(digest)!;
        const m = parseEntryManifest(bytes, `memory:${key}`);
        const hit = annotatedHit(key, digest, m, "memory") ?? entryHit(key, digest, m, this.blobs.get(m.config.digest) ?? new Uint8Array(), "memory");
        return expired(hit.created, this.opts.ttlMs ?? 0, this.now()) ? undefined : hit;
      } catch {
        return undefined;
      }
    });
  }

  layerOf(hit: CacheHit): Layer | undefined {
    if (!hit.layer) return undefined;
    const { digest, size, mediaType, diffId } = hit.layer;
    // Read when opened, so a blob dropped or corrupted after the probe shows at unpack time.
    const blobs = this.blobs;
    return {
      digest, diffId, size, mediaType, sources: [],
      async open() {
        const b = blobs.get(digest);
        if (!b) throw new KilnError(`memory cache: blob ${digest} is gone`);
        if (sha256(b) !== digest) throw new KilnError(`memory cache: blob ${digest} does not match its digest`);
        return (async function* () {
          yield b;
        })();
      },
    };
  }

  async hasLayer(hit: CacheHit): Promise<boolean> {
    return !hit.layer || this.blobs.has(hit.layer.digest);
  }

  async put(key: string, layer: WrittenLayerLike | null, meta: PutMeta): Promise<void> {
    if (this.opts.readOnly) return;
    if (!isCacheKey(key)) throw new KilnError(`"${key}" is not a cache key`);
    const e = buildEntry(key, layer, meta, this.now());
    if (layer) this.blobs.set(layer.digest, readFileSync(layer.path));
    this.blobs.set(e.configDigest, e.configBytes);
    this.blobs.set(e.manifestDigest, e.manifestBytes);
    this.tags.set(key, e.manifestDigest);
    this.puts.push(key);
  }
}
