// A stage's filesystem lifecycle: unpack the base and the reused cache layers (once, as a
// contents-free skeleton when the steps left only add files), start the snapshotter, remember
// VOLUMEs, and the folders COPY --from reads (a finished stage's or an image's files).
import { rmSync, statSync } from "node:fs";
import { posix } from "node:path";
import { SKELETON_KEEPS } from "../fs/unpack.ts";
import { createSnapshotter, type Snapshotter } from "../fs/snapshot.ts";
import type { Layer } from "../image/index.ts";
import { runnerIgnoredPaths } from "../run/index.ts";
import { resolveInRoot } from "../run/root-path.ts";
import { KilnError } from "../util/errors.ts";
import { unpackLayers } from "./images.ts";
import { INLINE_DIR } from "./rootfs-ops.ts";
import { sourceDateEpoch } from "./step-plan.ts";
import type { StageEnv } from "./stage-types.ts";

/** A reused cache layer could not be unpacked (gone or corrupt): the loop turns its step into a miss. */
export class CachedLayerFailed extends Error {
  constructor(readonly cachedIndex: number, override readonly cause: Error) {
    super(`cached layer ${cachedIndex}: ${cause.message}`);
  }
}

export class StageRootfs {
  /** Host path of the rootfs, once unpacked. */
  dir?: string;
  snap?: Snapshotter;
  /** Set (by the loop) before ensure() for a skeleton rootfs: the inodes of its emptied files. */
  skeleton?: Set<number>;
  /** VOLUME paths: later changes below them are not snapshotted. */
  private volumes: string[] = [];
  /** Where ADD keeps URL downloads until their checksum is checked (created on first use). */
  private downloads?: string;

  constructor(private env: StageEnv, private stageIndex: number, private prefix: string) {}

  /** In-container mode builds this stage in "/" itself. */
  private get here() {
    return this.env.inContainer?.stage === this.stageIndex ? this.env.inContainer : undefined;
  }

  /**
   * Unpack the base layers and then the reused `cached` layers (once) and start the snapshotter.
   * Throws CachedLayerFailed when one of `cached` cannot be unpacked.
   */
  async ensure(base: readonly Layer[], cached: readonly Layer[]): Promise<string> {
    if (this.dir) return this.dir;
    const { ws, log, opts } = this.env;
    const here = this.here;
    const t0 = performance.now();
    const layers = [...base, ...cached];
    const dir = await this.unpack(layers, base.length);
    if (layers.length > 0) {
      const note = this.skeleton ? " (tree only: the steps left just add files)" : "";
      log.info(`${this.prefix} unpacked ${layers.length} layer(s) in ${((performance.now() - t0) / 1000).toFixed(2)}s${note}`, { event: "unpack", stage: this.stageIndex, skeleton: !!this.skeleton });
    }
    this.snap = createSnapshotter({
      rootfs: dir,
      strategy: snapshotStrategy(opts.snapshotMode),
      // The runner's /etc/hosts and /etc/resolv.conf are bind mounts in its own namespace: the
      // files in the rootfs stay untouched by RUN, and COPY may legitimately replace them.
      ignore: [...runnerIgnoredPaths().filter((p) => !p.startsWith("/etc/")), INLINE_DIR, ...opts.ignorePaths, ...(here?.ignore ?? []), ...this.volumes],
      compression: opts.compression,
      level: opts.compressionLevel,
      reproducible: opts.reproducible ? { epoch: sourceDateEpoch() } : undefined,
      stateDir: ws.subdir(`stage${this.stageIndex}-snapshot`),
      skeleton: this.skeleton,
      // Once per build: every stage would give the same reason.
      onNotice: (m) => {
        if (!noticed.has(log)) log.info(m);
        noticed.add(log);
      },
    });
    await this.snap.init();
    log.debug(`${this.prefix} snapshots: ${this.snap.strategy}`);
    this.dir = dir;
    return dir;
  }

  /**
   * A skeleton keeps /etc/passwd and /etc/group whole; when they are links (passwd → passwd.real),
   * it must keep their targets too: unpack again keeping what the links resolve to, until stable.
   */
  private async unpack(layers: Layer[], baseCount: number): Promise<string> {
    const keep: string[] = [];
    for (let round = 0; ; round++) {
      const here = this.here;
      const dir = here ? "/" : this.env.ws.subdir(`stage${this.stageIndex}-rootfs`);
      let failed = -1;
      try {
        await unpackLayers(layers, dir, this.env.ws.blobs, this.env.log, { protect: here?.ignore, skeleton: this.skeleton, keep, onFailure: (i) => (failed = i), extractRetries: this.env.opts.imageFsExtractRetry });
      } catch (e) {
        if (!here) rmSync(dir, { recursive: true, force: true });
        if (failed >= baseCount) throw new CachedLayerFailed(failed - baseCount, e as Error);
        throw e;
      }
      const missing = this.skeleton ? emptiedKeeps(dir, this.skeleton).filter((p) => !keep.includes(p)) : [];
      if (missing.length === 0) return dir;
      if (round >= 3) throw new KilnError(`${this.prefix} tree-only unpack: ${missing.join(", ")} (linked from /etc/passwd or /etc/group) keeps changing`);
      keep.push(...missing);
      this.skeleton!.clear();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** VOLUME: these paths (and what is below them) stay out of later layers. */
  addVolumes(paths: readonly string[]): void {
    const abs = paths.map((p) => posix.resolve("/", p));
    this.volumes.push(...abs);
    this.snap?.addIgnored(abs);
  }

  downloadsDir(): string {
    return (this.downloads ??= this.env.ws.subdir(`stage${this.stageIndex}-downloads`));
  }

  /** Forget an unpacked rootfs (a cached layer failed later): the next ensure() starts over. */
  async reset(): Promise<void> {
    await this.snap?.close();
    if (this.dir && !this.here) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.snap = undefined;
  }

  async close(): Promise<void> {
    await this.snap?.close();
  }
}

const noticed = new WeakSet<object>();

/**
 * "auto" is the overlay where it can be mounted, else the walk (both write the same layers, so the
 * cache key does not name the mode). KILN_TEST_SNAPSHOT_MODE=walk|overlay makes "auto" one of them,
 * so that the test suites (tests/diff, tests/executor) run in either mode through one switch.
 */
function snapshotStrategy(mode: "auto" | "walk" | "overlay"): "auto" | "walk" | "overlay" {
  const forced = process.env.KILN_TEST_SNAPSHOT_MODE;
  if (mode === "auto" && (forced === "walk" || forced === "overlay")) return forced;
  return mode;
}

/** Real rootfs-relative paths that /etc/passwd or /etc/group resolve to and that the skeleton emptied. */
function emptiedKeeps(dir: string, skeleton: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const k of SKELETON_KEEPS) {
    const host = resolveInRoot(dir, "/" + k);
    try {
      if (skeleton.has(statSync(host).ino)) out.push(host.slice(dir.length).replace(/^\/+/, ""));
    } catch { /* missing: nothing to keep */ }
  }
  return out;
}

/** The folders COPY --from reads: a finished stage's files, or an image's (unpacked once per build). */
export class CopySources {
  private imageDirs = new Map<string, Promise<string>>();

  constructor(private env: StageEnv) {}

  async stage(index: number): Promise<string> {
    const r = this.env.results.get(index);
    if (!r) throw new KilnError(`COPY --from: stage ${index} was not built`);
    if (r.rootfs) return r.rootfs;
    const dir = this.env.ws.subdir(`stage${index}-copy-source`);
    await unpackLayers(r.image.layers, dir, this.env.ws.blobs, this.env.log, { extractRetries: this.env.opts.imageFsExtractRetry });
    r.rootfs = dir;
    return dir;
  }

  image(name: string): Promise<string> {
    let p = this.imageDirs.get(name);
    if (!p) {
      p = this.env.images.resolve(name).then(async ({ image }) => {
        const dir = this.env.ws.subdir("copy-from-image");
        await unpackLayers(image.layers, dir, this.env.ws.blobs, this.env.log, { extractRetries: this.env.opts.imageFsExtractRetry });
        return dir;
      });
      this.imageDirs.set(name, p);
    }
    return p;
  }
}
