// Running one filesystem step on the stage's rootfs: RUN in a chroot, COPY/ADD, WORKDIR and
// VOLUME, each returning the layer it wrote (null: nothing changed, or --single-snapshot).
import type { ExpandedCopy, ExpandedRun, IgnoreMatcher } from "../dockerfile/index.ts";
import type { WrittenLayer } from "../fs/snapshot.ts";
import { resolveUser, runInRootfs } from "../run/index.ts";
import { interrupted } from "../util/cleanup.ts";
import { CommandFailedError, KilnError } from "../util/errors.ts";
import { rmSync } from "node:fs";
import { applyLinkedLayer, copyInto, copyLinked, type CopySpec } from "./copy/index.ts";
import type { Layer } from "../image/index.ts";
import { makeDirs, writeInlineFiles } from "./rootfs-ops.ts";
import { planRunMounts } from "./run-mounts.ts";
import type { CopySources, StageRootfs } from "./stage-rootfs.ts";
import type { StageEnv } from "./stage-types.ts";
import { copySpec, sourceDateEpoch, type Step } from "./step-plan.ts";
import { stepPhases } from "../util/timing.ts";

export interface ExecContext {
  env: StageEnv;
  /** The unpacked rootfs with its snapshotter (ensure() was called). */
  rootfs: StageRootfs;
  copyFrom: CopySources;
  /** "[stage i/n]", for log lines. */
  prefix: string;
  /** --single-snapshot: no layer per step. */
  single: boolean;
}

export async function executeStep(c: ExecContext, step: Step): Promise<WrittenLayer | null> {
  const x = step.x;
  switch (x.kind) {
    case "run":
      return await run(c, step, x);
    case "copy":
    case "add":
      return await copy(c, step, x);
    case "workdir":
      return await layerOf(c, makeDirs(c.rootfs.dir!, [x.path], step.user ? resolveUser(c.rootfs.dir!, step.user) : undefined));
    case "volume": {
      // As in buildah, kaniko and Docker's classic builder: later changes inside a volume are not kept.
      const layer = await layerOf(c, makeDirs(c.rootfs.dir!, x.paths));
      c.rootfs.addVolumes(x.paths);
      return layer;
    }
    default:
      throw new KilnError(`internal: ${x.kind} is not a filesystem step`);
  }
}

/** A layer of the paths a step created (WORKDIR, VOLUME, COPY). */
async function layerOf(c: ExecContext, paths: string[]): Promise<WrittenLayer | null> {
  return paths.length > 0 && !c.single ? await stepPhases.time("snapshot", () => c.rootfs.snap!.snapshotPaths(paths, c.env.ws.layers)) : null;
}

async function run(c: ExecContext, step: Step, x: ExpandedRun): Promise<WrittenLayer | null> {
  const { log, opts, ws } = c.env;
  const rootfs = c.rootfs.dir!;
  const cwd = step.workdir || "/";
  ensureWorkdir(rootfs, cwd);
  const planned = await planRunMounts(x, {
    contextDir: c.env.ctx.dir, ignore: c.env.ctx.ignore, cwd, opts, scratch: ws.dir, warn: (m) => log.warn(m), remote: c.env.cache?.mounts,
    rootOf: (r) => ("stage" in r ? c.copyFrom.stage(r.stage) : c.copyFrom.image(r.image)),
  });
  const { argv, cleanup } = writeInlineFiles(rootfs, x.files, x.argv);
  let res;
  const t0 = performance.now();
  try {
    res = await runInRootfs({
      rootfs, argv, env: step.runEnv!, cwd, user: step.user,
      onOutput: (chunk) => log.output(c.prefix, chunk),
      warn: (m) => log.warn(m),
      signal: interrupted,
      tmpDir: ws.dir,
      keepSync: opts.keepSync,
      mounts: planned.mounts,
      network: planned.network,
    });
    if (!res.syncSuppressed && !opts.keepSync) log.debug(`${c.prefix} fsync runs for real: ${res.syncReason ?? "no filter"}`);
  } finally {
    cleanup();
    planned.release();
    stepPhases.add("run", performance.now() - t0);
  }
  if (res.exitCode !== 0) {
    const shown = x.json ? JSON.stringify(x.args) : x.args.join(" ");
    // The build fails with 1, as kaniko and docker build do; the command's own code is in the message and the error.
    throw new CommandFailedError(`RUN ${shown}: the command returned a non-zero code: ${res.exitCode}`, res.exitCode);
  }
  return c.single ? null : await stepPhases.time("snapshot", () => c.rootfs.snap!.snapshot(ws.layers));
}

/**
 * RUN's working directory is created when missing, following symlinks inside the rootfs as
 * buildah does (a base image's WorkingDir may go through one); a failure says which and why.
 */
function ensureWorkdir(rootfs: string, cwd: string): void {
  try {
    makeDirs(rootfs, [cwd]);
  } catch (e) {
    throw new KilnError(`working directory ${cwd}: cannot create it inside the rootfs (following symlinks there): ${(e as Error).message}`);
  }
}

async function copy(c: ExecContext, step: Step, x: ExpandedCopy): Promise<WrittenLayer | null> {
  const rootfs = c.rootfs.dir!;
  let sourceRoot = c.env.ctx.dir;
  let ignore: IgnoreMatcher | undefined = c.env.ctx.ignore;
  if (x.fromRef) {
    ignore = undefined;
    sourceRoot = "stage" in x.fromRef ? await c.copyFrom.stage(x.fromRef.stage) : await c.copyFrom.image(x.fromRef.image);
  }
  // Only ADD downloads need a place to wait for their checksum; one directory per stage does.
  const tmpDir = x.kind === "add" ? c.rootfs.downloadsDir() : undefined;
  const spec = { ...copySpec(x, rootfs, sourceRoot, ignore, step.workdir), tmpDir, gitCommits: step.gitCommits };
  if (x.link) return await copyLink(c, spec);
  const result = await stepPhases.time("copy", () => copyInto(spec));
  return await layerOf(c, result.paths);
}

/** --link: the layer is built in an empty directory, then applied to the rootfs (copy/link.ts). */
async function copyLink(c: ExecContext, spec: CopySpec): Promise<WrittenLayer | null> {
  const { opts, ws } = c.env;
  const linked = await copyLinked(spec, {
    dir: ws.subdir("link"), layersDir: ws.layers, compression: opts.compression, level: opts.compressionLevel,
    reproducible: opts.reproducible ? { epoch: sourceDateEpoch() } : undefined,
  });
  if (!linked || c.single) return null; // --single-snapshot: the stage's one layer takes the files
  await rebaseline(c, linked.touched);
  return linked.layer;
}

/** A cached --link layer after a miss: applied to the rootfs as it is (the image reuses it by digest). */
export async function reuseLinkHit(c: ExecContext, layer: Layer): Promise<void> {
  await rebaseline(c, await applyLinkedLayer(c.rootfs.dir!, layer));
}

/** The stage snapshotter re-reads what a --link layer put in the rootfs, so no later layer repeats it. */
async function rebaseline(c: ExecContext, touched: string[]): Promise<void> {
  if (touched.length === 0) return;
  const seen = c.env.ws.subdir("link-seen");
  await c.rootfs.snap!.snapshotPaths(touched, seen);
  rmSync(seen, { recursive: true, force: true });
}
