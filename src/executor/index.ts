// `kiln build`: context → Dockerfile → plan → stages → outputs. Everything the build writes
// lives in one workspace that is removed at the end, on failure and on Ctrl-C.
import { cloneJson } from "../util/clone.ts";
import { parseDockerfile, planBuild, type BuildPlan, type PlatformSpec } from "../dockerfile/index.ts";
import { ociPlatform } from "../dockerfile/platform.ts";
import { withFormat, canonicalize, type Image } from "../image/index.ts";
import type { BuiltIndex } from "../image/index-manifest.ts";
import type { ImageConfig } from "../image/types.ts";
import { withConfig } from "../image/mutate.ts";
import { RegistryClient } from "../registry/index.ts";
import { interrupted, interruptExitCode } from "../util/cleanup.ts";
import { KilnError } from "../util/errors.ts";
import { humanSize, Logger, redactError, secretBuildArgValues } from "../util/log.ts";
import { openContext } from "./context.ts";
import { ImageResolver } from "./images.ts";
import type { BuildOptions } from "./options.ts";
import { parseDestinations, writeOutputs } from "./outputs.ts";
import { EarlyPush } from "../registry/early-push.ts";
import { StageBuilder } from "./stage.ts";
import type { CacheUse, StageResult, StepReport } from "./stage-types.ts";
import { inferCacheRepo, openCacheStore, type CacheStore } from "../cache/index.ts";
import { openCacheMounts } from "../cache/mount-store.ts";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isCompiled } from "../runtime/index.ts";
import { createWorkspace, type Workspace } from "./workspace.ts";
import type { BuildContext } from "./context.ts";
import { buildMultiPlatform, buildTargets } from "./multi-platform.ts";
import { checkBuildPushAccess } from "./push-check.ts";
import { directiveWarnings } from "./directives.ts";
import { cacheMountRoot } from "./run-mounts.ts";
import { checkRootFlag, inContainerIgnores } from "./in-container.ts";
import { holdRunHelpers } from "../run/index.ts";
import { buildPhases, describePhases, sinceStart } from "../util/timing.ts";

export interface BuildResult {
  image: Image;
  digest: string;
  /** One row per filesystem step (cache hit or miss); a multi-platform build's rows name their platform. */
  report: StepReport[];
  /** A multi-platform build: the index pushed (digest is its digest; image its first child). */
  index?: BuiltIndex;
}

/** What a caller may hand the build instead of opening it from the options (tests: an in-memory cache). */
export interface BuildDeps {
  cacheStore?: CacheStore;
}

export async function build(opts: BuildOptions, logger = new Logger(opts.verbosity, opts.logFormat), deps: BuildDeps = {}): Promise<BuildResult> {
  const releaseRunHelpers = holdRunHelpers();
  try {
    return await buildUnredacted(opts, logger, deps);
  } catch (e) {
    // Errors are printed by the CLI, not the logger: mask secret build args there too.
    throw redactError(e, secretBuildArgValues(opts.buildArgs));
  } finally {
    releaseRunHelpers();
  }
}

async function buildUnredacted(opts: BuildOptions, logger: Logger, deps: BuildDeps): Promise<BuildResult> {
  const t0 = performance.now();
  buildPhases.take();
  buildPhases.add("start-up", sinceStart());
  const log = logger.withSecrets(secretBuildArgValues(opts.buildArgs));
  parseDestinations(opts); // bad references fail before any work
  checkRootFlag(opts.root, opts.force);
  const targets = buildTargets(opts);
  if (targets.multi) return await buildMultiPlatform(opts, log, deps, targets.platforms, t0);
  const session = await buildPhases.time("open", () => openBuild(opts, log, deps, [targets.platforms[0]]));
  const early = earlyPush(session);
  try {
    const built = await buildPlatformImage(session, 0, log, early);
    const report = built.report;
    if (opts.dryRun) return { image: built.image, digest: "", report };
    const image = built.image;
    await buildPhases.time("outputs", () => writeOutputs(image, opts, session.client, log, built.mountFrom, early));
    await buildPhases.time("cache-wait", () => Promise.all(session.cache?.pending ?? []));
    reportCache(session, report, log);
    logBuildPhases(log);
    const size = image.layers.reduce((n, l) => n + l.size, 0);
    log.info(`built ${image.manifestDigest} (${image.layers.length} layers, ${humanSize(size)}) in ${((performance.now() - t0) / 1000).toFixed(2)}s`, {
      event: "built", digest: image.manifestDigest, layers: image.layers.length, size,
    });
    return { image, digest: image.manifestDigest, report };
  } finally {
    // Both read layer files from the workspace; neither ever rejects.
    await Promise.all([...(session.cache?.pending ?? []), early?.settle()]);
    session.ws.dispose();
  }
}

/** A single-platform build that pushes sends its layers while it runs (not with --dry-run). */
function earlyPush(session: BuildSession): EarlyPush | undefined {
  const { opts, cache } = session;
  const dests = opts.noPush || opts.dryRun ? [] : parseDestinations(opts);
  if (dests.length === 0) return undefined;
  const repo = cache?.store.repository;
  return new EarlyPush(session.client, dests, () => (repo ? [repo] : []));
}

/** What every platform of one build shares: workspace, context, registry client, cache, and one plan per platform. */
export interface BuildSession {
  opts: BuildOptions;
  ws: Workspace;
  ctx: BuildContext;
  client: RegistryClient;
  cache?: CacheUse;
  /** One plan per platform, in the order asked for (undefined platform: the host's / --custom-platform). */
  plans: BuildPlan[];
  /** Bases must be of the platform asked for (a platform was given on the command line). */
  strict: boolean;
  now: Date;
}

/**
 * Open the context, parse and plan the Dockerfile for each platform, check push access and open
 * the cache. The workspace is removed here on failure, by the caller (ws.dispose) otherwise.
 */
export async function openBuild(opts: BuildOptions, log: Logger, deps: BuildDeps, platforms: (PlatformSpec | undefined)[]): Promise<BuildSession> {
  const ws = createWorkspace(workspaceParent(opts), opts.cacheDir ? join(opts.cacheDir, "blobs") : undefined);
  try {
    const ctx = await openContext({ context: opts.context, contextSubPath: opts.contextSubPath, dockerfile: opts.dockerfile, workDir: ws.subdir("context"), git: opts.git });
    const ast = parseDockerfile(ctx.dockerfileText, ctx.dockerfileName);
    for (const w of directiveWarnings(ast.directives, ctx.dockerfileName)) log.warn(w);
    const plans = platforms.map((platform) => planBuild(ast, { buildArgs: opts.buildArgs, target: opts.target, platform, skipUnusedStages: opts.skipUnusedStages }));
    const client = new RegistryClient({
      insecureRegistries: opts.insecureRegistries,
      skipTlsVerify: opts.skipTlsVerify,
      skipTlsVerifyRegistries: opts.skipTlsVerifyRegistries,
      registryCertificates: opts.registryCertificates,
      registryClientCerts: opts.registryClientCerts,
      registryMirrors: opts.registryMirrors,
      registryMaps: opts.registryMaps,
      skipDefaultRegistryFallback: opts.skipDefaultRegistryFallback,
      insecurePull: opts.insecurePull,
      skipTlsVerifyPull: opts.skipTlsVerifyPull,
      imageDownloadRetry: opts.imageDownloadRetry,
      pushRetry: opts.pushRetry,
      pushIgnoreImmutableTagErrors: opts.pushIgnoreImmutableTagErrors,
      log: log.enabled("debug") ? (l) => log.debug(l) : undefined,
      warn: (l) => log.warn(l),
    });
    await checkBuildPushAccess(opts, client, log, !!deps.cacheStore); // before any pull: a bad credential fails in seconds
    if (opts.cache && opts.singleSnapshot) log.warn("--cache is not used with --single-snapshot (there are no per-step layers to cache)");
    const cache = opts.cache && !opts.singleSnapshot ? openCache(opts, client, log, deps.cacheStore) : undefined;
    return { opts, ws, ctx, client, cache, plans, strict: platforms.some((p) => p !== undefined), now: new Date() };
  } catch (e) {
    ws.dispose();
    throw e;
  }
}

/** The cache summary line and --cache-report, after the outputs are written. */
export function reportCache(session: BuildSession, report: readonly StepReport[], log: Logger): void {
  const { cache, opts } = session;
  if (cache) {
    const hits = report.filter((r) => r.hit).length;
    log.info(`cache: ${hits} of ${report.length} steps were hits (${cache.store.describe()})`, { event: "cache-summary", hits, steps: report.length });
  }
  if (opts.cacheReport) writeFileSync(opts.cacheReport, JSON.stringify(report, null, 2) + "\n");
}

export interface PlatformImage {
  /** The finished image (labels, format, --reproducible applied), or the raw target stage with --dry-run. */
  image: Image;
  report: StepReport[];
  /** Repositories to mount its blobs from on push (the cache repo first). */
  mountFrom: string[];
}

/** Build plan `i` of the session into an image, without writing any output. */
export async function buildPlatformImage(session: BuildSession, i: number, log: Logger, early?: EarlyPush): Promise<PlatformImage> {
  const { opts, ws, ctx } = session;
  const plan = session.plans[i]!;
  const tp = plan.targetPlatform;
  // RUN cache mounts kept in the cache repository are per platform (--cache-run-mounts); the
  // layer cache and its pending writes are shared by every platform of the build.
  const cache: CacheUse | undefined = session.cache && {
    ...session.cache,
    mounts: openCacheMounts(opts, session.cache.store, { platform: ociPlatform(tp), workDir: join(ws.dir, `cache-mounts-${i}`), log }),
  };
  const images = new ImageResolver(session.client, ociPlatform(tp), session.strict);
  // Fetch every stage's base manifest and config at once, before the stages need them.
  for (const i of plan.order) {
    const st = plan.stages[i]!;
    if (st.baseStage === undefined && !st.scratch) images.resolve(st.base, st.platform ? ociPlatform(st.platform) : undefined).catch(() => {}); // the stage reports errors
  }
  const results = new Map<number, StageResult>();
  const now = session.now;
  const report: StepReport[] = [];
  const inContainer = opts.root === "/" ? { stage: plan.target, ignore: [...inContainerIgnores({ workspace: ws.dir, context: ctx.dir, cacheDir: opts.cacheDir }), cacheMountRoot(opts)] } : undefined;
  if (inContainer) log.info(`in-container mode: building in /, leaving out ${inContainer.ignore.join(" ")}`, { event: "in-container", ignore: inContainer.ignore });
  let ok = false;
  try {
    const stagesStart = performance.now();
    for (const [i, index] of plan.order.entries()) {
      if (interrupted.aborted) throw new KilnError("interrupted", interruptExitCode() ?? 130);
      const builder = new StageBuilder({ opts, plan, ctx, ws, log, images, results, position: { index: i + 1, count: plan.order.length }, now, cache, report, inContainer, early: early && inTargetImage(plan, index) ? early : undefined }, index);
      results.set(index, await builder.build());
    }
    buildPhases.add("stages", performance.now() - stagesStart);
    if (cache?.mounts) cache.pending.push(cache.mounts.storeChanged()); // only after a successful build
    ok = true;
  } finally {
    // Cache writes never fail the build, but they must finish before we exit or push. With an
    // early push the caller waits, after the push: each layer's early push waited for its own write.
    if (cache && !(ok && early)) await buildPhases.time("cache-wait", () => Promise.all(cache.pending));
  }
  const final = results.get(plan.target)!;
  // The cache repo first: it holds every layer this build wrote (pushed there while it ran).
  const mountFrom = [...(cache?.store.repository ? [cache.store.repository.context()] : []), ...final.sources];
  if (opts.dryRun) return { image: final.image, report, mountFrom };
  return { image: finalize(final.image, opts), report, mountFrom };
}

/** Whether stage `index` is the target or one it is built on (FROM <stage>): its layers end up in the image. */
function inTargetImage(plan: BuildPlan, index: number): boolean {
  for (let s: number | undefined = plan.target; s !== undefined; s = plan.stages[s]!.baseStage) if (s === index) return true;
  return false;
}

/** Where the build's time went (-v debug; a "timing" event in JSON logs), for the benchmarks. */
function logBuildPhases(log: Logger): void {
  const phases = buildPhases.take();
  log.debug(`timing: ${describePhases(phases)}`, { event: "timing", phases });
}

/** --root DIR holds the build's files; in-container mode keeps them in kiln's own directory. */
function workspaceParent(opts: BuildOptions): string | undefined {
  if (opts.kanikoDir) return opts.kanikoDir;
  if (process.env.KILN_WORKDIR) return process.env.KILN_WORKDIR;
  if (opts.root === "/") return isCompiled() ? join(dirname(process.execPath), "workspace") : undefined;
  return opts.root;
}

function openCache(opts: BuildOptions, client: RegistryClient, log: Logger, given?: CacheStore): CacheUse {
  const store = given ?? openCacheStore(inferCacheRepo(opts.cacheRepo, opts.destinations), { client, ttlMs: opts.cacheTtlMs, readOnly: opts.noPushCache, warn: (m) => log.warn(`cache: ${m}`) });
  log.info(`cache: ${store.describe()}${opts.noPushCache ? " (read only)" : ""}`, { event: "cache", repo: store.describe() });
  return { store, runLayers: opts.cacheRunLayers, copyLayers: opts.cacheCopyLayers, pending: [] };
}

/** --label, output format and --reproducible apply to the final image only. */
function finalize(img: Image, opts: BuildOptions): Image {
  if (Object.keys(opts.labels).length > 0) {
    const cfg = cloneJson(img.config) as ImageConfig;
    cfg.config = { ...(cfg.config ?? {}), Labels: { ...(cfg.config?.Labels ?? {}), ...opts.labels } };
    img = withConfig(img, cfg);
  }
  img = withFormat(img, opts.imageFormat ?? img.format);
  if (opts.reproducible) img = canonicalize(img);
  return img;
}
