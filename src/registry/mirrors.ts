// Registry mirrors and remaps for pulls (kaniko's --registry-mirror, --registry-map and
// --skip-default-registry-fallback), in one place: every pull of an image (FROM, COPY --from,
// `kiln copy`'s source, `kiln warm`) asks pullCandidates() where to look and tries them in order
// with firstAnswer(). Pushes and cache lookups never go through here.
import { DOCKER_HUB, Reference } from "../image/reference.ts";
import { KilnError, UsageError } from "../util/errors.ts";
import type { RegistryOptions } from "./options.ts";

export type MirrorOptions = Pick<RegistryOptions, "registryMirrors" | "registryMaps" | "skipDefaultRegistryFallback">;

export interface PullPlan {
  /** Mirrors and replacements, in the order they are tried. */
  mirrors: Reference[];
  /** Whether the original reference is tried after them. */
  fallback: boolean;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d+)?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HUB_ALIASES = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io"]);

/** Docker Hub has three names; maps and mirrors key it as docker.io. */
function canonicalRegistry(host: string): string {
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/**
 * `ref` as served by a mirror written "host" or "host/path/prefix" (kaniko's form): the prefix
 * goes before the repository, so mirror.example/hub holds docker.io/library/busybox as
 * mirror.example/hub/library/busybox. The tag and digest are kept.
 */
export function onMirror(ref: Reference, mirror: string, flag = "--registry-mirror"): Reference {
  const spec = mirror.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  const slash = spec.indexOf("/");
  const host = slash < 0 ? spec : spec.slice(0, slash);
  const prefix = slash < 0 ? "" : spec.slice(slash + 1);
  if (!HOST.test(host)) throw new UsageError(`${flag} ${mirror}: "${host}" is not a registry host`);
  if (prefix && !prefix.split("/").every((c) => COMPONENT.test(c))) throw new UsageError(`${flag} ${mirror}: "${prefix}" is not a repository path`);
  return new Reference(canonicalRegistry(host), prefix ? `${prefix}/${ref.repository}` : ref.repository, ref.tag, ref.digest);
}

/** Where a pull of `ref` looks: --registry-map replacements of its registry, then (for docker.io) --registry-mirror. */
export function pullCandidates(ref: Reference, opts: MirrorOptions): PullPlan {
  const registry = canonicalRegistry(ref.registry);
  const mirrors: Reference[] = [];
  for (const [orig, repls] of Object.entries(opts.registryMaps ?? {})) {
    if (canonicalRegistry(orig) === registry) for (const r of repls) mirrors.push(onMirror(ref, r, "--registry-map"));
  }
  if (registry === DOCKER_HUB) for (const m of opts.registryMirrors ?? []) mirrors.push(onMirror(ref, m));
  return { mirrors, fallback: mirrors.length === 0 || !opts.skipDefaultRegistryFallback };
}

/**
 * Try `fetch` on each mirror, then the original, until one answers. A mirror that fails is a
 * warning; when nothing answers, the error names every place tried and why it failed.
 */
export async function firstAnswer<T>(ref: Reference, opts: MirrorOptions, fetch: (at: Reference) => Promise<T>, warn: (line: string) => void): Promise<{ value: T; from: Reference }> {
  const plan = pullCandidates(ref, opts);
  if (!plan.mirrors.length) return { value: await fetch(ref), from: ref };
  const misses: string[] = [];
  for (const at of plan.mirrors) {
    try {
      return { value: await fetch(at), from: at };
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      misses.push(`${at.context()}: ${why}`);
      warn(`${ref}: mirror ${at.context()} failed (${why}); ${plan.mirrors.indexOf(at) < plan.mirrors.length - 1 ? "trying the next mirror" : plan.fallback ? `falling back to ${ref.registry}` : "no fallback"}`);
    }
  }
  if (plan.fallback) return { value: await fetch(ref), from: ref };
  throw new KilnError(`${ref}: not found on any mirror and --skip-default-registry-fallback is set (tried ${misses.join("; ")})`);
}
