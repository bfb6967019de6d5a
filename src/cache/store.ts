// The cache store API the executor uses, and which store a --cache-repo value names.
import type { Layer } from "../image/image.ts";
import { parseImageLocation, parseRegistryLocation } from "../image/location.ts";
import { parseRepository, type Reference } from "../image/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { KilnError } from "../util/errors.ts";
import type { CacheHit, PutMeta, WrittenLayerLike } from "./entry.ts";
import { LayoutCacheStore } from "./layout-store.ts";
import { RegistryCacheStore } from "./registry-store.ts";

export type { CacheHit, PutMeta, WrittenLayerLike } from "./entry.ts";

export interface CacheStore {
  /** For logs: "127.0.0.1:5000/app/cache" or "oci:/path". */
  describe(): string;
  /** The registry repository holding the entries (pushImage mountFrom); undefined for a layout. */
  readonly repository?: Reference;
  /**
   * Look every key up at once (bounded concurrency), reading only entry manifests and configs.
   * Never rejects: a missing repo, an expired entry, or any error (warned once) is a miss.
   */
  probe(keys: readonly string[]): Promise<(CacheHit | undefined)[]>;
  /** The hit's layer, fetched only when opened; undefined for an empty entry. */
  layerOf(hit: CacheHit): Layer | undefined;
  /**
   * Whether the hit's layer blob is still there (a hit whose blob is gone must be a miss, not a
   * failed push). Never rejects. Stores without it are checked through the layer's local path.
   */
  hasLayer?(hit: CacheHit): Promise<boolean>;
  /** Store a step's entry (layer blob, config, then the key's tag). Never rejects; no-op when read-only. */
  put(key: string, layer: WrittenLayerLike | null, meta: PutMeta): Promise<void>;
}

export interface CacheStoreOptions {
  client: RegistryClient;
  /** Entries older than this are misses; <= 0 or Infinity: no expiry. */
  ttlMs: number;
  /** --no-push-cache */
  readOnly: boolean;
  warn: (message: string) => void;
  /** Clock for entry times and the TTL (tests). */
  now?: () => Date;
  /** Probes in flight at once (default 8). */
  concurrency?: number;
}

/** A --cache-repo value: a registry repository, or a whole OCI layout (oci:DIR, oci-layout://DIR). */
function cacheLocation(spec: string): { dir: string } | { repository: Reference } {
  const loc = parseImageLocation(spec, { what: "flag --cache-repo", accept: ["registry", "oci"], repository: true, noTag: true });
  if (loc.kind === "oci") return { dir: loc.dir };
  if (loc.kind === "registry") return { repository: loc.ref };
  throw new KilnError(`flag --cache-repo: unexpected ${loc.kind} location`);
}

/** Whether a valid --cache-repo value names an OCI layout (false for anything else, even malformed). */
export function isLayoutSpec(spec: string): boolean {
  try {
    return "dir" in cacheLocation(spec);
  } catch {
    return false;
  }
}

/** Open the cache named by a --cache-repo value (a registry repository, oci:DIR or oci-layout://DIR). Throws on a malformed value. */
export function openCacheStore(spec: string, opts: CacheStoreOptions): CacheStore {
  const loc = cacheLocation(spec);
  return "dir" in loc ? new LayoutCacheStore(loc.dir, opts) : new RegistryCacheStore(loc.repository, opts);
}

/** --cache-repo when given, else "<first destination's repository>/cache" on the same registry. */
export function inferCacheRepo(cacheRepo: string | undefined, destinations: readonly string[]): string {
  if (cacheRepo) {
    const loc = cacheLocation(cacheRepo);
    return "dir" in loc ? cacheRepo : loc.repository.context();
  }
  const first = destinations[0];
  if (!first) throw new KilnError("--cache needs a cache repository: pass --cache-repo, or a --destination to put it next to (<destination>/cache)");
  const ref = parseRegistryLocation(first, { what: "flag --destination" });
  return parseRepository(`${ref.context()}/cache`).context();
}
