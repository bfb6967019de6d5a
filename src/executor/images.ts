// Where stage bases and COPY --from images come from (registry, OCI layout, scratch), and
// turning an image's layers into a directory. Downloaded blobs are kept in the workspace so a
// base used by two stages is fetched once.
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { applyLayer } from "../fs/unpack.ts";
import { emptyImage, type Image, type Layer } from "../image/index.ts";
import { parseImageLocation } from "../image/location.ts";
import type { Reference } from "../image/reference.ts";
import type { Platform } from "../image/types.ts";
import { formatPlatform, normalizePlatform, platformMatches } from "../image/platform.ts";
import { checkRetryCount, type RegistryClient } from "../registry/index.ts";
import { interrupted } from "../util/cleanup.ts";
import { openImage } from "../registry/open-image.ts";
import { KilnError } from "../util/errors.ts";
import { humanSize, type Logger } from "../util/log.ts";

/** A progress line per second for downloads that take longer than a second. */
function pullProgress(log: Logger, layer: Layer): (done: number, total: number) => void {
  const start = performance.now();
  let last = start;
  return (done, total) => {
    const now = performance.now();
    if (now - last < 1000 || done === total) return;
    last = now;
    const rate = done / ((now - start) / 1000);
    log.info(`pulling ${layer.digest.slice(7, 19)}: ${humanSize(done)} of ${humanSize(total)} (${humanSize(rate)}/s)`, { event: "pull-progress", digest: layer.digest, done, total });
  };
}

export interface ResolvedBase {
  image: Image;
  /** The registry reference it came from (for blob mounts and cache keys), if any. */
  ref?: Reference;
  /** What the user wrote, for messages. */
  name: string;
}

/** Resolve FROM / COPY --from image names. Same name and platform → same promise within a build. */
export class ImageResolver {
  private memo = new Map<string, Promise<ResolvedBase>>();

  /**
   * `platform` is what bases are pulled for unless a stage names its own (FROM --platform).
   * `strict`: the platform was asked for (--custom-platform, --platform), so a single-platform
   * base of another platform is an error, as an index without it is; by default (the host's
   * platform) such a base is used as it is, as before.
   */
  constructor(private client: RegistryClient, private platform: Platform, private strict = false) {}

  resolve(name: string, platform?: Platform): Promise<ResolvedBase> {
    const want = platform ?? this.platform;
    const key = `${formatPlatform(want)} ${name}`;
    let p = this.memo.get(key);
    if (!p) {
      p = this.load(name, want, this.strict || platform !== undefined);
      this.memo.set(key, p);
    }
    return p;
  }

  private async load(name: string, platform: Platform, strict: boolean): Promise<ResolvedBase> {
    if (name.toLowerCase() === "scratch") return { image: emptyImage(platform), name };
    const loc = parseImageLocation(name, { what: "base image", accept: ["registry", "oci"], usage: false });
    try {
      const opened = await openImage(this.client, loc, platform);
      if (strict) checkImagePlatform(opened.image, platform);
      return { ...opened, name };
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(`base image ${name}: ${e.message}`, e.exitCode);
      throw e;
    }
  }
}

/** A single-platform image (no index) must be of the platform asked for; the error names the one it has. */
function checkImagePlatform(img: Image, want: Platform): void {
  const { os, architecture, variant } = img.config;
  if (!os || !architecture) return; // no platform in the config: nothing to compare (as BuildKit)
  const have: Platform = variant ? { os, architecture, variant } : { os, architecture };
  if (!platformMatches(have, want)) {
    throw new KilnError(`no image for platform ${formatPlatform(normalizePlatform(want))} (it is a single-platform image, has: ${formatPlatform(normalizePlatform(have))})`);
  }
}

/** Where a layer's downloaded blob is kept in `blobDir` (complete and digest-verified). */
function blobFile(layer: Layer, blobDir: string): string {
  return join(blobDir, layer.digest.replace(":", "-"));
}

/** A layer whose bytes are on local disk, downloading it into `blobDir` first if needed. */
export async function localLayerPath(layer: Layer, blobDir: string, progress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<string> {
  if (layer.path) return layer.path;
  const file = blobFile(layer, blobDir);
  if (existsSync(file)) return file;
  const d = await Download.start(layer, file, progress, signal);
  await d.finish();
  return file;
}

/**
 * A blob download that is kept in `file` and can be read while it arrives. The reader may stop
 * early (a tar ends before the padding after it): finish() then reads the rest, so the blob is
 * always whole and its digest checked (open() does that while reading) before it is renamed
 * into place.
 */
class Download {
  private tmp: string;
  private out: WriteStream;
  private done = 0;
  private ended = false;

  private constructor(private layer: Layer, private file: string, private raw: AsyncIterator<Uint8Array>, private progress?: (done: number, total: number) => void, private signal?: AbortSignal) {
    this.tmp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
    this.out = createWriteStream(this.tmp);
  }

  static async start(layer: Layer, file: string, progress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<Download> {
    return new Download(layer, file, (await layer.open())[Symbol.asyncIterator](), progress, signal);
  }

  private async next(): Promise<IteratorResult<Uint8Array>> {
    try {
      this.signal?.throwIfAborted();
      const r = await this.raw.next();
      if (r.done) {
        this.ended = true;
        return r;
      }
      this.done += r.value.length;
      this.progress?.(this.done, this.layer.size);
      if (!this.out.write(r.value)) await once(this.out, "drain");
      return r;
    } catch (e) {
      await this.abandon();
      throw e;
    }
  }

  /** The bytes as they arrive; stopping early leaves the download open for finish(). */
  bytes(): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => ({ next: () => this.next(), return: async () => ({ done: true as const, value: undefined }) }) };
  }

  async finish(): Promise<void> {
    while (!this.ended) await this.next();
    this.out.end();
    await once(this.out, "finish");
    renameSync(this.tmp, this.file);
  }

  async abandon(): Promise<void> {
    this.ended = true;
    this.out.destroy();
    rmSync(this.tmp, { force: true });
    await this.raw.return?.().catch(() => {});
  }
}

export interface UnpackLayersOptions {
  /** Paths never written (in-container mode). */
  protect?: readonly string[];
  /** Unpack a skeleton rootfs (applyLayer's `skeleton`); the inodes of emptied files are added here. */
  skeleton?: Set<number>;
  /** Files the skeleton keeps whole besides /etc/passwd and /etc/group (applyLayer's `keep`). */
  keep?: readonly string[];
  /** Told which layer failed before the error is thrown (a cached layer's failure is a cache miss). */
  onFailure?: (index: number) => void;
  /** --image-fs-extract-retry: extra attempts after a failed extraction (downloaded blobs are kept and reused). */
  extractRetries?: number;
}

/** unpackLayers, tried again on failure --image-fs-extract-retry times; layers re-applied over a partial tree land the same. */
export async function unpackLayers(layers: readonly Layer[], dir: string, blobDir: string, log: Logger, opts: UnpackLayersOptions = {}): Promise<void> {
  const extra = checkRetryCount("--image-fs-extract-retry", opts.extractRetries) ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await unpackLayersOnce(layers, dir, blobDir, log, opts);
    } catch (e) {
      if (attempt >= extra || interrupted.aborted) throw e;
      log.warn(`extracting base layers failed (${(e as Error).message}); trying again (--image-fs-extract-retry ${attempt + 1} of ${extra})`);
    }
  }
}

/**
 * Apply layers in order onto `dir` (an empty directory, or one holding earlier layers). The first
 * layer to download streams straight into the unpacker; the next ones download meanwhile.
 */
async function unpackLayersOnce(layers: readonly Layer[], dir: string, blobDir: string, log: Logger, opts: UnpackLayersOptions): Promise<void> {
  const keep = opts.protect?.map((p) => p.replace(/^\/+/, ""));
  const warn = (m: string) => log.warn(m);
  const stop = new AbortController();
  const downloads = new Map<number, Promise<string>>();
  const download = (i: number): Promise<string> => {
    let p = downloads.get(i);
    if (!p) {
      p = localLayerPath(layers[i]!, blobDir, pullProgress(log, layers[i]!), stop.signal);
      p.catch(() => {}); // awaited (and reported) when its turn comes, or abandoned on failure
      downloads.set(i, p);
    }
    return p;
  };
  const local = (l: Layer) => l.path !== undefined || existsSync(blobFile(l, blobDir));
  try {
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i]!;
      for (let j = i + 1; j < Math.min(layers.length, i + 1 + PARALLEL_DOWNLOADS); j++) if (!local(layers[j]!)) download(j);
      const apply = (bytes: AsyncIterable<Uint8Array>) => applyLayer(dir, bytes, { mediaType: layer.mediaType, source: layer.digest, onWarning: warn, protect: keep, skeleton: opts.skeleton, keep: opts.keep });
      try {
        if (downloads.has(i) || local(layer)) {
          await apply(createReadStream(await download(i), { highWaterMark: 1 << 20 }));
          continue;
        }
        const d = await Download.start(layer, blobFile(layer, blobDir), pullProgress(log, layer), stop.signal);
        try {
          await apply(d.bytes());
          await d.finish();
        } catch (e) {
          await d.abandon();
          throw e;
        }
      } catch (e) {
        opts.onFailure?.(i);
        throw e;
      }
    }
  } finally {
    // A failed unpack must not leave downloads writing into a workspace that is being removed.
    stop.abort();
    await Promise.allSettled(downloads.values());
  }
}

/** Layers downloading ahead of the one being unpacked. */
const PARALLEL_DOWNLOADS = 3;
