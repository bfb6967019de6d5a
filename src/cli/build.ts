// `kiln build` (and `kiln plan`, and the bare executor entry): kaniko's command line, read with
// pflag's rules (src/cli/pflag.ts), validated into BuildOptions. Everything that can be checked
// without work is checked here, so a typo is exit 2 before anything is pulled.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { BuildOptions } from "../executor/options.ts";
import type { GitContextOptions } from "../executor/context-remote.ts";
import { inferCacheRepo } from "../cache/store.ts";
import { parseRegistryLocation } from "../image/location.ts";
import { parsePlatformFlag } from "../image/platform.ts";
import { parseDurationFlag } from "../util/duration.ts";
import { UsageError } from "../util/errors.ts";
import { BUILD_FLAGS } from "./build-flags.ts";
import { Flags, parseKeyValues } from "./flag-reader.ts";
import { formatFlagHelp, parseGoBool, parsePflags } from "./pflag.ts";
import { pullFlagOptions } from "./pull-flags.ts";
import { runMountOptions } from "./run-mount-flags.ts";

type Env = Record<string, string | undefined>;

/** What the command line asks for besides the build itself: how to log and what to warn about. */
export interface BuildCommandLine {
  opts: BuildOptions;
  /** Deprecated spellings, kaniko flags kiln ignores: printed as warnings before the build. */
  warnings: string[];
  /** --log-format color: colour on a terminal. */
  color: boolean;
  help: boolean;
}

export function buildHelp(name: string, description: string): string {
  return `Usage: kiln ${name} [flags]   (also: executor [flags], kiln [flags])\n\n${description}\n\nFlags:\n${formatFlagHelp(BUILD_FLAGS)}\n  -h, --help${" ".repeat(4)}show this help\n`;
}

/** Parse a build command line (the words after `build`) into BuildOptions. */
export function parseBuildCommandLine(argv: readonly string[], env: Env = process.env): BuildCommandLine {
  const parsed = parsePflags(argv, BUILD_FLAGS);
  if (parsed.positional.length > 0) {
    throw new UsageError(`unexpected argument "${parsed.positional[0]}" (build takes flags only, e.g. --context ${parsed.positional[0]})`);
  }
  const f = new Flags(parsed);
  if (parsed.help) return { opts: undefined as unknown as BuildOptions, warnings: [], color: false, help: true };
  return { ...toBuildOptions(f, env), help: false };
}

const REMOTE_CONTEXT = /^(git:\/\/|https?:\/\/)/;
const CLOUD_CONTEXT = /^(s3|gs|az):\/\//;

function toBuildOptions(f: Flags, env: Env): Omit<BuildCommandLine, "help"> {
  const warnings = [...f.parsed.warnings];
  if (f.has("bucket")) {
    throw new UsageError(`flag --bucket: GCS bucket contexts are not supported by kiln; download the tarball and pass --context tar://FILE, or serve it and pass --context https://…/context.tar.gz`);
  }
  const contextArg = f.str("context") ?? ".";
  const context = checkContext(contextArg);
  const destinations = f.list("destination");
  // Checked here so a typo is exit 2 before any work, not a failure after the build.
  for (const d of destinations) parseRegistryLocation(d, { what: "flag --destination" });
  const customPlatform = f.str("custom-platform");
  if (customPlatform !== undefined) parsePlatformFlag("--custom-platform", customPlatform, { build: true });
  // Checked (with --custom-platform, --tar-path) by the build before any work: executor/multi-platform.ts.
  const platforms = f.has("platform") ? f.list("platform") : undefined;
  // --no-push wins over KANIKO_NO_PUSH, which kaniko reads as a Go bool.
  const noPush = f.has("no-push") ? f.bool("no-push") : env.KANIKO_NO_PUSH !== undefined && env.KANIKO_NO_PUSH !== "" ? parseGoBool("no-push (env KANIKO_NO_PUSH)", env.KANIKO_NO_PUSH) : false;
  const tarPath = f.str("tar-path");
  const ociLayoutPath = f.str("oci-layout-path");
  if (!noPush && destinations.length === 0 && !tarPath && !ociLayoutPath) {
    throw new UsageError("flag --destination: required unless --no-push, --tar-path or --oci-layout-path is given");
  }
  const cache = f.bool("cache");
  const cacheRepo = f.str("cache-repo");
  if (cacheRepo !== undefined) inferCacheRepo(cacheRepo, []);
  if (cache && !cacheRepo && destinations.length === 0) {
    throw new UsageError("flag --cache: needs --cache-repo or a --destination to infer it from");
  }

  const mode = f.choice("snapshot-mode", ["auto", "walk", "overlay", "full", "redo", "time"] as const, "auto");
  const verbosity = f.choice("verbosity", ["trace", "debug", "info", "warn", "error", "fatal", "panic"] as const, "info");
  const logFormat = f.choice("log-format", ["text", "color", "json"] as const, "color");
  const compressionLevel = f.int("compression-level");
  for (const name of ["use-new-run", "compressed-caching"]) {
    if (f.has(name)) warnings.push(`flag --${name} has no effect in kiln (accepted for kaniko compatibility)`);
  }

  const ignoreVarRun = f.bool("ignore-var-run", true);
  const ignorePaths = [...f.list("ignore-path"), ...(ignoreVarRun ? ["/var/run"] : [])];
  const git = f.has("git") ? parseGitOptions(f.list("git")) : undefined;
  if (git && !REMOTE_CONTEXT.test(contextArg)) warnings.push(`flag --git: the context ${contextArg} is not a git repository; the options are not used`);
  const kanikoDir = f.str("kaniko-dir") ?? (env.KANIKO_DIR || undefined);

  const opts: BuildOptions = {
    context,
    dockerfile: f.str("dockerfile") ?? "Dockerfile",
    contextSubPath: f.str("context-sub-path"),
    destinations,
    noPush,
    tarPath,
    ociLayoutPath,
    digestFile: f.str("digest-file"),
    imageNameWithDigestFile: f.str("image-name-with-digest-file"),
    imageNameTagWithDigestFile: f.str("image-name-tag-with-digest-file"),
    buildArgs: parseKeyValues("build-arg", f.list("build-arg"), true, env),
    labels: parseKeyValues("label", f.list("label"), false, env),
    target: f.str("target"),
    cache,
    cacheRepo,
    cacheDir: f.str("cache-dir"),
    cacheTtlMs: parseDurationFlag("cache-ttl", f.str("cache-ttl") ?? "336h"),
    cacheReport: f.str("cache-report"),
    noPushCache: f.bool("no-push-cache"),
    cacheRunLayers: f.bool("cache-run-layers", true),
    cacheCopyLayers: f.bool("cache-copy-layers", true),
    // --insecure…, --skip-tls-verify…, --registry-certificate/-client-cert/-mirror/-map, --image-download-retry.
    ...pullFlagOptions(f, env),
    cacheRunMounts: f.bool("cache-run-mounts"),
    reproducible: f.bool("reproducible"),
    singleSnapshot: f.bool("single-snapshot"),
    // kaniko's full, redo and time all become the walk: it compares inode, ctime, mtime, size,
    // mode and owner, so every content change is seen (ctime moves on each write) without hashing.
    snapshotMode: mode === "full" || mode === "redo" || mode === "time" ? "walk" : mode,
    imageFormat: f.has("image-format") ? f.choice("image-format", ["oci", "docker"] as const, "oci") : undefined,
    compression: f.choice("compression", ["gzip", "zstd", "none"] as const, "gzip"),
    compressionLevel: compressionLevel === -1 ? undefined : compressionLevel,
    ignorePaths,
    keepSync: f.bool("keep-sync"),
    root: f.str("root") ?? (env.KILN_ROOT || undefined),
    force: f.bool("force"),
    // kiln's errors end the build, so "fatal" and "panic" show what "error" shows.
    verbosity: verbosity === "fatal" || verbosity === "panic" ? "error" : verbosity,
    logFormat: logFormat === "json" ? "json" : "text",
    customPlatform,
    platforms,
    pushRetry: f.int("push-retry", 0) ?? 0,
    imageFsExtractRetry: f.int("image-fs-extract-retry", 0) ?? 0,
    pushIgnoreImmutableTagErrors: f.bool("push-ignore-immutable-tag-errors"),
    skipPushPermissionCheck: f.bool("skip-push-permission-check"),
    ignoreVarRun,
    // kiln's default builds only what the target needs (as BuildKit): the image is the same, and
    // unused stages only cost time; =false builds every stage before the target, as kaniko does.
    skipUnusedStages: f.bool("skip-unused-stages", true),
    cleanup: f.bool("cleanup"),
    forceBuildMetadata: f.bool("force-build-metadata"),
    logTimestamp: f.bool("log-timestamp"),
    kanikoDir,
    git,
    ...runMountOptions({ secret: f.list("secret"), ssh: f.list("ssh"), cacheMountDir: f.str("cache-mount-dir") ?? (env.KILN_CACHE_MOUNT_DIR || undefined), allow: f.list("allow") }),
  };
  return { opts, warnings, color: logFormat === "color" };
}

/** A local context must exist; remote ones are fetched by the build; cloud storage is not supported. */
function checkContext(arg: string): string {
  const cloud = CLOUD_CONTEXT.exec(arg);
  if (cloud) {
    throw new UsageError(`flag --context: ${arg}: ${cloud[1]}:// contexts are not supported by kiln; download the archive and pass --context tar://FILE, or an https:// URL of a .tar.gz`);
  }
  if (REMOTE_CONTEXT.test(arg) || arg === "tar://stdin") return arg;
  const local = arg.startsWith("dir://") ? arg.slice("dir://".length) : arg.startsWith("tar://") ? arg.slice("tar://".length) : arg;
  const abs = resolve(local);
  if (!existsSync(abs)) throw new UsageError(`flag --context: ${local}: no such file or directory`);
  if (arg.startsWith("tar://")) return arg;
  if (!statSync(abs).isDirectory() && !/\.tar(\.gz)?$|\.tgz$/.test(abs)) {
    throw new UsageError(`flag --context: ${local}: not a directory or a .tar/.tar.gz file`);
  }
  return local;
}

/** --git branch=NAME,single-branch=true,recurse-submodules=true,insecure-skip-tls=true (kaniko's keys). */
export function parseGitOptions(items: string[]): GitContextOptions {
  const out: GitContextOptions = {};
  for (const item of items) {
    for (const pair of item.split(",")) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? "" : pair.slice(eq + 1);
      if (eq < 0) throw new UsageError(`flag --git: "${pair}": expected KEY=VALUE`);
      const bool = () => parseGoBool(`git ${key}`, value);
      if (key === "branch") out.branch = value;
      else if (key === "single-branch") out.singleBranch = bool();
      else if (key === "recurse-submodules") out.recurseSubmodules = bool();
      else if (key === "insecure-skip-tls") out.insecureSkipTls = bool();
      else throw new UsageError(`flag --git: unknown key "${key}" (known: branch, single-branch, recurse-submodules, insecure-skip-tls)`);
    }
  }
  return out;
}
