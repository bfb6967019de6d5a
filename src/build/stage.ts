// One stage of a build: start from the base image's config, expand and apply instructions in
// order, unpack the base only when a step needs the filesystem, and snapshot after each
// filesystem step (one layer per RUN/COPY/ADD, none for metadata).
import { chownSync, lstatSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { posix } from "node:path";
import { parseTriggers, StageScope, type IgnoreMatcher, type BuildPlan, type Expanded, type ExpandedCopy, type ExpandedRun, type Instruction, type PlannedStage } from "../dockerfile/index.ts";
import { RootResolver, cleanArchivePath } from "../fs/resolve.ts";
import { createSnapshotter, type Snapshotter, type WrittenLayer } from "../fs/snapshot.ts";
import { appendLayers, layerFromFile, rfc3339, withConfig, type Image, type Layer } from "../image/index.ts";
import type { HistoryEntry, ImageConfig } from "../image/types.ts";
import { resolveUser, runInRootfs, runnerIgnoredPaths } from "../run/index.ts";
import { interrupted } from "../util/cleanup.ts";
import { DockerfileError, KilnError } from "../util/errors.ts";
import { humanSize, type Logger } from "../util/log.ts";
import { applyMetadata, createdBy, type ConfigState } from "./config.ts";
import { copyInto } from "./copy/index.ts";
import type { BuildContext } from "./context.ts";
import { unpackLayers, type ImageResolver } from "./images.ts";
import type { BuildOptions } from "./options.ts";
import type { Workspace } from "./workspace.ts";

/** What a finished stage leaves for later stages and for the output. */
export interface StageResult {
  image: Image;
  scope: StageScope;
  /** The stage's filesystem, when it was unpacked (COPY --from reads it). */
  rootfs?: string;
  /** Registry repositories holding some of its blobs (for mounts on push). */
  sources: string[];
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
}

// Inline heredoc scripts (RUN <<EOF with #!) live here during the RUN and are removed after.
const INLINE_DIR = "/.kiln-inline";

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

  constructor(private env: StageEnv, stageIndex: number) {
    this.stage = env.plan.stages[stageIndex]!;
    this.prefix = `[stage ${env.position.index}/${env.position.count}]`;
  }

  async build(): Promise<StageResult> {
    const { log } = this.env;
    await this.startFromBase();
    const triggers = this.onbuildTriggers();
    const steps: Instruction[] = [...triggers, ...this.stage.instructions];
    const label = this.stage.name ? ` ${this.stage.name}` : "";
    log.info(`${this.prefix}${label} FROM ${this.stage.base}`, { event: "stage", stage: this.stage.index, name: this.stage.name, base: this.stage.base });
    for (const [i, ins] of steps.entries()) {
      const t0 = performance.now();
      log.info(`${this.prefix} STEP ${i + 1}/${steps.length}: ${ins.original}`, { event: "step", stage: this.stage.index, step: i + 1, of: steps.length, line: ins.line, instruction: ins.original });
      const x = this.scope.expand(ins);
      const layer = await this.execute(x, ins);
      const secs = (performance.now() - t0) / 1000;
      log.info(`${this.prefix} STEP ${i + 1}/${steps.length} done in ${secs.toFixed(2)}s${layer ? `, layer ${humanSize(layer.size)}` : ""}`, {
        event: "step-done", stage: this.stage.index, step: i + 1, seconds: secs, layer: layer?.digest, size: layer?.size,
      });
    }
    await this.snap?.close();
    return { image: this.finish(), scope: this.scope, rootfs: this.rootfs, sources: this.sources };
  }

  // ---- base -------------------------------------------------------------------------------

  private async startFromBase(): Promise<void> {
    const { plan, results, images } = this.env;
    if (this.stage.baseStage !== undefined) {
      const parent = results.get(this.stage.baseStage);
      if (!parent) throw new KilnError(`stage ${this.stage.index} is built on stage ${this.stage.baseStage}, which was not built`);
      this.base = parent.image;
      this.sources = [...parent.sources];
      this.scope = new StageScope(plan, this.stage, parent.scope);
    } else {
      const resolved = await images.resolve(this.stage.scratch ? "scratch" : this.stage.base).catch((e: Error) => {
        throw new DockerfileError((e as Error).message, this.stage.from.line, plan.file);
      });
      this.base = resolved.image;
      if (resolved.ref) this.sources.push(resolved.ref.context());
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

  private async execute(x: Expanded, ins: Instruction): Promise<WrittenLayer | null> {
    switch (x.kind) {
      case "run":
        return this.atLine(ins, () => this.run(x));
      case "copy":
      case "add":
        return this.atLine(ins, () => this.copy(x));
      case "workdir": {
        this.state = applyMetadata(this.state, x, this.scope.env());
        return this.atLine(ins, () => this.workdir(x.path, x));
      }
      default:
        this.state = applyMetadata(this.state, x, this.scope.env());
        if (x.kind !== "arg") this.history.push(this.entry(x, true));
        return null;
    }
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
    if (x.mounts.length > 0) log.warn(`${this.prefix} RUN --mount is not supported yet; running without: ${x.mounts.join(" ")}`);
    const rootfs = await this.ensureRootfs();
    let argv = x.argv;
    const cleanupInline = this.writeInlineFiles(rootfs, x);
    if (x.files.length > 0) argv = argv.map((a) => (x.files.some((f) => f.path === a) ? posix.join(INLINE_DIR, posix.basename(a)) : a));
    const env = [...x.env, ...Object.entries(x.proxyEnv).map(([k, v]) => `${k}=${v}`)];
    const step = `${this.prefix}`;
    let res;
    try {
      res = await runInRootfs({
        rootfs,
        argv,
        env,
        cwd: this.state.config.WorkingDir || "/",
        user: this.state.config.User || undefined,
        onOutput: (chunk) => log.output(step, chunk),
        warn: (m) => log.warn(m),
        signal: interrupted,
      });
    } finally {
      cleanupInline();
    }
    if (res.exitCode !== 0) {
      const shown = x.json ? JSON.stringify(x.args) : x.args.join(" ");
      throw new KilnError(`RUN ${shown}: the command returned a non-zero code: ${res.exitCode}`, res.exitCode > 0 && res.exitCode < 256 ? res.exitCode : 1);
    }
    const layer = await this.snap!.snapshot(this.env.ws.layers);
    return this.addLayer(layer, x);
  }

  /** Heredoc scripts with #! run as files: write them for the RUN, remove them after. */
  private writeInlineFiles(rootfs: string, x: ExpandedRun): () => void {
    if (x.files.length === 0) return () => {};
    const dir = rootfs + INLINE_DIR;
    const rootTimes = lstatSync(rootfs);
    mkdirSync(dir, { mode: 0o755 });
    for (const f of x.files) writeFileSync(posix.join(dir, posix.basename(f.path)), f.data, { mode: f.mode });
    return () => {
      rmSync(dir, { recursive: true, force: true });
      utimesSync(rootfs, rootTimes.atime, rootTimes.mtime);
    };
  }

  private async copy(x: ExpandedCopy): Promise<WrittenLayer | null> {
    const rootfs = await this.ensureRootfs();
    let sourceRoot = this.env.ctx.dir;
    let ignore: IgnoreMatcher | undefined = this.env.ctx.ignore;
    if (x.fromRef) {
      ignore = undefined;
      sourceRoot = "stage" in x.fromRef ? await this.stageRootfs(x.fromRef.stage) : await this.imageRootfs(x.fromRef.image);
    }
    const result = await copyInto({
      rootfs,
      sourceRoot,
      ignore,
      sources: x.sources,
      heredocs: x.heredocSources.map((h) => ({ name: h.name, content: h.data })),
      dest: x.dest,
      workdir: this.state.config.WorkingDir || "/",
      chown: x.chown,
      chmod: x.chmod,
      isAdd: x.kind === "add",
      checksum: x.checksum,
      exclude: x.exclude,
      parents: x.parents,
      // Files from another stage or image keep their owners; context files become 0:0.
      preserveOwner: !!x.fromRef,
      tmpDir: this.env.ws.subdir("add-download"),
    });
    const layer = result.paths.length > 0 ? await this.snap!.snapshotPaths(result.paths, this.env.ws.layers) : null;
    return this.addLayer(layer, x);
  }

  /** WORKDIR creates the directory (owned by the current USER) when it does not exist. */
  private async workdir(path: string, x: Expanded): Promise<WrittenLayer | null> {
    const rootfs = await this.ensureRootfs();
    const r = new RootResolver(rootfs);
    const rel = cleanArchivePath(path);
    let exists = true;
    try {
      r.dir(rel, false);
    } catch {
      exists = false;
    }
    if (exists || rel === "") {
      this.history.push(this.entry(x, true));
      return null;
    }
    const real = r.dir(rel, true);
    const user = this.state.config.User;
    if (user) {
      const u = resolveUser(rootfs, user);
      chownSync(r.host(real), u.uid, u.gid);
    }
    const layer = await this.snap!.snapshotPaths([path], this.env.ws.layers);
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
    const dir = ws.subdir(`stage${this.stage.index}-rootfs`);
    const t0 = performance.now();
    await unpackLayers(this.base.layers, dir, ws.blobs, (m) => log.warn(m));
    if (this.base.layers.length > 0) {
      log.info(`${this.prefix} unpacked ${this.base.layers.length} base layer(s) in ${((performance.now() - t0) / 1000).toFixed(2)}s`, { event: "unpack", stage: this.stage.index });
    }
    this.snap = createSnapshotter({
      rootfs: dir,
      // The overlay strategy is not finished; "auto" means walk until it is.
      strategy: opts.snapshotMode === "overlay" ? "overlay" : "walk",
      ignore: [...runnerIgnoredPaths(), INLINE_DIR, ...opts.ignorePaths],
      compression: opts.compression,
      level: opts.compressionLevel,
      reproducible: opts.reproducible ? { epoch: sourceDateEpoch() } : undefined,
      stateDir: ws.subdir(`stage${this.stage.index}-snapshot`),
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
    await unpackLayers(r.image.layers, dir, this.env.ws.blobs, (m) => this.env.log.warn(m));
    r.rootfs = dir;
    return dir;
  }

  private imageDirs = new Map<string, string>();
  private async imageRootfs(name: string): Promise<string> {
    const known = this.imageDirs.get(name);
    if (known) return known;
    const { image } = await this.env.images.resolve(name);
    const dir = this.env.ws.subdir("copy-from-image");
    await unpackLayers(image.layers, dir, this.env.ws.blobs, (m) => this.env.log.warn(m));
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

