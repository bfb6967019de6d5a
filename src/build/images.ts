// Where stage bases and COPY --from images come from (registry, OCI layout, scratch), and
// turning an image's layers into a directory. Downloaded blobs are kept in the workspace so a
// base used by two stages is fetched once.
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { applyLayer } from "../fs/unpack.ts";
import { emptyImage, type Image, type Layer } from "../image/index.ts";
import { parseLayoutLocation, readOciLayout } from "../image/layout.ts";
import { parseReference, type Reference } from "../image/reference.ts";
import type { Platform } from "../image/types.ts";
import { fetchImage, type RegistryClient } from "../registry/index.ts";
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

export const OCI_LAYOUT_PREFIX = "oci-layout://";

/** Resolve FROM / COPY --from image names. Same name → same promise within a build. */
export class ImageResolver {
  private memo = new Map<string, Promise<ResolvedBase>>();

  constructor(private client: RegistryClient, private platform: Platform) {}

  resolve(name: string): Promise<ResolvedBase> {
    let p = this.memo.get(name);
    if (!p) {
      p = this.load(name);
      this.memo.set(name, p);
    }
    return p;
  }

  private async load(name: string): Promise<ResolvedBase> {
    if (name.toLowerCase() === "scratch") return { image: emptyImage(this.platform), name };
    if (name.startsWith(OCI_LAYOUT_PREFIX)) {
      const { dir, tag } = parseLayoutLocation(name);
      return { image: readOciLayout(dir, tag, this.platform), name };
    }
    const ref = parseReference(name);
    try {
      return { image: await fetchImage(this.client, ref, { platform: this.platform }), ref, name };
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(`base image ${name}: ${e.message}`, e.exitCode);
      throw e;
    }
  }
}

/** A layer whose bytes are on local disk, downloading it into `blobDir` first if needed. */
export async function localLayerPath(layer: Layer, blobDir: string, progress?: (done: number, total: number) => void): Promise<string> {
  if (layer.path) return layer.path;
  const file = join(blobDir, layer.digest.replace(":", "-"));
  if (existsSync(file)) return file;
  const tmp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
  const out = createWriteStream(tmp);
  try {
    let done = 0;
    for await (const chunk of await layer.open()) {
      done += chunk.length;
      progress?.(done, layer.size);
      if (!out.write(chunk)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    renameSync(tmp, file); // complete and digest-verified (open() checks while reading)
  } catch (e) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw e;
  }
  return file;
}

/** Apply layers in order onto `dir` (an empty directory, or one holding earlier layers). */
export async function unpackLayers(layers: readonly Layer[], dir: string, blobDir: string, log: Logger, protect?: readonly string[]): Promise<void> {
  const keep = protect?.map((p) => p.replace(/^\/+/, ""));
  const warn = (m: string) => log.warn(m);
  for (const layer of layers) {
    const path = await localLayerPath(layer, blobDir, pullProgress(log, layer));
    await applyLayer(dir, createReadStream(path, { highWaterMark: 1 << 20 }), { mediaType: layer.mediaType, source: layer.digest, onWarning: warn, protect: keep });
  }
}
