// Platforms ("linux/arm64") and the build args BuildKit predefines from them.
import process from "node:process";

export interface PlatformSpec {
  os: string;
  arch: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, [string, string?]> = {
  x86_64: ["amd64"], "x86-64": ["amd64"], aarch64: ["arm64"], armhf: ["arm", "v7"], armel: ["arm", "v6"],
  i386: ["386"], i686: ["386"],
};
const KNOWN_OS = new Set(["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix"]);
// containerd's isKnownArch: a bare word must name an OS or one of these (after aliases).
const KNOWN_ARCH = new Set([
  "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle",
  "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
]);
const SPECIFIER = /^[A-Za-z0-9_.-]+$/;

/** containerd's normalisation: arm defaults to v7, arm64/v8 drops its variant. */
export function normalizePlatform(p: PlatformSpec): PlatformSpec {
  const os = p.os.toLowerCase();
  let arch = p.arch.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  const alias = ARCH_ALIASES[arch];
  if (alias) {
    arch = alias[0];
    variant = alias[1] ?? variant;
  }
  if (arch === "arm64" && (variant === "8" || variant === "v8" || variant === "v8.0")) variant = undefined;
  if (arch === "arm") {
    if (variant === undefined || variant === "7") variant = "v7";
    else if (/^[568]$/.test(variant)) variant = "v" + variant;
  }
  return variant ? { os, arch, variant } : { os, arch };
}

/** Parse "os/arch[/variant]" (or a bare arch or os). */
export function parsePlatform(text: string): PlatformSpec {
  const parts = text.trim().split("/");
  if (parts.some((p) => !SPECIFIER.test(p)) || parts.length > 3) throw new Error(`invalid platform "${text}": expected os/arch[/variant]`);
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(one)) return normalizePlatform({ os: one, arch: hostPlatform().arch });
    const p = normalizePlatform({ os: "linux", arch: one });
    if (!KNOWN_ARCH.has(p.arch)) throw new Error(`invalid platform "${text}": unknown operating system or architecture`);
    return p;
  }
  return normalizePlatform({ os: parts[0]!, arch: parts[1]!, variant: parts[2] });
}

export function formatPlatform(p: PlatformSpec): string {
  return p.variant ? `${p.os}/${p.arch}/${p.variant}` : `${p.os}/${p.arch}`;
}

const NODE_ARCH: Record<string, [string, string?]> = {
  x64: ["amd64"], arm64: ["arm64"], arm: ["arm", "v7"], ia32: ["386"], ppc64: ["ppc64le"], s390x: ["s390x"],
  riscv64: ["riscv64"], loong64: ["loong64"], mips64el: ["mips64le"],
};

/** The platform kiln runs on; images are always Linux images. */
export function hostPlatform(): PlatformSpec {
  const [arch, variant] = NODE_ARCH[process.arch] ?? [process.arch];
  return variant ? { os: "linux", arch, variant } : { os: "linux", arch };
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
