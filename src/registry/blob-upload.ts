// Blob uploads of the distribution spec: a session (POST, optionally a cross-repository mount),
// then one streamed PUT or PATCH chunks and a PUT; a failed upload starts over when its source
// can be read again. RegistryClient's upload methods are this class's.
import { checkDigest } from "../image/digest.ts";
import type { Reference } from "../image/reference.ts";
import { KilnError } from "../util/errors.ts";
import { fail, RegistryError } from "./errors.ts";
import { pull, push } from "./scopes.ts";
import { toReadableStream } from "./streams.ts";
import type { Transport } from "./transport.ts";

/** Where an upload reads its bytes. `read(start, length)` must be callable again for retries when `rereadable`. */
export interface BlobSource {
  digest: string;
  size: number;
  read(start: number, length: number): AsyncIterable<Uint8Array>;
  rereadable: boolean;
}

export interface UploadOptions {
  /** Blobs larger than this go up in PATCH chunks (default 128 MiB). */
  chunkThreshold?: number;
  /** PATCH chunk size (default 64 MiB). */
  chunkSize?: number;
}

export class BlobUploads {
  constructor(private readonly transport: Transport) {}

  /** POST an upload session, optionally asking to mount. */
  async start(repo: Reference, mount?: { digest: string; from: Reference }): Promise<{ mounted: true } | { mounted: false; location: string }> {
    if (mount && mount.from.registry !== repo.registry) throw new KilnError(`cannot mount ${mount.digest} across registries (${mount.from.registry} → ${repo.registry})`);
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from.repository)}` : "";
    const scopes = [push(repo)];
    if (mount && mount.from.repository !== repo.repository) scopes.push(pull(mount.from));
    const res = await this.transport.send({ registry: repo.registry, method: "POST", path: `/v2/${repo.repository}/blobs/uploads/${q}`, headers: { "content-length": "0" }, body: () => "", scopes });
    if (res.status !== 202 && !(mount && res.status === 201)) throw await fail(res, `start upload to ${repo.context()}`, repo);
    await res.body?.cancel().catch(() => {});
    if (res.status === 201) return { mounted: true };
    return { mounted: false, location: await this.location(res, repo) };
  }

  private async location(res: Response, repo: Reference): Promise<string> {
    const loc = res.headers.get("location");
    if (!loc) throw new KilnError(`registry ${repo.registry}: upload response without a Location header`);
    return new URL(loc, await this.transport.baseUrl(repo.registry)).href;
  }

  /** Abandon an upload session (a refused mount opens one). Best effort. */
  async cancel(repo: Reference, location: string): Promise<void> {
    const res = await this.transport.send({ registry: repo.registry, method: "DELETE", path: location, scopes: [push(repo)], retry: false }).catch(() => undefined);
    await res?.body?.cancel().catch(() => {});
  }

  /**
   * Upload a blob: POST, then one streamed PUT, or PATCH chunks + PUT for big blobs.
   * A failure restarts the whole upload when the source can be read again.
   */
  async upload(repo: Reference, src: BlobSource, opts: UploadOptions = {}, location?: string): Promise<void> {
    checkDigest(src.digest);
    const attempts = src.rereadable ? this.transport.retries + 1 : 1;
    let reauthed = false;
    for (let attempt = 0; ; attempt++) {
      try {
        let loc = location;
        location = undefined;
        if (!loc) {
          const r = await this.start(repo);
          if (r.mounted) return;
          loc = r.location;
        }
        await this.send(repo, src, loc, opts);
        return;
      } catch (e) {
        // A token that expired mid-upload: the transport has dropped it; start over once.
        if (src.rereadable && !reauthed && e instanceof RegistryError && e.status === 401) {
          reauthed = true;
          continue;
        }
        if (attempt + 1 >= attempts || !isRetryable(e) && !isDamagedUpload(e)) throw e;
        // The PUTs themselves are sent without retries (a stream is sent once): back off here.
        await this.transport.backoff(attempt, e instanceof RegistryError ? e.retryAfter : undefined, `upload ${src.digest}: ${(e as Error).message}`);
      }
    }
  }

  private async send(repo: Reference, src: BlobSource, loc: string, opts: UploadOptions): Promise<void> {
    const threshold = opts.chunkThreshold ?? 128 << 20;
    const chunk = Math.max(opts.chunkSize ?? 64 << 20, 1 << 20);
    const scopes = [push(repo)];
    let offset = 0;
    if (src.size > threshold) {
      while (offset < src.size) {
        const n = Math.min(chunk, src.size - offset);
        const start = offset;
        const res = await this.transport.send({
          registry: repo.registry,
          method: "PATCH",
          path: loc,
          headers: { "content-type": "application/octet-stream", "content-length": String(n), "content-range": `${start}-${start + n - 1}` },
          body: once(() => toReadableStream(src.read(start, n))),
          scopes,
          retry: false,
        });
        if (res.status !== 202) throw await fail(res, `upload ${src.digest} to ${repo.context()} (chunk at ${start})`, repo);
        await res.body?.cancel().catch(() => {});
        loc = await this.location(res, repo);
        offset += n;
      }
    }
    const rest = src.size - offset;
    const url = new URL(loc);
    url.searchParams.set("digest", src.digest);
    const res = await this.transport.send({
      registry: repo.registry,
      method: "PUT",
      path: url.href,
      headers: { "content-type": "application/octet-stream", "content-length": String(rest) },
      body: rest === 0 ? () => "" : once(() => toReadableStream(src.read(offset, rest))),
      scopes,
      retry: false,
    });
    if (res.status !== 201 && res.status !== 204) throw await fail(res, `upload ${src.digest} to ${repo.context()}`, repo);
    await res.body?.cancel().catch(() => {});
    const got = res.headers.get("docker-content-digest");
    if (got && got !== src.digest) throw new KilnError(`registry ${repo.registry} stored blob ${src.digest} as ${got}`);
  }
}

/** A body factory that can be used once (a stream that cannot be replayed). */
function once(f: () => ReadableStream<Uint8Array>): () => ReadableStream<Uint8Array> {
  let used = false;
  return () => {
    if (used) throw new KilnError("internal: a streamed request body cannot be sent twice");
    used = true;
    return f();
  };
}

/** The registry got different bytes than we sent (damaged on the way): our copy is fine, send it again. */
function isDamagedUpload(e: unknown): boolean {
  return e instanceof RegistryError && e.status === 400 && (e.code === "DIGEST_INVALID" || e.code === "SIZE_INVALID" || e.code === "BLOB_UPLOAD_INVALID");
}

function isRetryable(e: unknown): boolean {
  if (e instanceof RegistryError) return e.status === 0 || e.status >= 500 || e.status === 429;
  return !(e instanceof KilnError);
}
