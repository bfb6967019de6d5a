// A distribution-spec client on global fetch: manifests, blobs, uploads, mounts, tags. Uploads
// are blob-upload.ts's; this file reads and writes manifests and reads blobs.
import { KilnError } from "../util/errors.ts";
import { checkDigest, readAll, sha256, verifyStream } from "../image/digest.ts";
import { MANIFEST_ACCEPT } from "../image/media-types.ts";
import type { Reference } from "../image/reference.ts";
import type { Descriptor } from "../image/types.ts";
import { BlobUploads, type BlobSource, type UploadOptions } from "./blob-upload.ts";
import { fail, RegistryError } from "./errors.ts";
import { fileRange, responseChunks } from "./streams.ts";
import { firstAnswer } from "./mirrors.ts";
import { pullOptions } from "./options.ts";
import { pull, push } from "./scopes.ts";
import { Transport, type RegistryOptions } from "./transport.ts";

export type { BlobSource, UploadOptions };

export interface ManifestResponse {
  mediaType: string;
  bytes: Uint8Array;
  digest: string;
}

/** `pull: true` for an image pull (--insecure-pull, --skip-tls-verify-pull apply); default: the common settings. */
export interface ReadOptions {
  pull?: boolean;
}

const MAX_MANIFEST = 4 << 20;
/**
 * Manifest PUT answers that mean "a blob you named is not readable yet", asked again a few times.
 * Distribution's filesystem driver rewrites a blob's link file in place when a concurrent upload
 * of the same blob commits, and a manifest check reading it then finds it empty (DIGEST_INVALID);
 * registries on eventually consistent storage may not list a blob uploaded a moment ago.
 */
const BLOB_RACE_CODES = new Set(["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"]);
const MANIFEST_BLOB_RETRIES = 2;

export class RegistryClient {
  readonly transport: Transport;
  /** Image pulls: the same transport unless --insecure-pull or --skip-tls-verify-pull loosen it. */
  readonly pullTransport: Transport;
  private readonly uploads: BlobUploads;

  constructor(readonly options: RegistryOptions = {}) {
    this.transport = new Transport(options);
    this.uploads = new BlobUploads(this.transport);
    const po = pullOptions(options);
    this.pullTransport = po === options ? this.transport : new Transport(po);
  }

  private via(o: ReadOptions | undefined): Transport {
    return o?.pull ? this.pullTransport : this.transport;
  }

  /**
   * The mirror hook: GET the manifest of an image being pulled from the first of its mirrors and
   * remaps (mirrors.ts) that has it, else from its own registry. `from` is where it was found;
   * the image's config and layers are read from there too.
   */
  async pullManifest(ref: Reference, accept = MANIFEST_ACCEPT): Promise<ManifestResponse & { from: Reference }> {
    const { value, from } = await firstAnswer(ref, this.options, (at) => this.getManifest(at, accept, { pull: true }), (l) => this.options.warn?.(l));
    return { ...value, from };
  }

  /** Check that the registry answers /v2/ (and learn its scheme and auth). */
  async ping(registry: string): Promise<void> {
    await this.transport.baseUrl(registry);
  }

  /** HEAD a manifest: its descriptor, or undefined when the registry does not have it. */
  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    const res = await this.transport.send({ registry: ref.registry, method: "HEAD", path: manifestPath(ref), headers: { accept: MANIFEST_ACCEPT }, scopes: [pull(ref)] });
    if (res.status === 404) return undefined;
    if (!res.ok) throw await fail(res, `HEAD manifest ${ref}`, ref);
    const digest = res.headers.get("docker-content-digest") ?? ref.digest;
    if (!digest) {
      // Some registries omit the digest on HEAD; GET tells for sure.
      const m = await this.getManifest(ref);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    }
    return { mediaType: contentType(res), digest, size: Number(res.headers.get("content-length") ?? 0) };
  }

  /** GET a manifest (any of the four kinds), verified (see manifestResponse); a broken-off body is asked for again. */
  async getManifest(ref: Reference, accept = MANIFEST_ACCEPT, o?: ReadOptions): Promise<ManifestResponse> {
    const transport = this.via(o);
    for (let failures = 0; ; failures++) {
      const res = await transport.send({ registry: ref.registry, method: "GET", path: manifestPath(ref), headers: { accept }, scopes: [pull(ref)] });
      if (res.status === 404) {
        await res.body?.cancel();
        throw new RegistryError(`manifest unknown: ${ref} (not found in registry ${ref.registry})`, 404, "MANIFEST_UNKNOWN");
      }
      if (!res.ok) throw await fail(res, `GET manifest ${ref}`, ref);
      const len = Number(res.headers.get("content-length") ?? 0);
      if (len > MAX_MANIFEST) throw new KilnError(`manifest ${ref} is ${len} bytes; more than kiln accepts (${MAX_MANIFEST})`);
      let bytes: Uint8Array;
      try {
        bytes = await readAll(responseChunks(res));
        if (len > 0 && !res.headers.has("content-encoding") && bytes.length !== len) throw new Error(`connection closed after ${bytes.length} of ${len} bytes`);
      } catch (e) {
        // The headers came, the body broke off: ask again, as for blobs.
        const why = `GET manifest ${ref}: ${(e as Error)?.message ?? e}`;
        if (failures >= transport.retries) throw new RegistryError(`registry ${ref.registry}: ${why} (gave up after ${failures} retries)`, 0);
        await transport.backoff(failures, undefined, why);
        continue;
      }
      return manifestResponse(ref, res, bytes);
    }
  }

  /** PUT a manifest under the reference's tag (or digest); returns its digest. */
  async putManifest(ref: Reference, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = sha256(bytes);
    if (ref.digest && ref.digest !== digest) throw new KilnError(`putManifest ${ref}: the manifest's digest is ${digest}`);
    const target = ref.tag && !ref.digest ? ref : ref.withDigest(digest);
    for (let failures = 0; ; failures++) {
      const res = await this.transport.send({
        registry: ref.registry,
        method: "PUT",
        path: manifestPath(target),
        headers: { "content-type": mediaType },
        body: () => bytes as Uint8Array<ArrayBuffer>,
        scopes: [push(ref)],
      });
      if (res.status === 201 || res.ok) {
        await res.body?.cancel();
        const got = res.headers.get("docker-content-digest");
        if (got && got !== digest) throw new KilnError(`registry ${ref.registry} stored manifest ${ref} as ${got}, expected ${digest}`);
        return digest;
      }
      const err = await fail(res, `PUT manifest ${target}`, ref);
      if (failures >= MANIFEST_BLOB_RETRIES || !BLOB_RACE_CODES.has(err.code ?? "")) throw err;
      await this.transport.backoff(failures, undefined, err.message);
    }
  }

  async deleteManifest(ref: Reference): Promise<void> {
    if (!ref.digest) throw new KilnError(`delete ${ref}: the registry API deletes manifests by digest; resolve the tag first`);
    const res = await this.transport.send({ registry: ref.registry, method: "DELETE", path: manifestPath(ref), scopes: [`repository:${ref.repository}:delete`, push(ref)] });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RegistryError(`manifest unknown: ${ref}`, 404, "MANIFEST_UNKNOWN");
    }
    if (!res.ok) throw await fail(res, `DELETE manifest ${ref}`, ref);
    await res.body?.cancel();
  }

  /** All tags of a repository (follows Link pagination). */
  async listTags(repo: Reference): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo.repository}/tags/list?n=1000`;
    while (path) {
      const res = await this.transport.send({ registry: repo.registry, method: "GET", path, scopes: [pull(repo)] });
      if (res.status === 404) {
        await res.body?.cancel();
        return tags;
      }
      if (!res.ok) throw await fail(res, `list tags of ${repo.context()}`, repo);
      const j = (await res.json()) as { tags?: string[] | null };
      tags.push(...(j.tags ?? []));
      const link = res.headers.get("link")?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
      path = link ? link[1] : undefined;
    }
    return tags;
  }

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  async headBlob(repo: Reference, digest: string): Promise<number | undefined> {
    const res = await this.transport.send({ registry: repo.registry, method: "HEAD", path: blobPath(repo, digest), scopes: [pull(repo)] });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (!res.ok) throw await fail(res, `HEAD blob ${digest} in ${repo.context()}`, repo);
    return Number(res.headers.get("content-length") ?? 0);
  }

  /**
   * Stream a blob, following redirects to blob storage; verified against `digest` (and `size`).
   * A connection lost mid-blob resumes where it stopped (Range), a bounded number of times.
   */
  async openBlob(repo: Reference, digest: string, size?: number, o?: ReadOptions): Promise<AsyncIterable<Uint8Array>> {
    checkDigest(digest);
    const transport = this.via(o);
    const first = await this.blobResponse(transport, repo, digest, 0);
    return verifyStream(this.resumable(transport, repo, digest, size, first), digest, size, repo.context());
  }

  private async blobResponse(transport: Transport, repo: Reference, digest: string, offset: number): Promise<Response> {
    // identity: a storage backend's Content-Encoding would make fetch decompress the blob.
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await transport.send({ registry: repo.registry, method: "GET", path: blobPath(repo, digest), headers, scopes: [pull(repo)] });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RegistryError(`blob unknown: ${digest} in ${repo.context()}`, 404, "BLOB_UNKNOWN");
    }
    if (!res.ok) throw await fail(res, `GET blob ${digest} from ${repo.context()}`, repo);
    return res;
  }

  private async *resumable(transport: Transport, repo: Reference, digest: string, size: number | undefined, res: Response): AsyncGenerator<Uint8Array> {
    let offset = 0;
    for (let failures = 0; ; failures++) {
      try {
        // A 200 to a Range request is the whole blob again: skip what we already have.
        let skip = offset > 0 && res.status !== 206 ? offset : 0;
        for await (let c of responseChunks(res)) {
          if (skip > 0) {
            const n = Math.min(skip, c.length);
            skip -= n;
            c = c.subarray(n);
            if (c.length === 0) continue;
          }
          offset += c.length;
          yield c;
        }
        if (size === undefined || offset >= size) return;
        throw new Error(`connection closed after ${offset} of ${size} bytes`);
      } catch (e) {
        if (e instanceof KilnError) throw e;
        const why = `GET blob ${digest} from ${repo.context()}: ${(e as Error)?.message ?? e}`;
        if (failures >= transport.retries) throw new RegistryError(`registry ${repo.registry}: ${why} (gave up after ${failures} retries)`, 0);
        await transport.backoff(failures, undefined, why);
        res = await this.blobResponse(transport, repo, digest, offset);
      }
    }
  }

  /** A small blob (a config) read whole into memory, verified. */
  async getBlobBytes(repo: Reference, digest: string, size?: number, o?: ReadOptions): Promise<Uint8Array> {
    return readAll(await this.openBlob(repo, digest, size, o));
  }

  /**
   * Cross-repository mount: POST ?mount=DIGEST&from=REPO. True when the registry mounted it
   * (201); false when it started an upload instead, which is then cancelled.
   */
  async mountBlob(repo: Reference, digest: string, from: Reference): Promise<boolean> {
    const r = await this.startUpload(repo, { digest, from });
    if (r.mounted) return true;
    await this.cancelUpload(repo, r.location);
    return false;
  }

  /** POST an upload session, optionally asking to mount. */
  startUpload(repo: Reference, mount?: { digest: string; from: Reference }): Promise<{ mounted: true } | { mounted: false; location: string }> {
    return this.uploads.start(repo, mount);
  }

  /** Abandon an upload session (a refused mount opens one). Best effort. */
  cancelUpload(repo: Reference, location: string): Promise<void> {
    return this.uploads.cancel(repo, location);
  }

  /** Upload a blob (blob-upload.ts); `location` continues a session already started. */
  uploadBlob(repo: Reference, src: BlobSource, opts: UploadOptions = {}, location?: string): Promise<void> {
    return this.uploads.upload(repo, src, opts, location);
  }

  /** Upload a local file (streamed from disk; chunk retries re-read it). */
  uploadBlobFromFile(repo: Reference, path: string, digest: string, size: number, opts?: UploadOptions): Promise<void> {
    return this.uploadBlob(repo, { digest, size, rereadable: true, read: (s, n) => fileRange(path, s, n) }, opts);
  }

  /** Upload bytes held in memory (configs); returns the digest. */
  async uploadBlobBytes(repo: Reference, bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    await this.uploadBlob(repo, { digest, size: bytes.length, rereadable: true, read: (s, n) => (async function* () { yield bytes.subarray(s, s + n); })() });
    return digest;
  }
}

function manifestPath(ref: Reference): string {
  return `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? "latest"}`;
}

function blobPath(repo: Reference, digest: string): string {
  return `/v2/${repo.repository}/blobs/${digest}`;
}

function contentType(res: Response): string {
  return (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
}

/**
 * A fetched manifest, checked against the digest asked for or, fetched by tag, the one the
 * registry says it sent (Docker-Content-Digest): bytes changed on the way are never used.
 */
function manifestResponse(ref: Reference, res: Response, bytes: Uint8Array): ManifestResponse {
  const digest = sha256(bytes);
  const claimed = res.headers.get("docker-content-digest") ?? "";
  const expected = ref.digest ?? (claimed.startsWith("sha256:") ? claimed : undefined);
  if (expected && digest !== expected) {
    throw new KilnError(`manifest ${ref}: content does not match its digest ${expected} (got ${digest})`);
  }
  let mediaType = contentType(res);
  if (!mediaType || mediaType === "application/json" || mediaType === "text/plain") {
    try {
      mediaType = (JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: string }).mediaType ?? mediaType;
    } catch {
      /* left as sent */
    }
  }
  return { mediaType, bytes, digest };
}
