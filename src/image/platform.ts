// Platforms ("linux/amd64", "linux/arm/v7") and picking one manifest out of an index.
import { arch as nodeArch } from "node:process";
import { KilnError } from "../util/errors.ts";
import type { Descriptor, Platform } from "./types.ts";

const ARCH_FROM_NODE: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };

/** The platform kiln runs on (RUN steps execute natively, so this is the default). */
export function hostPlatform(): Platform {
  const architecture = ARCH_FROM_NODE[nodeArch] ?? nodeArch;
  const p: Platform = { os: "linux", architecture };
  if (architecture === "arm64") p.variant = "v8";
  return p;
}

/** Parse "os/arch[/variant]" (also "os/arch:osversion" is not supported: Linux only). */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
    throw new KilnError(`invalid platform "${s}": want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`);
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** containerd's normalisation: aliases for arch names and default variants. */
export function normalizePlatform(p: Platform): Platform {
  let { architecture, variant } = p;
  const os = p.os.toLowerCase();
  switch (architecture) {
    case "x86_64":
    case "x86-64":
      architecture = "amd64";
      break;
    case "aarch64":
      architecture = "arm64";
      break;
    case "armhf":
      architecture = "arm";
      variant ??= "v7";
      break;
    case "armel":
      architecture = "arm";
      variant ??= "v6";
      break;
    case "i386":
      architecture = "386";
      break;
  }
  if (architecture === "arm64" && (variant === undefined || variant === "8")) variant = "v8";
  if (architecture === "arm" && variant === undefined) variant = "v7";
  if (architecture === "arm" && /^\d$/.test(variant ?? "")) variant = `v${variant}`;
  if (architecture === "amd64" && variant === "v1") variant = undefined;
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
