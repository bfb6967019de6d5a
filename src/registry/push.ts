// Push an Image: blobs first (skip what exists, mount what another repo has, upload the
// rest), the manifest last, so a tag never points at missing blobs.
import { KilnError } from "../util/errors.ts";
import { pushableLayers, type Image, type Layer } from "../image/image.ts";
import type { Reference } from "../image/reference.ts";
import type { RegistryClient, UploadOptions } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { mapLimit } from "./limit.ts";
import { Chunker, fileRange } from "./streams.ts";

export interface PushOptions extends UploadOptions {
  /** Repositories that may already hold some blobs (base image repo, cache repo). */
  mountFrom?: readonly Reference[];
  /** Blob transfers in flight at once (default 4). */
  concurrency?: number;
  /** Called once per blob with what was done. */
  onBlob?: (e: BlobPushEvent) => void;
  /** Blobs pushed during the build (early-push.ts; waits for one still going): recorded as they were, not asked for again. */
  pushedEarly?: (dest: Reference, digest: string) => Promise<BlobPushEvent | undefined>;
}

export type BlobAction = "exists" | "mounted" | "uploaded";

export interface BlobPushEvent {
  destination: Reference;
  digest: string;
  size: number;
  action: BlobAction;
  /** The repository it was mounted from. */
  from?: Reference;
}

export interface PushResult {
  /** Manifest digest (the same for every destination). */
  digest: string;
  mediaType: string;
  size: number;
  /** Every destination as pushed, with @digest. */
  pushed: Reference[];
  blobs: BlobPushEvent[];
}

/**
 * Push `img` to one or more destinations. Later destinations on the same registry mount
 * from the first, so each blob is uploaded at most once per registry. A failed push is tried
 * again --push-retry times (client.options.pushRetry); what was already pushed is found and skipped.
 */
export async function pushImage(client: RegistryClient, img: Image, destinations: Reference | readonly Reference[], opts: PushOptions = {}): Promise<PushResult> {
  const dests = Array.isArray(destinations) ? (destinations as Reference[]) : [destinations as Reference];
  if (!dests.length) throw new KilnError("pushImage: no destination");
  const extra = client.options.pushRetry ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await pushOnce(client, img, dests, opts);
    } catch (e) {
      if (attempt >= extra || !worthAnotherPush(e)) throw e;
      await client.transport.backoff(attempt, e instanceof RegistryError ? e.retryAfter : undefined, `push (--push-retry ${attempt + 1} of ${extra}): ${(e as Error).message}`);
    }
  }
}

/** A refusal (401, 403, other 4xx) or a local error will not change on a second try. */
function worthAnotherPush(e: unknown): boolean {
  if (e instanceof RegistryError) return e.status === 0 || e.status >= 500 || e.status === 429;
  return !(e instanceof KilnError);
}

/**
 * A registry refusing to move a tag because the repository's tags are immutable (ECR answers
 * TAG_INVALID, Harbor DENIED, both with "immutable" in the message).
 */
export function isImmutableTagError(e: unknown): boolean {
  return e instanceof RegistryError && (e.code === "TAG_INVALID" || e.code === "DENIED") && /immutable/i.test(e.detail ?? "");
}

async function pushOnce(client: RegistryClient, img: Image, dests: readonly Reference[], opts: PushOptions): Promise<PushResult> {
  const result: PushResult = { digest: img.manifestDigest, mediaType: img.mediaType, size: img.manifestBytes.length, pushed: [], blobs: [] };
  const done: Reference[] = [];
  for (const dest of dests) {
    const record = (e: BlobPushEvent) => {
      result.blobs.push(e);
      opts.onBlob?.(e);
    };
    const layers = pushableLayers(img);
    const extra = [...(opts.mountFrom ?? []), ...done];
    // A config is new with almost every build: only an earlier destination of this push can
    // already hold it, so it goes up alongside the layers instead of probing other repos first.
    const pushLayers = async () => {
      const early = await Promise.all(layers.map((l) => opts.pushedEarly?.(dest, l.digest)));
      for (const e of early) if (e) record(e);
      await mapLimit(layers.filter((_, i) => !early[i]), opts.concurrency ?? 4, (l) => pushLayer(client, dest, l, extra, opts, record));
    };
    await Promise.all([pushLayers(), pushConfig(client, dest, img, done, record)]);
    try {
      const digest = await client.putManifest(dest, img.manifestBytes, img.mediaType);
      result.pushed.push(dest.withDigest(digest));
    } catch (e) {
      if (!client.options.pushIgnoreImmutableTagErrors || !isImmutableTagError(e)) throw e;
      client.options.warn?.(`${dest}: the registry keeps this tag immutable; left as it is (--push-ignore-immutable-tag-errors): ${(e as Error).message}`);
    }
    done.push(dest);
  }
  return result;
}

const MAX_MOUNT_TRIES = 4;

/**
 * One layer to `dest`: nothing when it is there, else mounted from a repository that holds it,
 * else uploaded. `skipHead`: a layer this build just wrote, which dest cannot hold yet.
 */
export async function pushLayer(client: RegistryClient, dest: Reference, l: Layer, extra: readonly Reference[], opts: UploadOptions, record: (e: BlobPushEvent) => void, how: { skipHead?: boolean } = {}): Promise<void> {
  const base = { destination: dest, digest: l.digest, size: l.size };
  if (!how.skipHead && (await client.headBlob(dest, l.digest)) !== undefined) return record({ ...base, action: "exists" });
  const from = mountCandidates(dest, [...l.sources, ...extra]);
  let location: string | undefined;
  // Try each known holder (a fresh layer's first candidate is often the base repo, which lacks
  // it, while the cache repo has it); keep the last refused mount's session for the upload.
  for (const f of from.slice(0, MAX_MOUNT_TRIES)) {
    const r = await client.startUpload(dest, { digest: l.digest, from: f });
    if (location) await client.cancelUpload(dest, location);
    if (r.mounted) return record({ ...base, action: "mounted", from: f });
    location = r.location;
  }
  if (l.path) {
    await client.uploadBlob(dest, { digest: l.digest, size: l.size, rereadable: true, read: fileSlice(l.path) }, opts, location);
  } else {
    const stream = await l.open();
    await client.uploadBlob(dest, { digest: l.digest, size: l.size, rereadable: false, read: sequential(stream) }, opts, location);
  }
  record({ ...base, action: "uploaded" });
}

async function pushConfig(client: RegistryClient, dest: Reference, img: Image, extra: readonly Reference[], record: (e: BlobPushEvent) => void): Promise<void> {
  const base = { destination: dest, digest: img.configDigest, size: img.configBytes.length };
  if (extra.length === 0) {
    // The first destination: the config is nearly always new, so its upload session is opened
    // while asking whether it is there (two round trips instead of three); when it is, the
    // session is dropped.
    const [have, session] = await Promise.all([client.headBlob(dest, img.configDigest), client.startUpload(dest)]);
    if (have !== undefined) {
      if (!session.mounted) void client.cancelUpload(dest, session.location);
      return record({ ...base, action: "exists" });
    }
    await client.uploadBlob(dest, { digest: img.configDigest, size: img.configBytes.length, rereadable: true, read: (s, n) => bytesRange(img.configBytes, s, n) }, {}, session.mounted ? undefined : session.location);
    return record({ ...base, action: "uploaded" });
  }
  if ((await client.headBlob(dest, img.configDigest)) !== undefined) return record({ ...base, action: "exists" });
  for (const f of mountCandidates(dest, extra).slice(0, MAX_MOUNT_TRIES)) {
    if (await client.mountBlob(dest, img.configDigest, f)) return record({ ...base, action: "mounted", from: f });
  }
  await client.uploadBlobBytes(dest, img.configBytes);
  record({ ...base, action: "uploaded" });
}

/** Same-registry repositories other than the destination, first occurrence of each. */
function mountCandidates(dest: Reference, refs: readonly Reference[]): Reference[] {
  const seen = new Set<string>();
  const out: Reference[] = [];
  for (const r of refs) {
    if (r.registry !== dest.registry || r.repository === dest.repository || seen.has(r.repository)) continue;
    seen.add(r.repository);
    out.push(r);
  }
  return out;
}

async function* bytesRange(bytes: Uint8Array, start: number, length: number): AsyncGenerator<Uint8Array> {
  yield bytes.subarray(start, start + length);
}

function fileSlice(path: string) {
  return (start: number, length: number) => fileRange(path, start, length);
}

/** Serve consecutive read(start, n) calls from one stream (chunked upload of a non-file layer). */
function sequential(stream: AsyncIterable<Uint8Array>) {
  const chunker = new Chunker(stream);
  let pos = 0;
  return (start: number, length: number): AsyncIterable<Uint8Array> => {
    if (start !== pos) throw new KilnError(`internal: out-of-order read of a streamed layer (${start} != ${pos})`);
    pos += length;
    return chunker.take(length);
  };
}
