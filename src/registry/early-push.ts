// The final image's layers pushed while the build still runs: a layer a step wrote goes to every
// destination as soon as it is ready (a big one after its cache write, so it is mounted from the
// cache repository rather than uploaded twice), a base or cached layer as soon as its stage starts. The
// final push (push.ts) then skips what got there and is left with the config and the manifest.
// Only blobs go up early: no tag names them until the manifest, so a failed build leaves no image.
import type { Layer } from "../image/image.ts";
import { isForeignLayer } from "../image/media-types.ts";
import type { Reference } from "../image/reference.ts";
import type { RegistryClient } from "./client.ts";
import { pushLayer, type BlobPushEvent } from "./push.ts";

/** Blob pushes in flight at once (as pushImage's default concurrency). */
const IN_FLIGHT = 4;
/** Fresh layers up to this size are uploaded without waiting for their cache write. */
const UPLOAD_AT_ONCE = 64 << 10;

export class EarlyPush {
  private done = new Map<string, BlobPushEvent>();
  /** Each layer's early push, by digest. */
  private jobs = new Map<string, Promise<void>>();
  private running = 0;
  private waiting: (() => void)[] = [];

  constructor(private client: RegistryClient, private dests: readonly Reference[], private mountFrom: () => readonly Reference[]) {}

  /**
   * Push `layer` to every destination once `after` (its cache write) settles. `fresh`: written by
   * this build, so no destination has it yet and it is not looked for first. Never rejects: a
   * failure leaves the blob to the final push, which reports it.
   */
  add(layer: Layer, opts: { after?: Promise<unknown>; fresh?: boolean } = {}): void {
    if (isForeignLayer(layer.mediaType) || this.jobs.has(layer.digest)) return;
    // A base layer from another registry would be streamed through kiln while the build
    // downloads it to unpack: left to the final push, as before.
    if (!opts.fresh && !layer.sources.some((s) => this.dests.every((d) => d.registry === s.registry))) return;
    // A small fresh layer goes up at once, alongside its cache write: sending its bytes twice
    // costs less than waiting for the write and a mount (the registry stores a digest once).
    const atOnce = opts.fresh && layer.size <= UPLOAD_AT_ONCE;
    const wait = atOnce ? undefined : opts.after;
    this.jobs.set(layer.digest, (async () => {
      await wait?.catch(() => {});
      await this.slot();
      try {
        const earlier: Reference[] = [];
        for (const dest of this.dests) {
          const from = atOnce ? earlier : [...this.mountFrom(), ...earlier];
          await pushLayer(this.client, dest, layer, from, {}, (e) => this.done.set(key(dest, e.digest), e), { skipHead: !!opts.fresh });
          earlier.push(dest);
        }
      } catch {
        // The final push tries this blob again and fails the build if it still cannot go up.
      } finally {
        this.release();
      }
    })());
  }

  /** What the early push did with `digest` at `dest` (once it is over), when it got there. */
  async pushed(dest: Reference, digest: string): Promise<BlobPushEvent | undefined> {
    await this.jobs.get(digest);
    return this.done.get(key(dest, digest));
  }

  /** Wait for every early push (before the workspace goes: they read its layer files). */
  async settle(): Promise<void> {
    await Promise.all(this.jobs.values());
  }

  private async slot(): Promise<void> {
    if (this.running < IN_FLIGHT) {
      this.running++;
      return;
    }
    await new Promise<void>((ok) => this.waiting.push(ok));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

const key = (dest: Reference, digest: string) => `${dest.context()}@${digest}`;
