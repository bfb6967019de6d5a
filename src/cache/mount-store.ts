// Cache mounts that outlive the runner (--cache-run-mounts; issue 16 item 3). Each
// RUN --mount=type=cache id is one entry of the layer cache's repository, under a key of its id
// and the target platform: fetched only when a RUN that mounts it is about to run, stored after a
// successful build only when its content changed. It rides on the layer cache's store, so it
// follows the same TTL, the same write rules (blob, config, tag last) and never fails the build.
// The format is in docs/cache.md, "Cache mounts in the cache repository".
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { formatPlatform } from "../image/platform.ts";
import type { Platform } from "../image/types.ts";
import { humanSize, type Logger } from "../util/log.ts";
import { encodeCanon } from "./encoding.ts";
import { expired, type CacheHit } from "./entry.ts";
import { archiveDir, contentDigest, dirFingerprint, extractArchive } from "./mount-archive.ts";
import type { CacheStore } from "./store.ts";

/** Part of every cache-mount key; bump it when the key record or the blob format changes. */
export const CACHE_MOUNT_VERSION = "kiln-cache-mount/1";

/**
 * The tag of a cache mount's entry: SHA-256 of the canonical encoding (docs/cache.md) of
 * {domain: "cache-mount", v, id, platform}. Not the Dockerfile or the step: Dockerfiles that
 * use the same id share it, as BuildKit's cache ids are shared.
 */
export function cacheMountKey(id: string, platform: Platform): string {
  return createHash("sha256").update(encodeCanon({ domain: "cache-mount", v: CACHE_MOUNT_VERSION, id, platform: formatPlatform(platform) })).digest("hex");
}

/** What RUN --mount=type=cache needs (src/executor/run-mounts.ts); never rejects. */
export interface CacheMountRemote {
  /**
   * Called when the local directory `dir` of `id` is missing or empty: extract the stored copy
   * into `tmp` (which does not exist yet), to be renamed to `dir`. False when there is none, or
   * it could not be fetched (a warning): the RUN starts with an empty cache.
   */
  fill(id: string, tmp: string, dir: string): Promise<boolean>;
  /** A RUN mounted `dir` for `id` writable and not sharing=private: store it after the build if changed. */
  used(id: string, dir: string): void;
}

export interface CacheMountSyncOptions {
  store: CacheStore;
  /** The build's target platform (part of the key). */
  platform: Platform;
  /** --cache-ttl: also when an unchanged entry is rewritten (past half of it), so a cache in use never expires. */
  ttlMs: number;
  /** --no-push-cache: fetch, never store. */
  readOnly: boolean;
  /** Where archives are written before upload (the build's workspace). */
  workDir: string;
  log: Pick<Logger, "info" | "warn" | "debug">;
  now?: () => Date;
}

interface Tracked {
  id: string;
  key: string;
  dir: string;
  /** The store was asked (hit is then what it said). */
  probed: boolean;
  hit?: CacheHit;
  /** The stored copy could not be fetched: its blob is bad whatever its content digest says. */
  broken?: boolean;
  /** At least one writable, shared or locked mount: a candidate for storing. */
  store: boolean;
}

/** Left next to a local cache directory: which stored content it was last synced with, and how it looked then. */
interface SyncMarker {
  key: string;
  /** The content digest (mount-archive.ts contentDigest). */
  content: string;
  fingerprint: string;
}

/** An entry's history created_by: `kiln: cache mount <id> content sha256:<hex>` (docs/cache.md). */
function createdBy(id: string, content: string): string {
  return `kiln: cache mount ${id} content ${content}`;
}

/** The content digest an entry was stored with; undefined for an entry that does not say. */
function storedContent(hit: CacheHit | undefined): string | undefined {
  if (!hit?.layer) return undefined;
  return / content (sha256:[0-9a-f]{64})$/.exec(hit.createdBy)?.[1];
}

export class CacheMountSync implements CacheMountRemote {
  private ids = new Map<string, Tracked>();
  private now: () => Date;

  constructor(private o: CacheMountSyncOptions) {
    this.now = o.now ?? (() => new Date());
  }

  async fill(id: string, tmp: string, dir: string): Promise<boolean> {
    const t = this.track(id, dir);
    if (t.probed) return false; // one fetch per id and build
    t.probed = true;
    const what = `cache mount "${id}"`;
    t.hit = (await this.o.store.probe([t.key]))[0];
    const layer = t.hit ? this.o.store.layerOf(t.hit) : undefined;
    if (!t.hit?.layer || !layer) {
      this.o.log.debug(`${what}: no stored copy in ${this.o.store.describe()}`);
      return false;
    }
    try {
      mkdirSync(tmp, { recursive: true, mode: 0o700 });
      await extractArchive(await layer.open(), tmp, what, t.hit.layer.mediaType, (m) => this.o.log.warn(m));
      // Taken before the rename, which changes nothing below the directory.
      const content = storedContent(t.hit);
      if (content) writeMarker(dir, { key: t.key, content, fingerprint: (await dirFingerprint(tmp)).fingerprint });
      this.o.log.info(`${what}: fetched ${humanSize(t.hit.layer.size)} from ${this.o.store.describe()} (stored ${t.hit.created})`, {
        event: "cache-mount-fetch", id, key: t.key, size: t.hit.layer.size,
      });
      return true;
    } catch (e) {
      t.broken = true;
      rmSync(tmp, { recursive: true, force: true });
      this.o.log.warn(`${what}: could not fetch the stored copy from ${this.o.store.describe()} (${(e as Error).message}); starting with an empty cache`, {
        event: "cache-mount-fetch-failed", id, key: t.key,
      });
      return false;
    }
  }

  used(id: string, dir: string): void {
    this.track(id, dir).store = true;
  }

  /** After a successful build: store every changed directory. Never rejects (failures are warnings). */
  async storeChanged(): Promise<void> {
    if (this.o.readOnly) return;
    for (const t of this.ids.values()) if (t.store) await this.storeOne(t);
  }

  private track(id: string, dir: string): Tracked {
    let t = this.ids.get(id);
    if (!t) this.ids.set(id, (t = { id, key: cacheMountKey(id, this.o.platform), dir, probed: false, store: false }));
    return t;
  }

  private async storeOne(t: Tracked): Promise<void> {
    const what = `cache mount "${t.id}"`;
    try {
      if (!existsSync(t.dir)) return;
      const fp = await dirFingerprint(t.dir);
      if (!t.probed) {
        t.probed = true;
        t.hit = (await this.o.store.probe([t.key]))[0];
      }
      const stored = storedContent(t.hit);
      // Past half the TTL an unchanged entry is written again, so a cache in use does not expire;
      // an entry whose blob could not be fetched is replaced whatever it says it holds.
      const refresh = !!t.hit && (t.broken || expired(t.hit.created, this.o.ttlMs / 2, this.now()));
      const marker = readMarker(t.dir);
      const unchanged = (why: string) => this.o.log.info(`${what}: unchanged (${why}), not stored again`, { event: "cache-mount-unchanged", id: t.id, key: t.key });
      if (!refresh && stored && marker?.key === t.key && marker.content === stored && marker.fingerprint === fp.fingerprint) return unchanged("untouched since it was synced");
      if (!stored && fp.entries === 0) return; // nothing worth keeping
      const content = await contentDigest(t.dir);
      if (!refresh && stored === content) {
        writeMarker(t.dir, { key: t.key, content, fingerprint: fp.fingerprint });
        return unchanged("same content digest");
      }
      const layer = await archiveDir(t.dir, this.o.workDir);
      try {
        this.o.log.info(`${what}: storing ${humanSize(layer.size)} in ${this.o.store.describe()}`, { event: "cache-mount-store", id: t.id, key: t.key, size: layer.size });
        await this.o.store.put(t.key, layer, { createdBy: createdBy(t.id, content), platform: this.o.platform, replaceBlob: t.broken });
        // A failed put warned; the marker then names content the store lacks, so the next build compares again.
        writeMarker(t.dir, { key: t.key, content, fingerprint: fp.fingerprint });
      } finally {
        rmSync(layer.path, { force: true });
      }
    } catch (e) {
      this.o.log.warn(`${what}: not stored (${(e as Error).message})`, { event: "cache-mount-store-failed", id: t.id, key: t.key });
    }
  }
}

/**
 * The sync for a build, or undefined without --cache-run-mounts. Without a layer cache (no
 * --cache, or --single-snapshot) there is no repository to keep mounts in: a warning.
 */
export function openCacheMounts(
  opts: { cacheRunMounts?: boolean; cacheTtlMs: number; noPushCache: boolean },
  store: CacheStore | undefined,
  o: { platform: Platform; workDir: string; log: CacheMountSyncOptions["log"] },
): CacheMountSync | undefined {
  if (!opts.cacheRunMounts) return undefined;
  if (!store) {
    o.log.warn("--cache-run-mounts has no effect without the layer cache (--cache, and no --single-snapshot)");
    return undefined;
  }
  o.log.info(`cache mounts: kept in ${store.describe()}${opts.noPushCache ? " (read only)" : ""}`, { event: "cache-mounts", repo: store.describe() });
  return new CacheMountSync({ store, ttlMs: opts.cacheTtlMs, readOnly: opts.noPushCache, ...o });
}

function markerPath(dir: string): string {
  return `${dir}.remote`;
}

function readMarker(dir: string): SyncMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(markerPath(dir), "utf8")) as SyncMarker;
    return typeof m?.key === "string" && typeof m.content === "string" && typeof m.fingerprint === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

function writeMarker(dir: string, m: SyncMarker): void {
  try {
    writeFileSync(markerPath(dir), JSON.stringify(m) + "\n", { mode: 0o600 });
  } catch { /* only saves work next time */ }
}
