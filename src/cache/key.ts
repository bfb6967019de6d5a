// Cache keys: a SHA-256 chain over each step's canonical description (docs/cache.md is the spec;
// change the encoding only together with CACHE_KEY_VERSION and the doc's golden vector).
import { createHash } from "node:crypto";
import type { Expanded } from "../dockerfile/expanded.ts";
import { checkDigest } from "../image/digest.ts";
import { KilnError } from "../util/errors.ts";
import { compareUtf8, encodeCanon, type Canon } from "./encoding.ts";

/** Part of every key: bump it when the encoding changes so old entries stop matching. */
export const CACHE_KEY_VERSION = "kiln-cache-key/2";

const KEY_RE = /^[0-9a-f]{64}$/;

export function isCacheKey(s: string): boolean {
  return KEY_RE.test(s);
}

function checkKey(s: string, what: string): string {
  if (!KEY_RE.test(s)) throw new KilnError(`cache key: ${what} "${s}" is not 64 lowercase hex digits`);
  return s;
}

export type BaseSource = { manifestDigest: string } | { scratch: true } | { parentStageKey: string };

/**
 * The build options that change a layer's bytes (layerShapingFlags in src/executor/step-plan.ts):
 * folded into every base key, so a layer is never reused by a build that would write it otherwise.
 */
export type LayerShaping = { readonly [flag: string]: Canon | undefined };

function hashCanon(v: Canon): string {
  return createHash("sha256").update(encodeCanon(v)).digest("hex");
}

/**
 * The key a stage starts from: its base image's manifest or scratch, with the layer-shaping
 * flags; or the parent stage's final key (which already holds them).
 */
export function baseKey(source: BaseSource, layers: LayerShaping = {}): string {
  if ("parentStageKey" in source) return checkKey(source.parentStageKey, "parent stage key");
  if ("scratch" in source) return hashCanon({ v: CACHE_KEY_VERSION, scratch: true, layers });
  return hashCanon({ v: CACHE_KEY_VERSION, manifest: checkDigest(source.manifestDigest, "base image manifest digest"), layers });
}

/** A COPY/ADD source file as describeSources reports it (src/executor/copy/types.ts SourceEntry). */
export interface SourceEntry {
  /** Relative to the source root, as named at the destination. */
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  /** Not part of the key (a directory's size depends on the filesystem; a file's is in its digest). */
  size?: number;
  /** "sha256:<hex>" of the content (files, heredocs; a URL's --checksum). */
  digest?: string;
  /** Symlink target. */
  link?: string;
  /** A hard link: the path of the first listed source that is the same file (COPY writes a link). */
  hardlink?: string;
  /** Not part of the key: checkouts reset mtimes, which would make every CI build miss. */
  mtime?: number;
}

export interface StepKeyInput {
  /** The previous filesystem step's key (or baseKey for the first one). */
  parent: string;
  instruction: Expanded;
  /** RUN only (ignored for other kinds): the process environment, ExpandedRun.env (image Env, ENV and ARG values; not proxyEnv). */
  env?: readonly string[];
  /** The image config as the step starts; only the fields READS lists for its kind count. */
  config: { user?: string; workdir?: string };
  /** COPY/ADD from the context: the files read (after .dockerignore). */
  sources?: readonly SourceEntry[];
  /** COPY --from=<stage>: filesDigest of the files it reads in that stage (copyFromAlias keeps it). */
  fromFiles?: string;
  /** COPY --from=<image>: that image's manifest digest. */
  fromImageDigest?: string;
  /** RUN --mount from=…: per ExpandedRun.mountFrom entry, the stage's final key or the image's manifest digest. */
  mountFrom?: readonly string[];
}

/** The step kinds that can change the filesystem: the only ones with keys of their own. */
export type FsKind = "run" | "copy" | "add" | "workdir" | "volume";
export const FS_KINDS: ReadonlySet<Expanded["kind"]> = new Set<Expanded["kind"]>(["run", "copy", "add", "workdir", "volume"]);

/**
 * What of the image config each filesystem step reads (docs/cache.md, "What a step reads"):
 * RUN runs as USER in WORKDIR; COPY/ADD resolve a relative destination against WORKDIR (the
 * owner comes from --chown, never from USER); WORKDIR creates directories owned by USER.
 */
export const READS: Record<FsKind, readonly ("user" | "workdir")[]> = {
  run: ["user", "workdir"],
  copy: ["workdir"],
  add: ["workdir"],
  workdir: ["user"],
  volume: [],
};

/** Fields of each filesystem kind that form the canonical instruction; the rest are listed in IGNORED_FIELDS. */
export const KEY_FIELDS: Record<FsKind, readonly string[]> = {
  run: ["kind", "json", "argv", "files", "mounts", "network", "security", "devices"],
  copy: ["kind", "sources", "heredocSources", "dest", "chown", "chmod", "link", "parents", "exclude", "checksum", "keepGitDir", "unpack"],
  add: ["kind", "sources", "heredocSources", "dest", "chown", "chmod", "link", "parents", "exclude", "checksum", "keepGitDir", "unpack"],
  workdir: ["kind", "path"],
  volume: ["kind", "paths"],
};

/**
 * Fields left out, and why: source positions and raw text are not semantics; `args` and
 * `heredocs` are folded into argv/files; env/buildArgs go in the env field, proxyEnv never
 * (as in BuildKit); --from names are replaced by what they resolve to (the copied files of a
 * stage, an image's digest, mountFrom).
 */
export const IGNORED_FIELDS = ["line", "endLine", "original", "args", "heredocs", "env", "buildArgs", "proxyEnv", "mountFrom", "from", "fromRef"];

/** The instruction as the key sees it: KEY_FIELDS of its kind, healthcheck and files as plain maps. */
export function canonicalInstruction(x: Expanded): Canon {
  const src = x as unknown as Record<string, unknown>;
  const out: Record<string, Canon | undefined> = {};
  for (const f of KEY_FIELDS[x.kind as FsKind] ?? []) {
    const v = src[f];
    if (v === undefined) continue;
    if (f === "files") out[f] = (v as { path: string; data: string; mode: number }[]).map((i) => ({ path: i.path, data: i.data, mode: i.mode }));
    else if (f === "heredocSources") out[f] = (v as { name: string; data: string }[]).map((h) => ({ name: h.name, data: h.data }));
    else if (f === "healthcheck") {
      const h = v as Record<string, Canon>;
      out[f] = { test: h.test!, interval: h.interval!, timeout: h.timeout!, startPeriod: h.startPeriod!, startInterval: h.startInterval!, retries: h.retries! };
    } else out[f] = v as Canon;
  }
  return out;
}

function canonicalSources(sources: readonly SourceEntry[]): Canon {
  // Sorted by path; equal paths keep the caller's order (a later one overwrites an earlier one).
  const sorted = [...sources].sort((a, b) => compareUtf8(a.path, b.path));
  return sorted.map((s) => ({ path: s.path, type: s.type, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, digest: s.digest, link: s.link, hardlink: s.hardlink }));
}

/** The record whose encoding is hashed (exported for tests and docs). */
export function keyRecord(input: StepKeyInput): Canon {
  const x = input.instruction;
  const reads = READS[x.kind as FsKind] ?? [];
  const c = input.config;
  return {
    v: CACHE_KEY_VERSION,
    parent: checkKey(input.parent, "parent key"),
    instruction: canonicalInstruction(x),
    env: x.kind === "run" ? [...(input.env ?? [])].sort(compareUtf8) : undefined,
    config: { user: reads.includes("user") ? c.user || undefined : undefined, workdir: reads.includes("workdir") ? c.workdir || undefined : undefined },
    sources: input.sources ? canonicalSources(input.sources) : undefined,
    fromFiles: input.fromFiles !== undefined ? checkDigest(input.fromFiles, "--from files digest") : undefined,
    fromImage: input.fromImageDigest !== undefined ? checkDigest(input.fromImageDigest, "--from image digest") : undefined,
    mountFrom: input.mountFrom?.length ? [...input.mountFrom] : undefined,
  };
}

/** "sha256:<hex>" of the canonical encoding of a source list: what COPY --from=<stage> reads. */
export function filesDigest(sources: readonly SourceEntry[]): string {
  return "sha256:" + hashCanon(canonicalSources(sources));
}

/**
 * The key of a COPY --from=<stage>'s alias entry: the stage's final key determines its files, so
 * (that key, the instruction, WORKDIR) determine the filesDigest the step reads. An empty entry
 * under this key records it, so a later build whose source stage was fully cached need not
 * unpack that stage to compute the step's key.
 */
export function copyFromAlias(stageKey: string, x: Expanded, workdir: string | undefined): string {
  return hashCanon({ v: CACHE_KEY_VERSION, alias: "copy-from", stage: checkKey(stageKey, "--from stage key"), instruction: canonicalInstruction(x), workdir: workdir || undefined });
}

/**
 * A step's key (64 hex). Only filesystem steps have keys of their own: any other step (ARG,
 * ENV, LABEL, USER…) returns `parent` unchanged, because what it sets reaches later steps only
 * through what they read (a RUN's env, its user, an expanded word), which their keys hold.
 */
export function stepKey(input: StepKeyInput): string {
  if (!FS_KINDS.has(input.instruction.kind)) return checkKey(input.parent, "parent key");
  return hashCanon(keyRecord(input));
}

/**
 * The key of a COPY/ADD --link step: the step's record with the key of an empty filesystem
 * (FROM scratch with the same layer-shaping flags) as its parent, because a --link layer is
 * built from the sources alone (docs/cache.md, "COPY --link"). A new base image or an earlier
 * step's change leaves it as is, so the layer is reused.
 */
export function linkKey(input: Omit<StepKeyInput, "parent">, layers: LayerShaping): string {
  return stepKey({ ...input, parent: baseKey({ scratch: true }, layers) });
}

/** The chain after a --link step: the steps below it and the linked layer's key, both. */
export function afterLinkKey(parent: string, link: string): string {
  return hashCanon({ v: CACHE_KEY_VERSION, parent: checkKey(parent, "parent key"), link: checkKey(link, "--link step key") });
}
