// `kiln build --platform a,b,…`: every platform built from the same context and plan (each with
// its own TARGETPLATFORM and its bases' matching manifests), a bounded number at a time, then one
// image index pushed under each destination. Nothing is pushed unless every platform built.
import { cpus } from "node:os";
import type { PlatformSpec } from "../dockerfile/index.ts";
import { formatPlatform, platformSpec } from "../dockerfile/platform.ts";
import { parsePlatformList } from "../image/index-platforms.ts";
import { makeIndex } from "../image/index-manifest.ts";
import { parsePlatformFlag } from "../image/platform.ts";
import { UsageError } from "../util/errors.ts";
import { humanSize, type Logger } from "../util/log.ts";
import { buildPlatformImage, openBuild, reportCache, type BuildDeps, type BuildResult, type PlatformImage } from "./index.ts";
import type { BuildOptions } from "./options.ts";
import { writeIndexOutputs } from "./outputs.ts";

/** What one `kiln build` makes: one image (maybe for a given platform), or an index over several. */
export type BuildTargets = { multi: false; platforms: [PlatformSpec | undefined] } | { multi: true; platforms: PlatformSpec[] };

/** Read --platform / --custom-platform. One --platform value builds one image (not an index), as buildx does. */
export function buildTargets(opts: BuildOptions): BuildTargets {
  if (opts.platforms?.length) {
    if (opts.customPlatform) throw new UsageError("flag --platform: not with --custom-platform (--custom-platform is the single-platform spelling; use one of them)");
    const list = parsePlatformList(opts.platforms);
    if (list.length === 1) return { multi: false, platforms: [list[0]] };
    // --tar-path: one image per platform in the tarball (outputs.ts), tags suffixed with the platform.
    if (opts.root === "/") throw new UsageError("flag --platform: several platforms cannot be built in-container (--root /): build one platform per run");
    return { multi: true, platforms: list };
  }
  return { multi: false, platforms: [opts.customPlatform ? platformSpec(parsePlatformFlag("--custom-platform", opts.customPlatform, { build: true })) : undefined] };
}

/** Platforms built at once: KILN_PLATFORM_PARALLELISM, else min(2, cores) (each unpacks and snapshots a rootfs). */
export function platformConcurrency(count: number, env: Record<string, string | undefined> = process.env): number {
  const raw = env.KILN_PLATFORM_PARALLELISM;
  if (raw !== undefined && raw !== "") {
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`env KILN_PLATFORM_PARALLELISM: "${raw}": want a whole number of at least 1`);
    return Math.min(count, Number(raw));
  }
  return Math.max(1, Math.min(count, 2, cpus().length));
}

export async function buildMultiPlatform(opts: BuildOptions, log: Logger, deps: BuildDeps, platforms: PlatformSpec[], t0: number): Promise<BuildResult> {
  const names = platforms.map(formatPlatform);
  const parallel = platformConcurrency(platforms.length);
  const session = await openBuild(opts, log, deps, platforms);
  try {
    log.info(`building ${names.length} platforms: ${names.join(", ")} (${parallel} at a time)`, { event: "platforms", platforms: names, parallel });
    const built = await allOrNothing(platforms.length, parallel, (i) => buildPlatformImage(session, i, log.withTag("platform", names[i]!)));
    const report = built.flatMap((b, i) => b.report.map((r) => ({ ...r, platform: names[i] })));
    if (opts.dryRun) return { image: built[0]!.image, digest: "", report };
    const images = built.map((b) => b.image);
    const format = opts.imageFormat ?? (images.every((i) => i.format === "docker") ? "docker" : "oci");
    const idx = makeIndex(images, format, { labels: names });
    await writeIndexOutputs(idx, opts, session.client, log, [...new Set(built.flatMap((b: PlatformImage) => b.mountFrom))]);
    reportCache(session, report, log);
    const size = images.reduce((n, img) => n + img.layers.reduce((m, l) => m + l.size, 0), 0);
    log.info(`built index ${idx.digest} (${names.join(", ")}; ${humanSize(size)}) in ${((performance.now() - t0) / 1000).toFixed(2)}s`, {
      event: "built", digest: idx.digest, platforms: names, size,
    });
    return { image: idx.images[0]!, digest: idx.digest, report, index: idx };
  } finally {
    session.ws.dispose();
  }
}

/**
 * Run job(0…count-1), at most `limit` at a time, results in order. After a failure no new job
 * starts; the ones running are waited for (they share the workspace), then the first error is thrown.
 */
async function allOrNothing<T>(count: number, limit: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < count) {
      const i = next++;
      try {
        out[i] = await job(i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (failure) throw failure.e;
  return out;
}
