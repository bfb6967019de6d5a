// Which repositories a build will write (its destinations, and the cache repo when the cache is
// written), checked for push access before anything is pulled (kaniko's push-permission check).
import { inferCacheRepo, isLayoutSpec } from "../cache/index.ts";
import { parseRepository, type Reference } from "../image/reference.ts";
import { checkPushPermissions, type RegistryClient } from "../registry/index.ts";
import type { Logger } from "../util/log.ts";
import type { BuildOptions } from "./options.ts";
import { parseDestinations } from "./outputs.ts";

/** The registry repositories this build pushes to (`cacheGiven`: the cache store was handed in, not opened from flags). */
export function pushTargets(opts: BuildOptions, cacheGiven = false): Reference[] {
  const out = opts.noPush ? [] : parseDestinations(opts);
  if (opts.cache && !opts.noPushCache && !opts.singleSnapshot && !cacheGiven) {
    const spec = inferCacheRepo(opts.cacheRepo, opts.destinations);
    if (!isLayoutSpec(spec)) out.push(parseRepository(spec));
  }
  return out;
}

/** Fail fast on a bad or missing credential, unless --skip-push-permission-check (or `kiln plan`). */
export async function checkBuildPushAccess(opts: BuildOptions, client: RegistryClient, log: Logger, cacheGiven = false): Promise<void> {
  if (opts.skipPushPermissionCheck || opts.dryRun) return;
  const targets = pushTargets(opts, cacheGiven);
  if (!targets.length) return;
  await checkPushPermissions(client, targets);
  log.debug(`push access checked: ${targets.map((t) => t.context()).join(", ")}`);
}
