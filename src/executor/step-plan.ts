// The stage planner: before a stage touches its filesystem, expand every instruction, follow
// the config it builds up, compute each filesystem step's cache key from what that step reads
// (docs/cache.md), and the RUN environment once for both the key and the runner. Pure apart
// from `describe` (reading COPY sources), so it is unit-tested with an in-memory store.
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { afterLinkKey, FS_KINDS, linkKey, stepKey, type CacheHit, type LayerShaping, type SourceEntry } from "../cache/index.ts";
import type { Expanded, ExpandedCopy, ExpandedRun, IgnoreMatcher, Instruction, StageScope } from "../dockerfile/index.ts";
import { applyMetadata, cloneConfigState, type ConfigState } from "./config.ts";
import { parseChmod } from "./copy/chmod.ts";
import { fromSourceName } from "./copy/sources.ts";
import { KilnError } from "../util/errors.ts";
import type { CopySpec } from "./copy/types.ts";
import type { BuildOptions } from "./options.ts";

/** A step after expansion, with what it reads of the config and its cache key. */
export interface Step {
  ins: Instruction;
  x: Expanded;
  /** USER and WORKDIR as the step starts (RUN runs with them, COPY and WORKDIR read them). */
  user?: string;
  workdir?: string;
  /** RUN: the process environment, x.env plus the proxy variables. The key takes x.env only. */
  runEnv?: string[];
  /**
   * Filesystem steps: the cache key (for COPY --link, one that does not chain on the steps below:
   * linkKey). Other steps: the chain's key so far (they have none of their own).
   */
  key: string;
  /** RUN, COPY, ADD, WORKDIR and VOLUME may change the filesystem: only these are looked up. */
  fsStep: boolean;
  /** Whether the cache may store/serve this step (--cache-*-layers, unpinned URLs). */
  cacheable: boolean;
  /** ADD of git sources with the cache on: the commit each source's key holds (the copy must take that one). */
  gitCommits?: Record<string, string>;
  hit?: CacheHit;
  /** Its cached layer failed to unpack: the step's new entry replaces the stored blob too. */
  replaceBlob?: boolean;
}

/**
 * What a COPY/ADD reads, for its key: the context files, the digest of the files it reads in
 * --from=<stage>, or an image's digest; `unknown` when it cannot be known now (`kiln plan` builds no stage to read).
 */
export type DescribeCopy = (x: ExpandedCopy, workdir: string | undefined) => Promise<{ sources?: SourceEntry[]; fromFiles?: string; fromImageDigest?: string; unknown?: boolean }>;

/**
 * What a RUN reads besides its command and environment, for its key: the final keys of the
 * stages and the digests of the images its --mount from= names, and the context files its
 * context bind mounts show (src/executor/run-mounts.ts). Never a secret's value.
 */
export type DescribeRun = (x: ExpandedRun) => Promise<{ sources?: SourceEntry[]; mountFrom?: string[] }>;

export interface PlanInput {
  scope: StageScope;
  instructions: readonly Instruction[];
  /** The config the stage starts from (not changed: the planner works on its own copy). */
  start: ConfigState;
  /** The stage's base key (baseKey with layerShapingFlags). */
  baseKey: string;
  /** layerShapingFlags: COPY --link keys hold them without the base key. */
  layers: LayerShaping;
  /** Set when the cache is on: keys are computed only then. */
  cache?: { runLayers: boolean; copyLayers: boolean };
  describe: DescribeCopy;
  describeRun?: DescribeRun;
  /** Runs f, naming the instruction's line in its errors. */
  atLine<T>(ins: Instruction, f: () => Promise<T>): Promise<T>;
}

export interface StagePlan {
  steps: Step[];
  /** The config after the whole stage (metadata applies whether steps hit or not). */
  config: ConfigState;
  /** The key of the stage's last filesystem step (the base key when it has none). */
  key: string;
}

export async function planSteps(p: PlanInput): Promise<StagePlan> {
  const state = cloneConfigState(p.start);
  const steps: Step[] = [];
  let key = p.baseKey;
  for (const ins of p.instructions) {
    const x = p.scope.expand(ins);
    const fsStep = FS_KINDS.has(x.kind);
    const user = state.config.User || undefined;
    const workdir = state.config.WorkingDir || undefined;
    const runEnv = x.kind === "run" ? [...x.env, ...Object.entries(x.proxyEnv).map(([k, v]) => `${k}=${v}`)] : undefined;
    let cacheable = !!p.cache && fsStep && (x.kind === "run" ? p.cache.runLayers : x.kind === "copy" || x.kind === "add" ? p.cache.copyLayers : true);
    if (x.kind === "copy" || x.kind === "add") await p.atLine(ins, async () => checkCopyFlags(x));
    let stepKeyOf = key;
    let gitCommits: Record<string, string> | undefined;
    if (p.cache && fsStep) {
      const read: Awaited<ReturnType<DescribeCopy>> & { mountFrom?: string[] } = x.kind === "copy" || x.kind === "add"
        ? await p.atLine(ins, () => p.describe(x, workdir))
        : x.kind === "run" && p.describeRun ? await p.atLine(ins, () => p.describeRun!(x)) : {};
      // A URL fetched without --checksum can change under us: nothing after it may hit.
      for (const g of read.sources ?? []) if (g.type === "git" && g.digest) (gitCommits ??= {})[g.path] = g.digest.replace(/^git:/, "");
      const volatile = read.unknown || read.sources?.some((s) => s.type === "url" && !s.digest);
      if (volatile) {
        cacheable = false;
        key = randomBytes(32).toString("hex");
      }
      const input = { instruction: x, env: x.kind === "run" ? x.env : undefined, config: { user, workdir }, sources: read.sources, fromFiles: read.fromFiles, fromImageDigest: read.fromImageDigest, mountFrom: read.mountFrom };
      if ((x.kind === "copy" || x.kind === "add") && x.link) {
        // The layer is looked up by what it holds alone; the steps after it still chain on the
        // steps below it too (a new base must still invalidate a later RUN).
        stepKeyOf = volatile ? randomBytes(32).toString("hex") : linkKey(input, p.layers);
        key = afterLinkKey(key, stepKeyOf);
      } else stepKeyOf = key = stepKey({ parent: key, ...input });
    }
    applyMetadata(state, x);
    steps.push({ ins, x, user, workdir, runEnv, key: fsStep ? stepKeyOf : key, fsStep, cacheable, gitCommits });
  }
  if (state.envSet) state.config.Env = p.scope.env();
  return { steps, config: state, key };
}

/**
 * Every build option that changes the bytes of a layer, folded into each stage's base key
 * (docs/cache.md lists what is in and out, and why): a cached layer is never handed to a build
 * that would have written it differently.
 */
export function layerShapingFlags(opts: BuildOptions): LayerShaping {
  const ignore = [...new Set(opts.ignorePaths.map((p) => posix.resolve("/", p)))].sort();
  return {
    compression: opts.compression,
    compressionLevel: opts.compressionLevel,
    ignorePaths: ignore.length > 0 ? ignore : undefined,
    reproducible: opts.reproducible ? sourceDateEpoch() : undefined,
    ignoreVarRun: opts.ignoreVarRun === false ? false : undefined,
    // No snapshotMode: walk and overlay write the same layers (tests/fs/snapshot-modes*.test.ts).
  };
}

/** The time --reproducible layers carry: SOURCE_DATE_EPOCH, else 0. */
export function sourceDateEpoch(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  return s && /^\d+$/.test(s) ? Number(s) : 0;
}

/**
 * Flag values COPY/ADD can refuse before anything runs (and before a cache hit could skip the
 * copy): --chmod must parse; --link with --chown by name is refused as BuildKit does
 * (moby/buildkit#7134): the layer is built on an empty filesystem, which has no /etc/passwd.
 */
function checkCopyFlags(x: ExpandedCopy): void {
  if (x.chmod !== undefined && x.chmod !== "") parseChmod(x.chmod);
  if (x.link && x.chown) {
    const named = x.chown.split(":").find((p) => p !== "" && !/^\d+$/.test(p) && p !== "root");
    if (named !== undefined) throw new KilnError(`--chown=${x.chown} with --link: "${named}" is a name, and a --link layer is built without the image's /etc/passwd and /etc/group; use numeric ids (--chown=1000:1000)`);
  }
}

/** The COPY/ADD request for an expanded instruction. */
export function copySpec(x: ExpandedCopy, rootfs: string, sourceRoot: string, ignore: IgnoreMatcher | undefined, workdir: string | undefined): CopySpec {
  return {
    rootfs,
    sourceRoot,
    ignore,
    sources: x.sources,
    heredocs: x.heredocSources.map((h) => ({ name: h.name, content: h.data })),
    dest: x.dest,
    workdir: workdir || "/",
    chown: x.chown,
    chmod: x.chmod,
    isAdd: x.kind === "add",
    checksum: x.checksum,
    keepGitDir: x.keepGitDir,
    exclude: x.exclude,
    parents: x.parents,
    // Files from another stage or image keep their owners; context files become 0:0.
    preserveOwner: !!x.fromRef,
    sourceName: x.from !== undefined && x.fromRef ? fromSourceName(x.from, x.fromRef) : undefined,
  };
}
