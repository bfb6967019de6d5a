// Cache keys: a SHA-256 chain over each step's canonical description (docs/cache.md is the spec;
// change the encoding only together with CACHE_KEY_VERSION and the doc's golden vector).
import { createHash } from "node:crypto";
import type { Expanded } from "../dockerfile/expanded.ts";
import { checkDigest } from "../image/digest.ts";
import { KilnError } from "../util/errors.ts";
import { compareUtf8, encodeCanon, type Canon } from "./encoding.ts";

/** Part of every key: bump it when the encoding changes so old entries stop matching. */
export const CACHE_KEY_VERSION = "kiln-cache-key/1";

const KEY_RE = /^[0-9a-f]{64}$/;

export function isCacheKey(s: string): boolean {
  return KEY_RE.test(s);
}

function checkKey(s: string, what: string): string {
  if (!KEY_RE.test(s)) throw new KilnError(`cache key: ${what} "${s}" is not 64 lowercase hex digits`);
  return s;
}

export type BaseSource = { manifestDigest: string } | { scratch: true } | { parentStageKey: string };

function hashCanon(v: Canon): string {
  return createHash("sha256").update(encodeCanon(v)).digest("hex");
}

/** The key a stage starts from: its base image's manifest, scratch, or the parent stage's final key. */
export function baseKey(source: BaseSource): string {
  if ("parentStageKey" in source) return checkKey(source.parentStageKey, "parent stage key");
  if ("scratch" in source) return hashCanon({ v: CACHE_KEY_VERSION, scratch: true });
  return hashCanon({ v: CACHE_KEY_VERSION, manifest: checkDigest(source.manifestDigest, "base image manifest digest") });
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
  /** Not part of the key: checkouts reset mtimes, which would make every CI build miss. */
  mtime?: number;
}

export interface StepKeyInput {
  /** The previous step's key (or baseKey for the first step). */
  parent: string;
  instruction: Expanded;
  /** RUN only (ignored for other kinds): the process environment, ExpandedRun.env (image Env, ENV and ARG values; not proxyEnv). */
  env?: readonly string[];
  /** The image config as the step starts: User, WorkingDir, Shell. */
  config: { user?: string; workdir?: string; shell?: readonly string[] };
  /** COPY/ADD from the context (after .dockerignore). */
  sources?: readonly SourceEntry[];
  /** COPY --from=<stage>: that stage's final key. */
  fromStageKey?: string;
  /** COPY --from=<image>: that image's manifest digest. */
  fromImageDigest?: string;
  /** RUN --mount from=…: per ExpandedRun.mountFrom entry, the stage's final key or the image's manifest digest. */
  mountFrom?: readonly string[];
}

/** Fields of each Expanded kind that form the canonical instruction; the rest are listed in IGNORED_FIELDS. */
export const KEY_FIELDS: Record<Expanded["kind"], readonly string[]> = {
  run: ["kind", "json", "argv", "files", "mounts", "network", "security", "devices"],
  copy: ["kind", "sources", "heredocSources", "dest", "chown", "chmod", "link", "parents", "exclude", "checksum", "keepGitDir", "unpack"],
  add: ["kind", "sources", "heredocSources", "dest", "chown", "chmod", "link", "parents", "exclude", "checksum", "keepGitDir", "unpack"],
  env: ["kind", "vars"],
  arg: [],
  label: ["kind", "labels"],
  workdir: ["kind", "path"],
  user: ["kind", "user"],
  expose: ["kind", "ports"],
  volume: ["kind", "paths"],
  cmd: ["kind", "json", "argv"],
  entrypoint: ["kind", "json", "argv"],
  shell: ["kind", "shell"],
  healthcheck: ["kind", "healthcheck"],
  stopsignal: ["kind", "signal"],
  onbuild: ["kind", "expression"],
  maintainer: ["kind", "name"],
};

/**
 * Fields left out, and why: source positions and raw text are not semantics; `args` and
 * `heredocs` are folded into argv/files; env/buildArgs go in the env field, proxyEnv never
 * (as in BuildKit); --from names are replaced by what they resolve to (fromStageKey,
 * fromImageDigest, mountFrom); ONBUILD's parsed trigger is its expression again.
 */
export const IGNORED_FIELDS = ["line", "endLine", "original", "args", "heredocs", "env", "buildArgs", "proxyEnv", "mountFrom", "from", "fromRef", "trigger"];

/** The instruction as the key sees it: KEY_FIELDS of its kind, healthcheck and files as plain maps. */
export function canonicalInstruction(x: Expanded): Canon {
  const src = x as unknown as Record<string, unknown>;
  const out: Record<string, Canon | undefined> = {};
  for (const f of KEY_FIELDS[x.kind]) {
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
  return sorted.map((s) => ({ path: s.path, type: s.type, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, digest: s.digest, link: s.link }));
}

/** The record whose encoding is hashed (exported for tests and docs). */
export function keyRecord(input: StepKeyInput): Canon {
  const x = input.instruction;
  const c = input.config;
  return {
    v: CACHE_KEY_VERSION,
    parent: checkKey(input.parent, "parent key"),
    instruction: canonicalInstruction(x),
    env: x.kind === "run" ? [...(input.env ?? [])].sort(compareUtf8) : undefined,
    config: { user: c.user || undefined, workdir: c.workdir || undefined, shell: c.shell?.length ? [...c.shell] : undefined },
    sources: input.sources ? canonicalSources(input.sources) : undefined,
    fromStage: input.fromStageKey !== undefined ? checkKey(input.fromStageKey, "--from stage key") : undefined,
    fromImage: input.fromImageDigest !== undefined ? checkDigest(input.fromImageDigest, "--from image digest") : undefined,
    mountFrom: input.mountFrom?.length ? [...input.mountFrom] : undefined,
  };
}

/**
 * A step's key (64 hex). ARG returns `parent` unchanged: its value reaches later steps only
 * through what they see (a RUN's env, an expanded word), so declaring one breaks no chain.
 */
export function stepKey(input: StepKeyInput): string {
  if (input.instruction.kind === "arg") return checkKey(input.parent, "parent key");
  return hashCanon(keyRecord(input));
}
