// Cache entries in a local OCI image layout (--cache-repo oci:DIR): the same entry images as
// in a registry, tagged through org.opencontainers.image.ref.name in index.json. Blobs land
// under their final name by rename; index.json is rewritten under a lock file, by rename.
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { sha256, verifyStream } from "../image/digest.ts";
import type { Layer } from "../image/image.ts";
import { layerFromFile } from "../image/layer.ts";
import { blobPath, REF_NAME } from "../image/layout.ts";
import { OCI_INDEX } from "../image/media-types.ts";
import type { Descriptor, ImageIndex } from "../image/types.ts";
import { KilnError } from "../util/errors.ts";
import { annotatedHit, buildEntry, entryHit, expired, parseEntryManifest, type CacheHit, type PutMeta, type WrittenLayerLike } from "./entry.ts";
import { isCacheKey } from "./key.ts";
import { withLockFile } from "./lock.ts";
import type { CacheStore, CacheStoreOptions } from "./store.ts";

const tmpName = (path: string) => `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;

export class LayoutCacheStore implements CacheStore {
  readonly repository = undefined;
  private now: () => Date;

  constructor(readonly dir: string, private opts: CacheStoreOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  describe(): string {
    return `oci:${this.dir}`;
  }

  private index(): ImageIndex {
    const file = join(this.dir, "index.json");
    if (!existsSync(file)) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    try {
      return JSON.parse(readFileSync(file, "utf8")) as ImageIndex;
    } catch {
      throw new KilnError(`${file}: not valid JSON`);
    }
  }

  async probe(keys: readonly string[]): Promise<(CacheHit | undefined)[]> {
    const failures: string[] = [];
    let byTag = new Map<string, Descriptor>();
    try {
      for (const d of this.index().manifests ?? []) {
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
        const manifest = parseEntryManifest(this.blob(d.digest), where);
        const hit = annotatedHit(key, d.digest, manifest, where) ?? entryHit(key, d.digest, manifest, this.blob(manifest.config.digest), where);
        return expired(hit.created, this.opts.ttlMs, this.now()) ? undefined : hit;
      } catch (e) {
        failures.push(`${key.slice(0, 12)}: ${(e as Error).message}`);
        return undefined;
      }
    });
    if (failures.length) this.opts.warn(`cache ${this.describe()}: ${failures.length} lookup(s) failed, counted as misses (${failures[0]}${failures.length > 1 ? "; …" : ""})`);
    return out;
  }

  private blob(digest: string): Uint8Array {
    const bytes = readFileSync(blobPath(this.dir, digest));
    if (sha256(bytes) !== digest) throw new KilnError(`blob ${digest} does not match its digest`);
    return bytes;
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
      mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
      if (!existsSync(join(this.dir, "oci-layout"))) this.writeAtomic(join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      if (layer) await this.copyBlob(layer);
      this.writeBlob(e.configDigest, e.configBytes);
      this.writeBlob(e.manifestDigest, e.manifestBytes);
      const desc: Descriptor = { mediaType: e.mediaType, digest: e.manifestDigest, size: e.manifestBytes.length, annotations: { [REF_NAME]: key } };
      await withLockFile(join(this.dir, "index.json.lock"), () => {
        const index = this.index();
        index.schemaVersion = 2;
        index.mediaType ??= OCI_INDEX;
        index.manifests = (index.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== key);
        index.manifests.push(desc);
        this.writeAtomic(join(this.dir, "index.json"), JSON.stringify(index));
      });
    } catch (e) {
      this.opts.warn(`cache ${this.describe()}: could not store entry ${key.slice(0, 12)}: ${(e as Error).message}`);
    }
  }

  private writeAtomic(path: string, data: string | Uint8Array): void {
    const tmp = tmpName(path);
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  }

  private writeBlob(digest: string, bytes: Uint8Array): void {
    const path = blobPath(this.dir, digest);
    if (!existsSync(path)) this.writeAtomic(path, bytes);
  }

  /** Copy the layer file in, verifying its digest on the way (a bad file must not become a blob). */
  private async copyBlob(layer: WrittenLayerLike): Promise<void> {
    const path = blobPath(this.dir, layer.digest);
    if (existsSync(path) && statSync(path).size === layer.size) return;
    const tmp = tmpName(path);
    const out = createWriteStream(tmp);
    try {
      for await (const chunk of verifyStream(createReadStream(layer.path, { highWaterMark: 1 << 20 }), layer.digest, layer.size, layer.path)) {
        if (!out.write(chunk)) await once(out, "drain");
      }
      out.end();
      await once(out, "finish");
      renameSync(tmp, path);
    } catch (e) {
      out.destroy();
      rmSync(tmp, { force: true });
      throw e;
    }
  }
}
