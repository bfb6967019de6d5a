// Where a stage starts: its base image (or the stage it is built on), the variable scope and
// config it inherits, the base cache key (with the layer-shaping flags), and the base image's
// ONBUILD triggers, which run first and are not inherited.
import { cloneJson } from "../util/clone.ts";
import { formatPlatform, ociPlatform, parseTriggers, StageScope, type Instruction, type PlannedStage } from "../dockerfile/index.ts";
import { baseKey } from "../cache/index.ts";
import type { Image } from "../image/index.ts";
import { DockerfileError, KilnError } from "../util/errors.ts";
import type { ConfigState } from "./config.ts";
import type { StageEnv } from "./stage-types.ts";
import { layerShapingFlags } from "./step-plan.ts";

export interface StageStart {
  base: Image;
  scope: StageScope;
  /** The config the stage's instructions start from (OnBuild already cleared). */
  state: ConfigState;
  baseKey: string;
  /** Registry repositories holding the base's blobs. */
  sources: string[];
  /** The base image's ONBUILD triggers, parsed: they run before the stage's own instructions. */
  triggers: Instruction[];
}

export async function startStage(env: StageEnv, stage: PlannedStage): Promise<StageStart> {
  const { plan, results, images } = env;
  let base: Image;
  let scope: StageScope;
  let key: string;
  const sources: string[] = [];
  if (stage.baseStage !== undefined) {
    const parent = results.get(stage.baseStage);
    if (!parent) throw new KilnError(`stage ${stage.index} is built on stage ${stage.baseStage}, which was not built`);
    base = parent.image;
    sources.push(...parent.sources);
    key = baseKey({ parentStageKey: parent.key });
    scope = new StageScope(plan, stage, parent.scope);
  } else {
    // FROM --platform decides what this stage pulls; otherwise the build's target platform.
    const platform = stage.platform ?? plan.targetPlatform;
    const resolved = await images.resolve(stage.scratch ? "scratch" : stage.base, stage.platform ? ociPlatform(stage.platform) : undefined).catch((e: Error) => {
      throw new DockerfileError(e.message, stage.from.line, plan.file);
    });
    base = resolved.image;
    if (resolved.ref) sources.push(resolved.ref.context());
    const shaping = layerShapingFlags(env.opts);
    // A scratch stage has no manifest digest to tell platforms apart: its key names the platform,
    // so amd64 and arm64 scratch stages never share a RUN layer.
    key = stage.scratch ? baseKey({ scratch: true }, { ...shaping, platform: formatPlatform(platform) }) : baseKey({ manifestDigest: base.manifestDigest }, shaping);
    const c = base.config.config ?? {};
    scope = new StageScope(plan, stage, { env: c.Env ? [...c.Env] : [], shell: c.Shell ? [...c.Shell] : undefined, workdir: c.WorkingDir });
  }
  const config = cloneJson(base.config.config ?? {});
  // An image without Env gets the scope's (PATH at least), as docker build does.
  const state: ConfigState = { config, author: base.config.author, cmdSetHere: false, envSet: !config.Env || config.Env.length === 0 };
  const onbuild = config.OnBuild ?? [];
  if (onbuild.length > 0) config.OnBuild = null;
  const triggers = onbuild.length > 0 ? parseTriggers([...onbuild], `ONBUILD trigger of ${stage.base}`) : [];
  return { base, scope, state, baseKey: key, sources, triggers };
}
