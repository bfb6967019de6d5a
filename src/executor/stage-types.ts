// The shapes shared by the stage's parts (planner, rootfs, instructions, image assembly, loop)
// and the build driver (index.ts). Types only, so no part imports another through this file.
import type { BuildPlan, StageScope } from "../dockerfile/index.ts";
import type { CacheStore } from "../cache/index.ts";
import type { CacheMountSync } from "../cache/mount-store.ts";
import type { EarlyPush } from "../registry/early-push.ts";
import type { Image } from "../image/index.ts";
import type { Logger } from "../util/log.ts";
import type { BuildContext } from "./context.ts";
import type { ImageResolver } from "./images.ts";
import type { BuildOptions } from "./options.ts";
import type { Workspace } from "./workspace.ts";

/** What a finished stage leaves for later stages and for the output. */
export interface StageResult {
  image: Image;
  scope: StageScope;
  /** The stage's filesystem with real file contents, when it was unpacked (COPY --from reads it). */
  rootfs?: string;
  /** Registry repositories holding some of its blobs (for mounts on push). */
  sources: string[];
  /** Cache key of the stage's last filesystem step (FROM <stage> chains from it). */
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
  /** --cache-run-mounts: cache-mount directories fetched from and stored in the same repository. */
  mounts?: CacheMountSync;
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
  /** Time used for `created` (the epoch with --reproducible). */
  now: Date;
  cache?: CacheUse;
  report: StepReport[];
  /** In-container mode: the target stage builds in "/", sparing these paths. */
  inContainer?: { stage: number; ignore: string[] };
  /** The final image's layers go to the destinations as they are ready (registry/early-push.ts). */
  early?: EarlyPush;
}
