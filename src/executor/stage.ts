// One stage of a build: plan every step and its key (step-plan.ts), probe the cache for all of
// them at once (stage-cache.ts), then walk the steps: a hit reuses its layer by digest, a miss
// unpacks the rootfs once (stage-rootfs.ts) and runs (stage-exec.ts), metadata only adds
// history; the image is assembled by stage-image.ts. A reused layer that turns out to be gone or
// corrupt makes its step a miss and the stage starts over from the hits before it.
import type { Instruction, PlannedStage } from "../dockerfile/index.ts";
import { describeSources } from "./copy/index.ts";
import type { Layer } from "../image/index.ts";
import type { WrittenLayer } from "../fs/snapshot.ts";
import { CommandFailedError, DockerfileError, KilnError } from "../util/errors.ts";
import { humanSize } from "../util/log.ts";
import { createdBy } from "./config.ts";
import { startStage } from "./stage-base.ts";
import { copyFromFiles, demoteFrom, onlyAddsFiles, probeSteps } from "./stage-cache.ts";
import { executeStep, reuseLinkHit, type ExecContext } from "./stage-exec.ts";
import { emptyTarLayer, StageImage } from "./stage-image.ts";
import { CachedLayerFailed, CopySources, StageRootfs } from "./stage-rootfs.ts";
import type { CacheUse, StageEnv, StageResult } from "./stage-types.ts";
import { runKeyInputs } from "./run-mounts.ts";
import { requireRunPlatform } from "./run-platform.ts";
import { prewarmRunHelper } from "../run/index.ts";
import { copySpec, layerShapingFlags, planSteps, type DescribeCopy, type StagePlan, type Step } from "./step-plan.ts";
import { describePhases, stepPhases } from "../util/timing.ts";

export type { CacheUse, StageEnv, StageResult, StepReport } from "./stage-types.ts";

export class StageBuilder {
  private stage: PlannedStage;
  private prefix: string;
  private copyFrom: CopySources;

  constructor(private env: StageEnv, stageIndex: number) {
    this.stage = env.plan.stages[stageIndex]!;
    this.prefix = `[stage ${env.position.index}/${env.position.count}]`;
    this.copyFrom = new CopySources(env);
  }

  async build(): Promise<StageResult> {
    const { env, stage } = this;
    const start = await startStage(env, stage);
    env.log.info(`${this.prefix}${stage.name ? ` ${stage.name}` : ""} FROM ${stage.base}`, { event: "stage", stage: stage.index, name: stage.name, base: stage.base });
    const plan = await planSteps({
      scope: start.scope, instructions: [...start.triggers, ...stage.instructions], start: start.state, baseKey: start.baseKey,
      cache: env.cache, describe: this.describe, atLine: (ins, f) => atLine(ins, f), layers: layerShapingFlags(env.opts),
      describeRun: (x) => runKeyInputs(x, { results: env.results, images: env.images, ctx: env.ctx }),
    });
    await probeSteps(env.cache, plan.steps, (m) => env.log.warn(`cache: ${m}`));
    // A RUN will run: its helper starts while the base is unpacked (not for a build of cache hits).
    if (!env.opts.dryRun && plan.steps.some((s) => s.x.kind === "run" && !s.hit)) prewarmRunHelper(env.opts.keepSync);
    const sources = [...start.sources];
    if (env.opts.dryRun) {
      for (const [i, s] of plan.steps.entries()) {
        if (s.fsStep) env.report.push({ stage: stage.index, step: i + 1, instruction: s.ins.original, key: env.cache ? s.key : undefined, hit: !!s.hit, seconds: 0 });
      }
      return { image: start.base, scope: start.scope, sources, key: plan.key };
    }
    for (const l of start.base.layers) env.early?.add(l);
    const img = new StageImage(start.base, env.opts.reproducible ? new Date(0) : env.now);
    const rootfs = new StageRootfs(env, stage.index, this.prefix);
    const reportFrom = env.report.length;
    for (;;) {
      try {
        await this.runSteps(plan, img, rootfs, sources);
        break;
      } catch (e) {
        if (!(e instanceof CachedLayerFailed)) throw e;
        const step = this.layerSteps[e.cachedIndex];
        if (!step?.hit) throw e.cause;
        demoteFrom(plan.steps, step);
        step.replaceBlob = true;
        env.log.warn(`${this.prefix} cache: the cached layer of "${step.ins.original}" cannot be used (${e.cause.message}); running the step again`, { event: "cache-bad-layer", stage: stage.index, key: step.key });
        img.reset();
        await rootfs.reset();
        env.report.length = reportFrom;
      }
    }
    if (env.opts.singleSnapshot && rootfs.snap) {
      // --single-snapshot: everything the stage changed, as one layer.
      const layer = await rootfs.snap.snapshot(env.ws.layers);
      if (layer) img.add(layer, plan.steps.at(-1)!.x, "kiln: single snapshot of the stage");
      if (layer) env.early?.add(img.added.at(-1)!, { fresh: true });
    }
    await rootfs.close();
    const p = stage.platform ?? env.plan.targetPlatform;
    // A skeleton rootfs is no COPY --from source: later stages unpack this one's layers instead.
    return { image: img.finish(plan.config, stage.scratch ? p : undefined), scope: start.scope, rootfs: rootfs.skeleton ? undefined : rootfs.dir, sources, key: plan.key };
  }

  /** What a COPY/ADD reads, for its key (step-plan's DescribeCopy). */
  private describe: DescribeCopy = async (x, workdir) => {
    const { env } = this;
    const from = x.fromRef;
    if (from && "image" in from) return { fromImageDigest: (await env.images.resolve(from.image)).image.manifestDigest };
    const read = async (root: string) => await describeSources(copySpec(x, "", root, from ? undefined : env.ctx.ignore, workdir));
    if (!from) return { sources: await read(env.ctx.dir) };
    const r = env.results.get(from.stage);
    if (!r) throw new KilnError(`COPY --from: stage ${from.stage} was not built`);
    const files = await copyFromFiles(env.cache!, r, x, workdir, async () => await read(await this.copyFrom.stage(from.stage)), !!env.opts.dryRun);
    return files ? { fromFiles: files } : { unknown: true };
  };

  private async runSteps(plan: StagePlan, img: StageImage, rootfs: StageRootfs, sources: string[]): Promise<void> {
    const { env } = this;
    const { log, cache, opts } = env;
    const steps = plan.steps;
    rootfs.skeleton = onlyAddsFiles(steps, opts, env.inContainer?.stage === this.stage.index) ? new Set() : undefined;
    const exec: ExecContext = { env, rootfs, copyFrom: this.copyFrom, prefix: this.prefix, single: opts.singleSnapshot };
    const reused: Step[] = (this.layerSteps = []);
    const seconds: number[] = [];
    for (const [i, step] of steps.entries()) {
      const t0 = performance.now();
      stepPhases.take();
      const n = `STEP ${i + 1}/${steps.length}`;
      const lookedUp = !!cache && step.fsStep;
      const note = step.hit ? ` (CACHE HIT ${step.key.slice(0, 12)})` : lookedUp ? ` (CACHE MISS ${step.key.slice(0, 12)})` : "";
      log.info(`${this.prefix} ${n}: ${step.ins.original}${note}`, {
        event: "step", stage: this.stage.index, step: i + 1, of: steps.length, line: step.ins.line, instruction: step.ins.original,
        key: cache ? step.key : undefined, cache: lookedUp ? (step.hit ? "hit" : "miss") : undefined,
      });
      let layer: WrittenLayer | Layer | null = null;
      if (step.hit && rootfs.dir) {
        // A --link hit after a miss (stage-cache.ts): its layer goes onto the rootfs as it is; one
        // that fails to apply starts the stage over with the step as a miss, like any cached layer.
        layer = cache!.store.layerOf(step.hit) ?? null;
        reused.push(step);
        if (layer) await reuseLinkHit(exec, layer).catch((e) => Promise.reject(new CachedLayerFailed(reused.length - 1, e as Error)));
        if (layer && cache!.store.repository) sources.push(cache!.store.repository.context());
        img.add(layer, step.x);
        if (layer) env.early?.add(layer);
      } else if (step.hit) {
        layer = cache!.store.layerOf(step.hit) ?? null;
        if (layer) {
          reused.push(step);
          if (cache!.store.repository) sources.push(cache!.store.repository.context());
          env.early?.add(layer);
        }
        img.add(layer, step.x);
      } else if (step.fsStep) {
        if (step.x.kind === "run" && !env.inContainer) requireRunPlatform(env.plan, this.stage, step.ins);
        await stepPhases.time("unpack", () => rootfs.ensure(img.base.layers, img.added));
        const written = await atLine(step.ins, () => executeStep(exec, step));
        img.add(written, step.x);
        const put = cache && step.cacheable ? timedPut(cache, log, step, written) : undefined;
        if (put) cache!.pending.push(put);
        // To the destinations now (a small layer) or after its cache write (a big one, then mounted from the cache repo).
        if (written) env.early?.add(img.added.at(-1)!, { after: put, fresh: true });
        layer = written;
      } else if (step.x.kind !== "arg") {
        // --force-build-metadata (kaniko): metadata steps get a layer too, an empty one.
        const empty = opts.forceBuildMetadata ? await emptyTarLayer(opts.compression, opts.compressionLevel) : null;
        if (empty) reused.push(step);
        img.add(empty, step.x);
      }
      seconds[i] = (performance.now() - t0) / 1000;
      if (step.fsStep && !step.hit) {
        const phases = stepPhases.take();
        log.info(`${this.prefix} ${n} done in ${seconds[i]!.toFixed(2)}s${layer ? `, layer ${humanSize(layer.size)}` : ", no changes"}${log.enabled("debug") ? ` (${describePhases(phases)})` : ""}`, {
          event: "step-done", stage: this.stage.index, step: i + 1, seconds: seconds[i], layer: layer?.digest, size: layer?.size, phases,
        });
      }
      if (step.fsStep) env.report.push({ stage: this.stage.index, step: i + 1, instruction: step.ins.original, key: cache ? step.key : undefined, hit: !!step.hit, layer: layer?.digest, seconds: seconds[i]! });
    }
  }

  /** The steps whose layers img holds before the rootfs is unpacked, in order (CachedLayerFailed's index). */
  private layerSteps: Step[] = [];
}

/** A step's cache write, in the background; how long it took is a debug event (the benchmarks read it). */
function timedPut(cache: CacheUse, log: StageEnv["log"], step: Step, written: WrittenLayer | null): Promise<void> {
  const t0 = performance.now();
  return cache.store.put(step.key, written, { createdBy: createdBy(step.x), replaceBlob: step.replaceBlob }).then(() => {
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    log.debug(`cache: entry ${step.key.slice(0, 12)} written in ${ms.toFixed(1)}ms`, { event: "cache-put", key: step.key, ms });
  });
}

/** Errors of a step name its Dockerfile line. */
async function atLine<T>(ins: Instruction, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DockerfileError || !(e instanceof KilnError)) throw e;
    const msg = `${ins.file}:${ins.line}: ${e.message}`;
    throw e instanceof CommandFailedError ? new CommandFailedError(msg, e.commandExitCode) : new KilnError(msg, e.exitCode);
  }
}
