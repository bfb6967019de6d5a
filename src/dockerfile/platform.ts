// The plan's view of a platform (what TARGETOS, TARGETARCH and TARGETVARIANT hold) and the build
// args BuildKit predefines from it. Parsing and normalising live in src/image/platform.ts, shared
// with `kiln warm` and `kiln copy`; this file only converts.
import { formatPlatform as formatOci, hostPlatform as hostOci } from "../image/platform.ts";
import type { Platform } from "../image/types.ts";

export interface PlatformSpec {
  os: string;
  arch: string;
  variant?: string;
}

/** The plan's spec of a parsed (normalised) OCI platform. */
export function platformSpec(p: Platform): PlatformSpec {
  return p.variant ? { os: p.os, arch: p.architecture, variant: p.variant } : { os: p.os, arch: p.architecture };
}

export function ociPlatform(p: PlatformSpec): Platform {
  return p.variant ? { os: p.os, architecture: p.arch, variant: p.variant } : { os: p.os, architecture: p.arch };
}

export function formatPlatform(p: PlatformSpec): string {
  return formatOci(ociPlatform(p));
}

/** The platform kiln runs on; images are always Linux images. */
export function hostPlatform(): PlatformSpec {
  return platformSpec(hostOci());
}

/** BUILDPLATFORM, TARGETARCH and friends, before any --build-arg override. */
export function platformArgs(build: PlatformSpec, target: PlatformSpec, targetStage: string): [string, string][] {
  return [
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDARCH", build.arch],
    ["BUILDVARIANT", build.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETARCH", target.arch],
    ["TARGETVARIANT", target.variant ?? ""],
    ["TARGETSTAGE", targetStage],
  ];
}

/** Build args that reach RUN without being declared, and stay out of the cache key. */
export const PROXY_ARGS = new Set([
  "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
  "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
]);
