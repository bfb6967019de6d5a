// One stage of a build: start from the base image's config, expand and apply instructions in
// order, unpack the base only when a step needs the filesystem, and snapshot after each
// filesystem step (one layer per RUN/COPY/ADD, none for metadata).
import { posix } from "node:path";
import { parseTriggers, StageScope, type IgnoreMatcher, type BuildPlan, type Expanded, type ExpandedCopy, type ExpandedRun, type Instruction, type PlannedStage } from "../dockerfile/index.ts";
import { createSnapshotter, type Snapshotter, type WrittenLayer } from "../fs/snapshot.ts";
import { appendLayers, layerFromFile, rfc3339, withConfig, type Image, type Layer } from "../image/index.ts";
import type { HistoryEntry, ImageConfig } from "../image/types.ts";
import { resolveUser, runInRootfs, runnerIgnoredPaths } from "../run/index.ts";
import { interrupted } from "../util/cleanup.ts";
import { DockerfileError, KilnError } from "../util/errors.ts";
import { humanSize, type Logger } from "../util/log.ts";
import { baseKey, type CacheStore } from "../cache/index.ts";
import { createdBy, type ConfigState } from "./config.ts";
import { copyInto } from "./copy/index.ts";
import { copySpec, planSteps, probeSteps, type Step } from "./step-plan.ts";
import type { BuildContext } from "./context.ts";
import { unpackLayers, type ImageResolver } from "./images.ts";
import { INLINE_DIR, makeDirs, writeInlineFiles } from "./rootfs-ops.ts";
import type { BuildOptions } from "./options.ts";
import { planRunMounts } from "./run-mounts.ts";
import type { Workspace } from "./workspace.ts";

/** What a finished stage leaves for later stages and for the output. */
export interface StageResult {
  image: Image;
  scope: StageScope;
  /** The stage's filesystem, when it was unpacked (COPY --from reads it). */
  rootfs?: string;
  /** Registry repositories holding some of its blobs (for mounts on push). */
  sources: string[];
  /** Cache key of the stage's last step (COPY --from and FROM <stage> chain from it). */
  key: string;
}

/** One cache report row (--cache-report). */
export interface StepReport {
  stage: number;
  step: number;
  instruction: string;
  key?: string;
  hit: boolean;
  layer?: string;
  seconds: number;
}

/** The layer cache as the executor uses it. */
export interface CacheUse {
  store: CacheStore;
  runLayers: boolean;
  copyLayers: boolean;
  /** Cache writes in flight; awaited before the image is pushed. */
  pending: Promise<void>[];
}

export interface StageEnv {
  opts: BuildOptions;
  plan: BuildPlan;
  ctx: BuildContext;
  ws: Workspace;
  log: Logger;
  images: ImageResolver;
  /** Results of earlier stages, by index. */
  results: Map<number, StageResult>;
  /** Position of this stage among the stages being built, for log lines. */
  position: { index: number; count: number };
  /** Seconds since the epoch used for `created` and, with --reproducible, for layer mtimes. */
  now: Date;
  cache?: CacheUse;
  report: StepReport[];
  /** In-container mode: the target stage builds in "/", sparing these paths. */
  inContainer?: { stage: number; ignore: string[] };
}

export class StageBuilder {
  private stage: PlannedStage;
  private base!: Image;
  private scope!: StageScope;
  private state!: ConfigState;
  private layers: Layer[] = [];
  private history: HistoryEntry[] = [];
  private rootfs?: string;
  private snap?: Snapshotter;
  private sources: string[] = [];
  private prefix: string;
  /** --single-snapshot: no layer per step, one for the whole stage at its end. */
  private single: boolean;
  /** Where ADD keeps URL downloads until their checksum is checked (created on first use). */
  private downloads?: string;
  /** VOLUME paths: later changes below them are not snapshotted. */
  private volumes: string[] = [];
  /** Set when the rootfs is unpacked as a skeleton (onlyAddsFiles): the emptied files' inodes. */
  private skeleton?: Set<number>;

  constructor(private env: StageEnv, stageIndex: number) {
    this.stage = env.plan.stages[stageIndex]!;
    this.prefix = `[stage ${env.position.index}/${env.position.count}]`;
    this.single = env.opts.singleSnapshot;
  }

  async build(): Promise<StageResult> {
    const { log } = this.env;
    await this.startFromBase();
    const triggers = this.onbuildTriggers();
    const label = this.stage.name ? ` ${this.stage.name}` : "";
    log.info(`${this.prefix}${label} FROM ${this.stage.base}`, { event: "stage", stage: this.stage.index, name: this.stage.name, base: this.stage.base });
    const planned = await planSteps(
      { scope: this.scope, baseKey: this.baseKey, cache: this.env.cache, results: this.env.results, images: this.env.images, ctx: this.env.ctx, atLine: (ins, f) => this.atLine(ins, f) },
      [...triggers, ...this.stage.instructions],
      this.state,
    );
    const steps = planned.steps;
    this.after = planned.after;
    this.state = planned.state;
    await probeSteps(this.env.cache, steps);
    if (this.env.opts.dryRun) return this.dryRun(steps);
    if (this.onlyAddsFiles(steps)) this.skeleton = new Set();
    for (const [i, step] of steps.entries()) {
      const t0 = performance.now();
      const n = `STEP ${i + 1}/${steps.length}`;
      const cacheNote = step.hit ? ` (CACHE HIT ${step.key.slice(0, 12)})` : this.env.cache && step.fsStep ? ` (CACHE MISS ${step.key.slice(0, 12)})` : "";
      log.info(`${this.prefix} ${n}: ${step.ins.original}${cacheNote}`, {
        event: "step", stage: this.stage.index, step: i + 1, of: steps.length, line: step.ins.line, instruction: step.ins.original,
        key: this.env.cache ? step.key : undefined, cache: step.fsStep && this.env.cache ? (step.hit ? "hit" : "miss") : undefined,
      });
      this.state = step.before;
      const layer = step.hit ? this.reuse(step) : await this.execute(step);
      this.state = this.after.get(step) ?? this.state;
      const secs = (performance.now() - t0) / 1000;
      if (step.fsStep) {
        this.env.report.push({ stage: this.stage.index, step: i + 1, instruction: step.ins.original, key: this.env.cache ? step.key : undefined, hit: !!step.hit, layer: layer?.digest, seconds: secs });
      }
      if (!step.hit && step.fsStep) {
        log.info(`${this.prefix} ${n} done in ${secs.toFixed(2)}s${layer ? `, layer ${humanSize(layer.size)}` : ", no changes"}`, {
          event: "step-done", stage: this.stage.index, step: i + 1, seconds: secs, layer: layer?.digest, size: layer?.size,
        });
      }
    }
    if (this.single && this.snap) {
      // --single-snapshot: everything the stage changed, as one layer.
      const layer = await this.snap.snapshot(this.env.ws.layers);
      if (layer) {
        this.layers.push(layerFromFile(layer));
        this.history.push({ ...this.entry(steps[steps.length - 1]!.x, false), created_by: "kiln: single snapshot of the stage" });
      }
    }
    await this.snap?.close();
    const key = steps.length > 0 ? steps[steps.length - 1]!.key : this.baseKey;
    // A skeleton rootfs is no COPY --from source: later stages unpack this one's layers instead.
    return { image: this.finish(), scope: this.scope, rootfs: this.skeleton ? undefined : this.rootfs, sources: this.sources, key };
  }

  /**
   * Whether the steps left to run only add files and directories (COPY, WORKDIR, VOLUME): they
   * need the tree, its metadata and /etc/passwd, never other file contents, so the rootfs can be
   * a skeleton (the cached layers' big files are not written out). Not for ADD (an archive may
   * hard-link to a file already in the rootfs) nor --single-snapshot (a whole-rootfs diff).
   */
  private onlyAddsFiles(steps: Step[]): boolean {
    const todo = steps.filter((s) => !s.hit && s.fsStep);
    const here = this.env.inContainer?.stage === this.stage.index;
    return todo.length > 0 && !here && !this.single && this.env.opts.snapshotMode !== "overlay" &&
      todo.every((s) => s.x.kind === "copy" || s.x.kind === "workdir" || s.x.kind === "volume");
  }

  /** `kiln plan`: report what would hit, touch nothing. */
  private dryRun(steps: Step[]): StageResult {
    for (const [i, s] of steps.entries()) {
      if (s.fsStep) this.env.report.push({ stage: this.stage.index, step: i + 1, instruction: s.ins.original, key: this.env.cache ? s.key : undefined, hit: !!s.hit, seconds: 0 });
    }
    const key = steps.length > 0 ? steps[steps.length - 1]!.key : this.baseKey;
    return { image: this.base, scope: this.scope, sources: this.sources, key };
  }

  /** Config after each metadata step, computed while planning. */
  private after = new Map<Step, ConfigState>();
  private baseKey = "";

  /** A cache hit: the layer is referenced by digest, never downloaded here. */
  private reuse(step: Step): WrittenLayer | null {
    const hit = step.hit!;
    const layer = this.env.cache!.store.layerOf(hit);
    if (this.rootfs) throw new KilnError("internal: a cache hit after the rootfs was unpacked");
    if (!layer) {
      this.history.push(this.entry(step.x, true));
      return null;
    }
    this.layers.push(layer);
    this.history.push(this.entry(step.x, false));
    if (this.env.cache?.store.repository) this.sources.push(this.env.cache.store.repository.context());
    return { path: "", mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: layer.diffId, uncompressedSize: 0, entries: 0 };
  }

  // ---- base -------------------------------------------------------------------------------

  private async startFromBase(): Promise<void> {
    const { plan, results, images } = this.env;
    if (this.stage.baseStage !== undefined) {
      const parent = results.get(this.stage.baseStage);
      if (!parent) throw new KilnError(`stage ${this.stage.index} is built on stage ${this.stage.baseStage}, which was not built`);
      this.base = parent.image;
      this.sources = [...parent.sources];
      this.baseKey = baseKey({ parentStageKey: parent.key });
      this.scope = new StageScope(plan, this.stage, parent.scope);
    } else {
      const resolved = await images.resolve(this.stage.scratch ? "scratch" : this.stage.base).catch((e: Error) => {
        throw new DockerfileError((e as Error).message, this.stage.from.line, plan.file);
      });
      this.base = resolved.image;
      if (resolved.ref) this.sources.push(resolved.ref.context());
      this.baseKey = this.stage.scratch ? baseKey({ scratch: true }) : baseKey({ manifestDigest: this.base.manifestDigest });
      const c = this.base.config.config ?? {};
      this.scope = new StageScope(plan, this.stage, { env: c.Env ? [...c.Env] : [], shell: c.Shell ? [...c.Shell] : undefined, workdir: c.WorkingDir });
    }
    const cc = structuredClone(this.base.config.config ?? {});
    if (!cc.Env || cc.Env.length === 0) cc.Env = this.scope.env();
    this.state = { config: cc, author: this.base.config.author, cmdSetHere: false };
  }

  /** ONBUILD triggers of the base image run first; the new image does not inherit them. */
  private onbuildTriggers(): Instruction[] {
    const triggers = this.state.config.OnBuild ?? [];
    if (triggers.length === 0) return [];
    this.state.config.OnBuild = null;
    return parseTriggers([...triggers], `ONBUILD trigger of ${this.stage.base}`);
  }

  // ---- instructions -----------------------------------------------------------------------

  private async execute(step: Step): Promise<WrittenLayer | null> {
    const { x, ins } = step;
    let layer: WrittenLayer | null;
    switch (x.kind) {
      case "run":
        layer = await this.atLine(ins, () => this.run(x));
        break;
      case "copy":
      case "add":
        layer = await this.atLine(ins, () => this.copy(x));
        break;
      case "workdir":
        layer = await this.atLine(ins, () => this.workdir(x.path, x));
        break;
      case "volume":
        layer = await this.atLine(ins, () => this.volume(x.paths, x));
        break;
      default:
        if (x.kind !== "arg") this.history.push(this.entry(x, true));
        return null;
    }
    const cache = this.env.cache;
    if (cache && step.cacheable) cache.pending.push(cache.store.put(step.key, layer, { createdBy: createdBy(x) }));
    return layer;
  }

  /** Errors of a step name its Dockerfile line. */
  private async atLine<T>(ins: Instruction, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof DockerfileError || !(e instanceof KilnError)) throw e;
      throw new KilnError(`${ins.file}:${ins.line}: ${e.message}`, e.exitCode);
    }
  }

  private async run(x: ExpandedRun): Promise<WrittenLayer | null> {
    const { log } = this.env;
    const rootfs = await this.ensureRootfs();
    const cwd = this.state.config.WorkingDir || "/";
    const planned = await planRunMounts(x, {
      contextDir: this.env.ctx.dir, ignore: this.env.ctx.ignore, cwd, opts: this.env.opts, scratch: this.env.ws.dir, warn: (m) => log.warn(m),
      rootOf: (r) => ("stage" in r ? this.stageRootfs(r.stage) : this.imageRootfs(r.image)),
    });
    const { argv, cleanup: cleanupInline } = writeInlineFiles(rootfs, x.files, x.argv);
    const env = [...x.env, ...Object.entries(x.proxyEnv).map(([k, v]) => `${k}=${v}`)];
    const step = `${this.prefix}`;
    let res;
    try {
      res = await runInRootfs({
        rootfs,
        argv,
        env,
        cwd,
        user: this.state.config.User || undefined,
        onOutput: (chunk) => log.output(step, chunk),
        warn: (m) => log.warn(m),
        signal: interrupted,
        tmpDir: this.env.ws.dir,
        keepSync: this.env.opts.keepSync,
        mounts: planned.mounts,
        network: planned.network,
      });
      if (!res.syncSuppressed && !this.env.opts.keepSync) log.debug(`${step} fsync runs for real: ${res.syncReason ?? "no filter"}`);
    } finally {
      cleanupInline();
      planned.release();
    }
    if (res.exitCode !== 0) {
      const shown = x.json ? JSON.stringify(x.args) : x.args.join(" ");
      throw new KilnError(`RUN ${shown}: the command returned a non-zero code: ${res.exitCode}`, res.exitCode > 0 && res.exitCode < 256 ? res.exitCode : 1);
    }
    const layer = this.single ? null : await this.snap!.snapshot(this.env.ws.layers);
    return this.addLayer(layer, x);
  }

  private async copy(x: ExpandedCopy): Promise<WrittenLayer | null> {
    const rootfs = await this.ensureRootfs();
    let sourceRoot = this.env.ctx.dir;
    let ignore: IgnoreMatcher | undefined = this.env.ctx.ignore;
    if (x.fromRef) {
      ignore = undefined;
      sourceRoot = "stage" in x.fromRef ? await this.stageRootfs(x.fromRef.stage) : await this.imageRootfs(x.fromRef.image);
    }
    // Only ADD downloads need a place to wait for their checksum; one directory per stage does.
    const tmpDir = x.kind === "add" ? (this.downloads ??= this.env.ws.subdir(`stage${this.stage.index}-downloads`)) : undefined;
    const result = await copyInto({ ...copySpec(x, rootfs, sourceRoot, ignore, this.state.config.WorkingDir), tmpDir });
    const layer = result.paths.length > 0 && !this.single ? await this.snap!.snapshotPaths(result.paths, this.env.ws.layers) : null;
    return this.addLayer(layer, x);
  }

  /** WORKDIR creates the directory, every missing level owned by the current USER (as buildah does). */
  private async workdir(path: string, x: Expanded): Promise<WrittenLayer | null> {
    const rootfs = await this.ensureRootfs();
    const user = this.state.config.User;
    const created = makeDirs(rootfs, [path], user ? resolveUser(rootfs, user) : undefined);
    const layer = created.length > 0 && !this.single ? await this.snap!.snapshotPaths(created, this.env.ws.layers) : null;
    return this.addLayer(layer, x);
  }

  /**
   * VOLUME creates missing directories (buildah, kaniko) and, as in buildah, kaniko and Docker's
   * classic builder, later steps' changes inside a volume are not kept.
   */
  private async volume(paths: string[], x: Expanded): Promise<WrittenLayer | null> {
    const rootfs = await this.ensureRootfs();
    const created = makeDirs(rootfs, paths);
    const layer = created.length > 0 && !this.single ? await this.snap!.snapshotPaths(created, this.env.ws.layers) : null;
    for (const p of paths) this.volumes.push(posix.resolve("/", p));
    this.snap!.addIgnored(paths.map((p) => posix.resolve("/", p)));
    return this.addLayer(layer, x);
  }

  private addLayer(layer: WrittenLayer | null, x: Expanded): WrittenLayer | null {
    if (!layer) {
      this.history.push(this.entry(x, true));
      return null;
    }
    this.layers.push(layerFromFile(layer));
    this.history.push(this.entry(x, false));
    return layer;
  }

  private entry(x: Expanded, empty: boolean): HistoryEntry {
    const h: HistoryEntry = { created: rfc3339(this.env.opts.reproducible ? new Date(0) : this.env.now), created_by: createdBy(x), comment: "kiln" };
    if (empty) h.empty_layer = true;
    return h;
  }

  // ---- filesystem ---------------------------------------------------------------------------

  /** Unpack the base (once) and start the snapshotter. */
  private async ensureRootfs(): Promise<string> {
    if (this.rootfs) return this.rootfs;
    const { ws, log, opts } = this.env;
    const here = this.env.inContainer?.stage === this.stage.index ? this.env.inContainer : undefined;
    const dir = here ? "/" : ws.subdir(`stage${this.stage.index}-rootfs`);
    const t0 = performance.now();
    const layers = [...this.base.layers, ...this.layers];
    await unpackLayers(layers, dir, ws.blobs, log, { protect: here?.ignore, skeleton: this.skeleton });
    if (layers.length > 0) {
      const note = this.skeleton ? " (tree only: the steps left just add files)" : "";
      log.info(`${this.prefix} unpacked ${layers.length} layer(s) in ${((performance.now() - t0) / 1000).toFixed(2)}s${note}`, { event: "unpack", stage: this.stage.index, skeleton: !!this.skeleton });
    }
    this.snap = createSnapshotter({
      rootfs: dir,
      // The overlay strategy is not finished; "auto" means walk until it is.
      strategy: opts.snapshotMode === "overlay" ? "overlay" : "walk",
      // The runner's /etc/hosts and /etc/resolv.conf are bind mounts in its own namespace: the
      // files in the rootfs stay untouched by RUN, and COPY may legitimately replace them.
      ignore: [...runnerIgnoredPaths().filter((p) => !p.startsWith("/etc/")), INLINE_DIR, ...opts.ignorePaths, ...(here?.ignore ?? []), ...this.volumes],
      compression: opts.compression,
      level: opts.compressionLevel,
      reproducible: opts.reproducible ? { epoch: sourceDateEpoch() } : undefined,
      stateDir: ws.subdir(`stage${this.stage.index}-snapshot`),
      skeleton: this.skeleton,
      onNotice: (m) => log.info(m),
    });
    await this.snap.init();
    this.rootfs = dir;
    return dir;
  }

  private async stageRootfs(index: number): Promise<string> {
    const r = this.env.results.get(index);
    if (!r) throw new KilnError(`COPY --from: stage ${index} was not built`);
    if (r.rootfs) return r.rootfs;
    const dir = this.env.ws.subdir(`stage${index}-copy-source`);
    await unpackLayers(r.image.layers, dir, this.env.ws.blobs, this.env.log);
    r.rootfs = dir;
    return dir;
  }

  private imageDirs = new Map<string, string>();
  private async imageRootfs(name: string): Promise<string> {
    const known = this.imageDirs.get(name);
    if (known) return known;
    const { image } = await this.env.images.resolve(name);
    const dir = this.env.ws.subdir("copy-from-image");
    await unpackLayers(image.layers, dir, this.env.ws.blobs, this.env.log);
    this.imageDirs.set(name, dir);
    return dir;
  }

  // ---- result -------------------------------------------------------------------------------

  private finish(): Image {
    let img = appendLayers(this.base, this.layers, this.history);
    const cfg = structuredClone(img.config) as ImageConfig;
    cfg.config = this.state.config;
    if (this.state.author) cfg.author = this.state.author;
    cfg.created = rfc3339(this.env.opts.reproducible ? new Date(0) : this.env.now);
    const p = this.stage.platform ?? this.env.plan.targetPlatform;
    if (this.stage.scratch) {
      cfg.os = p.os;
      cfg.architecture = p.arch;
      if (p.variant) cfg.variant = p.variant;
    }
    img = withConfig(img, cfg);
    return img;
  }
}

export function sourceDateEpoch(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  return s && /^\d+$/.test(s) ? Number(s) : 0;
}

