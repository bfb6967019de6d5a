// Platforms ("linux/amd64", "linux/arm/v7"): the one parser and normaliser behind `kiln build`
// (--custom-platform, FROM --platform), `kiln warm` and `kiln copy`, following containerd's
// platforms package, and picking one manifest out of an index.
import { arch as nodeArch } from "node:process";
import { KilnError, UsageError } from "../util/errors.ts";
import type { Descriptor, Platform } from "./types.ts";

const ARCH_FROM_NODE: Record<string, [string, string?]> = {
  x64: ["amd64"], ia32: ["386"], arm64: ["arm64"], arm: ["arm", "v7"], ppc64: ["ppc64le"], s390x: ["s390x"],
  riscv64: ["riscv64"], loong64: ["loong64"], mips: ["mips"], mipsel: ["mipsle"], mips64el: ["mips64le"],
};
// containerd's isKnownOS / isKnownArch (Go's syslist): anything else is a typo or a path, not a platform.
const KNOWN_OS = new Set([
  "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd",
  "openbsd", "plan9", "solaris", "windows", "zos",
]);
const KNOWN_ARCH = new Set([
  "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle",
  "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
]);
// containerd's specifierRe, minus components made of dots only ("..", which reads as a path).
const COMPONENT = /^(?!\.+$)[A-Za-z0-9_.-]+$/;
const WANT = "want os/arch[/variant], e.g. linux/amd64, linux/arm64 or linux/arm/v7";

/** The platform kiln runs on (RUN steps execute natively, so this is the default), normalised. */
export function hostPlatform(): Platform {
  const [architecture, variant] = ARCH_FROM_NODE[nodeArch] ?? [nodeArch];
  return variant ? { os: "linux", architecture, variant } : { os: "linux", architecture };
}

/**
 * Parse "os/arch[/variant]", a bare OS ("linux": this machine's arch) or a bare arch ("arm64": Linux),
 * and normalise it. Every malformed or unknown part is an error in one wording: `invalid platform "…": …`.
 */
export function parsePlatform(text: string): Platform {
  const bad = (why: string) => new KilnError(`invalid platform ${JSON.stringify(text)}: ${why} (${WANT})`);
  const parts = text.trim().split("/");
  if (parts.length > 3) throw bad("too many parts");
  const part = parts.find((p) => !COMPONENT.test(p));
  if (part !== undefined) throw bad(part === "" ? "empty part" : `${JSON.stringify(part)} is not a platform component`);
  let p: Platform;
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    p = KNOWN_OS.has(one) ? { ...hostPlatform(), os: one } : normalizePlatform({ os: "linux", architecture: one });
    if (!KNOWN_OS.has(one) && !KNOWN_ARCH.has(p.architecture)) throw bad("unknown operating system or architecture");
    return p;
  }
  p = normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
  if (!KNOWN_OS.has(p.os)) throw bad(`unknown operating system ${JSON.stringify(parts[0])}`);
  if (!KNOWN_ARCH.has(p.architecture)) throw bad(`unknown architecture ${JSON.stringify(parts[1])}`);
  return p;
}

/** parsePlatform for a command-line flag: the error names the flag. `build` also refuses what kiln cannot build. */
export function parsePlatformFlag(flag: string, text: string, opts: { build?: boolean } = {}): Platform {
  try {
    const p = parsePlatform(text);
    if (opts.build) checkBuildable(p);
    return p;
  } catch (e) {
    throw new UsageError(`flag ${flag}: ${(e as Error).message}`);
  }
}

/** kiln builds Linux images: RUN needs a Linux root filesystem and a Linux kernel. */
export function checkBuildable(p: Platform): void {
  if (p.os !== "linux") throw new KilnError(`platform ${formatPlatform(p)}: kiln builds Linux images only`);
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/**
 * containerd's Normalize: lower case, arch aliases, and one spelling per variant (arm64's v8 is
 * dropped, arm defaults to v7, amd64's v1 is dropped), so equal platforms compare equal.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === "macos" ? "darwin" : p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() ?? "";
  switch (architecture) {
    case "i386":
      architecture = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = "v" + variant;
      break;
  }
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  return out;
}

/** True when an image built for `have` runs on `want` (exact after normalisation; arm64 v8 == no variant). */
export function platformMatches(have: Platform, want: Platform): boolean {
  const a = normalizePlatform(have);
  const b = normalizePlatform(want);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? "") === (b.variant ?? "");
}

/**
 * Pick the manifest for `want` from an index's descriptors. Exact match first; for
 * arm a lower variant still runs (v7 host runs v6), so fall back to the best of those.
 */
export function selectManifest(manifests: Descriptor[], want: Platform, where: string): Descriptor {
  const candidates = manifests.filter((d) => d.platform && !isAttestation(d));
  const exact = candidates.find((d) => platformMatches(d.platform!, want));
  if (exact) return exact;
  const w = normalizePlatform(want);
  if (w.architecture === "arm" && w.variant) {
    const n = Number(w.variant.slice(1));
    const lower = candidates
      .map((d) => ({ d, p: normalizePlatform(d.platform!) }))
      .filter(({ p }) => p.os === w.os && p.architecture === "arm" && Number(p.variant?.slice(1)) < n)
      .sort((x, y) => Number(y.p.variant!.slice(1)) - Number(x.p.variant!.slice(1)));
    if (lower[0]) return lower[0].d;
  }
  const have = candidates.map((d) => formatPlatform(d.platform!)).join(", ") || "none";
  throw new KilnError(`${where}: no image for platform ${formatPlatform(w)} (index has: ${have})`);
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" || d.platform?.os === "unknown";
}
