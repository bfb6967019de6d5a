// The stage's use of the layer cache around the loop: probe every key at once and keep the
// run of hits from the start, drop hits whose layer blob is gone, turn a hit whose layer
// failed to unpack into a miss, decide when the rootfs may be a contents-free skeleton, and
// what a COPY --from=<stage> reads without unpacking a fully cached stage (alias entries).
import { existsSync } from "node:fs";
import { copyFromAlias, filesDigest, type SourceEntry } from "../cache/index.ts";
import type { ExpandedCopy } from "../dockerfile/index.ts";
import { mapLimit } from "../registry/limit.ts";
import type { CacheUse, StageResult } from "./stage-types.ts";
import type { BuildOptions } from "./options.ts";
import type { Step } from "./step-plan.ts";

/** Look up every cacheable filesystem step at once; keep the longest run of hits whose layers exist, and later --link hits. */
export async function probeSteps(cache: CacheUse | undefined, steps: readonly Step[], warn: (m: string) => void): Promise<void> {
  if (!cache) return;
  const lookups = steps.filter((s) => s.fsStep && s.cacheable);
  const hits = await cache.store.probe(lookups.map((s) => s.key));
  const byStep = new Map(lookups.map((s, i) => [s, hits[i]]));
  // Hits form a prefix (every key after a miss chains from a key that was never stored), except
  // COPY/ADD --link, whose key does not chain: its hit after a miss is applied onto the rootfs.
  const prefix: Step[] = [];
  let missed = false;
  for (const s of steps) {
    if (!s.fsStep) continue;
    const hit = byStep.get(s);
    if (!hit) missed = true;
    else if (!missed) prefix.push(s);
    else if (!isLink(s)) continue;
    if (hit) s.hit = hit;
  }
  // A --link hit after a miss whose blob is gone is just a miss.
  const late = steps.filter((s) => s.hit && !prefix.includes(s));
  const lateThere = await mapLimit(late, 8, (s) => hasLayer(cache, s));
  late.forEach((s, i) => {
    if (!lateThere[i]) s.hit = undefined;
  });
  // A hit whose blob is gone would fail the push (or the unpack): it is a miss, and so is all after it.
  const present = await mapLimit(prefix, 8, (s) => hasLayer(cache, s));
  const gone = present.indexOf(false);
  if (gone >= 0) {
    warn(`the layer of cached step "${prefix[gone]!.ins.original}" (${prefix[gone]!.key.slice(0, 12)}) is gone from ${cache.store.describe()}; running the step again`);
    demoteFrom(steps, prefix[gone]!);
  }
}

const isLink = (s: Step) => (s.x.kind === "copy" || s.x.kind === "add") && s.x.link;

async function hasLayer(cache: CacheUse, s: Step): Promise<boolean> {
  if (cache.store.hasLayer) return await cache.store.hasLayer(s.hit!);
  const path = cache.store.layerOf(s.hit!)?.path;
  if (!path) return true;
  return existsSync(path);
}

/** `from` and every later step are misses (their entries get overwritten when they run). */
export function demoteFrom(steps: readonly Step[], from: Step): void {
  for (let i = steps.indexOf(from); i >= 0 && i < steps.length; i++) steps[i]!.hit = undefined;
}

/**
 * Whether the steps left to run only add files and directories (COPY, WORKDIR, VOLUME): they
 * need the tree, its metadata and /etc/passwd, never other file contents, so the rootfs can be
 * a skeleton (the cached layers' big files are not written out). Not for ADD (an archive may
 * hard-link to a file already in the rootfs), in-container mode, nor --single-snapshot or the
 * overlay snapshotter (a whole-rootfs diff).
 */
export function onlyAddsFiles(steps: readonly Step[], opts: BuildOptions, inContainerStage: boolean): boolean {
  const todo = steps.filter((s) => !s.hit && s.fsStep);
  return todo.length > 0 && !inContainerStage && !opts.singleSnapshot && opts.snapshotMode !== "overlay" &&
    todo.every((s) => s.x.kind === "copy" || s.x.kind === "workdir" || s.x.kind === "volume");
}

const ALIAS_PREFIX = "kiln: COPY --from files ";

/**
 * The filesDigest a COPY --from=<stage> reads (its key input). When the stage's files are not on
 * disk (it was fully cached, or is a skeleton), the alias entry an earlier build wrote says it,
 * so the stage is not unpacked just for a key; otherwise the files are read (`read`) and the
 * alias is written. Undefined when it cannot be known without building (`kiln plan`).
 */
export async function copyFromFiles(cache: CacheUse, from: StageResult, x: ExpandedCopy, workdir: string | undefined, read: () => Promise<SourceEntry[]>, dryRun: boolean): Promise<string | undefined> {
  const alias = copyFromAlias(from.key, x, workdir);
  if (!from.rootfs) {
    const [hit] = await cache.store.probe([alias]);
    if (hit?.createdBy.startsWith(ALIAS_PREFIX)) return hit.createdBy.slice(ALIAS_PREFIX.length);
    if (dryRun) return undefined;
  }
  const digest = filesDigest(await read());
  cache.pending.push(cache.store.put(alias, null, { createdBy: ALIAS_PREFIX + digest }));
  return digest;
}
