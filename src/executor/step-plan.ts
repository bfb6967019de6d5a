// Before a stage touches its filesystem: expand every instruction, follow the config it builds
// up, and compute each step's cache key (COPY keys need only the context). Then probe the cache
// for all keys at once. A fully cached stage is thus never unpacked.
import { randomBytes } from "node:crypto";
import { stepKey, type CacheHit } from "../cache/index.ts";
import type { Expanded, ExpandedCopy, IgnoreMatcher, Instruction, StageScope } from "../dockerfile/index.ts";
import { KilnError } from "../util/errors.ts";
import { applyMetadata, type ConfigState } from "./config.ts";
import type { BuildContext } from "./context.ts";
import { describeSources } from "./copy/index.ts";
import type { CopySpec, SourceEntry } from "./copy/types.ts";
import type { ImageResolver } from "./images.ts";
import { runKeyInputs } from "./run-mounts.ts";
import type { CacheUse, StageResult } from "./stage.ts";

/** A step after expansion, with the config it sees and its cache key. */
export interface Step {
  ins: Instruction;
  x: Expanded;
  /** Config before the step (RUN's user and cwd come from here). */
  before: ConfigState;
  key: string;
  /** RUN, COPY, ADD, WORKDIR and VOLUME may change the filesystem: only these are looked up. */
  fsStep: boolean;
  /** Whether the cache may store/serve this step (flags, unpinned URLs). */
  cacheable: boolean;
  hit?: CacheHit;
}

export interface PlanContext {
  scope: StageScope;
  baseKey: string;
  cache?: CacheUse;
  results: Map<number, StageResult>;
  images: ImageResolver;
  ctx: BuildContext;
  /** Runs f, naming the instruction's line in its errors. */
  atLine<T>(ins: Instruction, f: () => Promise<T>): Promise<T>;
}

const FS_KINDS = new Set<Expanded["kind"]>(["run", "copy", "add", "workdir", "volume"]);

export async function planSteps(pc: PlanContext, instructions: Instruction[], start: ConfigState): Promise<{ steps: Step[]; after: Map<Step, ConfigState>; state: ConfigState }> {
  const { cache } = pc;
  const steps: Step[] = [];
  const after = new Map<Step, ConfigState>();
  let state = start;
  let key = pc.baseKey;
  for (const ins of instructions) {
    const before = state;
    const x = pc.scope.expand(ins);
    const fsStep = FS_KINDS.has(x.kind);
    let cacheable = !!cache && (x.kind === "run" ? cache.runLayers : x.kind === "copy" || x.kind === "add" ? cache.copyLayers : true);
    if (cache) {
      const extra = await pc.atLine(ins, () => keyInputs(pc, x, before));
      // A URL fetched without --checksum can change under us: nothing after it may hit.
      if (extra.unpinned) {
        cacheable = false;
        key = randomBytes(32).toString("hex");
      }
      key = stepKey({
        parent: key,
        instruction: x,
        env: x.kind === "run" ? [...x.env, ...Object.entries(x.proxyEnv).map(([k, v]) => `${k}=${v}`)] : undefined,
        config: { user: before.config.User, workdir: before.config.WorkingDir, shell: before.config.Shell },
        sources: extra.sources,
        fromStageKey: extra.fromStageKey,
        fromImageDigest: extra.fromImageDigest,
        mountFrom: extra.mountFrom,
      });
    }
    const step: Step = { ins, x, before, key, fsStep, cacheable };
    if (!fsStep || x.kind === "workdir" || x.kind === "volume") {
      state = applyMetadata(state, x, pc.scope.env());
      after.set(step, state);
    }
    steps.push(step);
  }
  return { steps, after, state };
}

async function keyInputs(pc: PlanContext, x: Expanded, state: ConfigState): Promise<{ sources?: SourceEntry[]; fromStageKey?: string; fromImageDigest?: string; mountFrom?: string[]; unpinned?: boolean }> {
  if (x.kind === "run") return runKeyInputs(x, pc);
  if (x.kind !== "copy" && x.kind !== "add") return {};
  if (x.fromRef && "stage" in x.fromRef) {
    const r = pc.results.get(x.fromRef.stage);
    if (!r) throw new KilnError(`COPY --from: stage ${x.fromRef.stage} was not built`);
    return { fromStageKey: r.key };
  }
  if (x.fromRef && "image" in x.fromRef) {
    const { image } = await pc.images.resolve(x.fromRef.image);
    return { fromImageDigest: image.manifestDigest };
  }
  const sources = await describeSources(copySpec(x, "", pc.ctx.dir, pc.ctx.ignore, state.config.WorkingDir));
  return { sources, unpinned: sources.some((s) => s.type === "url" && !s.digest) };
}

/** Look up every cacheable filesystem step at once; keep the longest run of hits. */
export async function probeSteps(cache: CacheUse | undefined, steps: Step[]): Promise<void> {
  if (!cache) return;
  const lookups = steps.filter((s) => s.fsStep && s.cacheable);
  const hits = await cache.store.probe(lookups.map((s) => s.key));
  const byStep = new Map(lookups.map((s, i) => [s, hits[i]]));
  // Hits always form a prefix: every key after a miss chains from a key that was never stored.
  for (const s of steps) {
    if (!s.fsStep) continue;
    const hit = byStep.get(s);
    if (!hit) break;
    s.hit = hit;
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
    exclude: x.exclude,
    parents: x.parents,
    // Files from another stage or image keep their owners; context files become 0:0.
    preserveOwner: !!x.fromRef,
  };
}
