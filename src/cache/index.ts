// The registry-backed layer cache: keys (key.ts, spec in docs/cache.md) and entry stores.
export { CACHE_KEY_VERSION, FS_KINDS, afterLinkKey, baseKey, copyFromAlias, linkKey, filesDigest, stepKey, isCacheKey, keyRecord, canonicalInstruction, type BaseSource, type LayerShaping, type SourceEntry, type StepKeyInput } from "./key.ts";
export { LABEL_EMPTY, LABEL_KEY, LABEL_VERSION, type CacheHit, type PutMeta, type WrittenLayerLike } from "./entry.ts";
export { inferCacheRepo, isLayoutSpec, openCacheStore, type CacheStore, type CacheStoreOptions } from "./store.ts";
