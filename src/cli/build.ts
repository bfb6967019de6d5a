// `kiln build`: kaniko-compatible flags, validated into BuildOptions.
import { Command, Option } from "@commander-js/extra-typings";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { BuildOptions } from "../executor/options.ts";
import { parsePlatformFlag } from "../image/platform.ts";
import { parseRegistryLocation } from "../image/location.ts";
import { inferCacheRepo } from "../cache/store.ts";
import { parseDurationFlag } from "../util/duration.ts";
import { UsageError } from "../util/errors.ts";
import { runMountOptions } from "./run-mount-flags.ts";

const collect = (value: string, prev: string[]) => [...prev, value];

export function buildCommand(run: (opts: BuildOptions) => Promise<void>, name = "build", description = "build an image from a Dockerfile and push it (kaniko's executor)") {
  return new Command(name)
    .description(description)
    .option("-f, --dockerfile <path>", "Dockerfile, relative to the context or absolute; - for stdin", "Dockerfile")
    .option("-c, --context <path>", "build context: directory, dir://PATH, .tar[.gz] file or tar://stdin", ".")
    .option("--context-sub-path <path>", "use this sub-directory of the context")
    .option("-d, --destination <ref>", "image reference to push to (repeatable)", collect, [] as string[])
    .option("--no-push", "build but do not push")
    .option("--tar-path <file>", "also write the image as a docker-load tarball")
    .option("--oci-layout-path <dir>", "also write the image to an OCI image layout directory")
    .option("--digest-file <file>", "write the image digest to this file")
    .option("--image-name-with-digest-file <file>", "write NAME@DIGEST for each destination")
    .option("--image-name-tag-with-digest-file <file>", "write NAME:TAG@DIGEST for each destination")
    .option("--build-arg <key=value>", "build-time variable (repeatable; KEY alone takes it from the environment)", collect, [] as string[])
    .option("--label <key=value>", "label to set on the image (repeatable)", collect, [] as string[])
    .option("--target <stage>", "build this stage and the stages it needs")
    .option("--cache", "use and fill the registry layer cache", false)
    .option("--cache-repo <repo>", "where cached layers live (registry repo, or oci:/path); default <destination>/cache")
    .option("--cache-dir <dir>", "local directory for base images pulled by digest")
    .option("--cache-ttl <duration>", "cache entries older than this are misses", "336h")
    .option("--cache-report <file>", "write a JSON report of cache hits and misses")
    .option("--no-push-cache", "read the cache but never write to it")
    .addOption(new Option("--cache-run-layers [bool]", "cache RUN layers (kaniko compat)").default(true).argParser(parseBool("cache-run-layers")))
    .addOption(new Option("--cache-copy-layers [bool]", "cache COPY/ADD layers (kaniko compat)").default(true).argParser(parseBool("cache-copy-layers")))
    .option("--insecure", "reach registries over plain HTTP", false)
    .option("--insecure-registry <host>", "reach this registry over plain HTTP (repeatable)", collect, [] as string[])
    .option("--insecure-pull", "pull base images over plain HTTP (kaniko compat; same as --insecure for pulls)", false)
    .option("--skip-tls-verify", "do not verify registry TLS certificates", false)
    .option("--skip-tls-verify-registry <host>", "do not verify TLS for this registry (repeatable)", collect, [] as string[])
    .option("--registry-certificate <host=path>", "CA certificate for a registry (repeatable)", collect, [] as string[])
    .option("--reproducible", "strip timestamps so the same inputs give the same image digest", false)
    .option("--single-snapshot", "one layer per stage instead of one per step", false)
    .addOption(new Option("--snapshot-mode <mode>", "how changes are found").choices(["auto", "walk", "overlay"] as const).default("auto" as const))
    .addOption(new Option("--image-format <format>", "manifest media types (default: oci, or docker when the base is docker)").choices(["oci", "docker"] as const))
    .addOption(new Option("--compression <algo>", "layer compression").choices(["gzip", "zstd", "none"] as const).default("gzip" as const))
    .option("--compression-level <n>", "compression level", (v) => parseIntFlag("compression-level", v))
    .option("--ignore-path <path>", "never snapshot this path (repeatable)", collect, [] as string[])
    .option("--keep-sync", "let RUN commands' fsync/sync reach the disk (default: answered at once, a build keeps only its layers)", false)
    .option("--secret <id=ID,src=FILE|env=VAR>", "a secret for RUN --mount=type=secret (repeatable)", collect, [] as string[])
    .option("--ssh <id=SOCKET>", "an ssh-agent socket for RUN --mount=type=ssh, e.g. default=$SSH_AUTH_SOCK (repeatable)", collect, [] as string[])
    .addOption(new Option("--cache-mount-dir <dir>", "where RUN --mount=type=cache directories persist").env("KILN_CACHE_MOUNT_DIR"))
    .option("--allow <entitlement>", "allow security.insecure (RUN --security=insecure) (repeatable)", collect, [] as string[])
    .addOption(new Option("--root <dir>", "build inside this directory (/ means in-container mode, needs --force outside a container)").env("KILN_ROOT"))
    .option("--force", "allow --root / outside a container", false)
    .option("--custom-platform <os/arch>", "platform to build for (must match the host for RUN)")
    .addOption(new Option("-v, --verbosity <level>", "log level").choices(["error", "warn", "info", "debug", "trace"] as const).default("info" as const))
    .addOption(new Option("--log-format <format>", "log output").choices(["text", "json", "color"] as const).default("text" as const))
    .action(async (o) => {
      await run(toBuildOptions(o));
    });
}

type RawBuildFlags = ReturnType<ReturnType<typeof buildCommand>["opts"]>;

export function toBuildOptions(o: RawBuildFlags): BuildOptions {
  const cacheTtlMs = parseDurationFlag("cache-ttl", o.cacheTtl);
  const context = o.context.startsWith("dir://") ? o.context.slice("dir://".length) : o.context;
  if (context !== "tar://stdin") {
    const abs = resolve(context);
    if (!existsSync(abs)) throw new UsageError(`flag --context: ${context}: no such file or directory`);
    const st = statSync(abs);
    if (!st.isDirectory() && !/\.tar(\.gz)?$|\.tgz$/.test(abs)) {
      throw new UsageError(`flag --context: ${context}: not a directory or a .tar/.tar.gz file`);
    }
  }
  // Checked here so a typo is exit 2 before any work, not a failure after the build.
  for (const d of o.destination) parseRegistryLocation(d, { what: "flag --destination" });
  if (o.cacheRepo !== undefined) inferCacheRepo(o.cacheRepo, []);
  if (o.customPlatform !== undefined) parsePlatformFlag("--custom-platform", o.customPlatform, { build: true });
  const push = o.push !== false;
  if (push && o.destination.length === 0 && !o.tarPath && !o.ociLayoutPath) {
    throw new UsageError("flag --destination: required unless --no-push, --tar-path or --oci-layout-path is given");
  }
  if (o.cache && !o.cacheRepo && o.destination.length === 0) {
    throw new UsageError("flag --cache: needs --cache-repo or a --destination to infer it from");
  }
  const insecure = [...o.insecureRegistry];
  if (o.insecure) insecure.push("*");
  return {
    context,
    dockerfile: o.dockerfile,
    contextSubPath: o.contextSubPath,
    destinations: o.destination,
    noPush: !push,
    tarPath: o.tarPath,
    ociLayoutPath: o.ociLayoutPath,
    digestFile: o.digestFile,
    imageNameWithDigestFile: o.imageNameWithDigestFile,
    imageNameTagWithDigestFile: o.imageNameTagWithDigestFile,
    buildArgs: parseKeyValues("build-arg", o.buildArg, true),
    labels: parseKeyValues("label", o.label, false),
    target: o.target,
    cache: o.cache,
    cacheRepo: o.cacheRepo,
    cacheDir: o.cacheDir,
    cacheTtlMs,
    cacheReport: o.cacheReport,
    noPushCache: o.pushCache === false,
    cacheRunLayers: o.cacheRunLayers as boolean,
    cacheCopyLayers: o.cacheCopyLayers as boolean,
    insecureRegistries: insecure,
    skipTlsVerify: o.skipTlsVerify,
    skipTlsVerifyRegistries: o.skipTlsVerifyRegistry,
    registryCertificates: parseKeyValues("registry-certificate", o.registryCertificate, false),
    reproducible: o.reproducible,
    singleSnapshot: o.singleSnapshot,
    snapshotMode: o.snapshotMode,
    imageFormat: o.imageFormat,
    compression: o.compression,
    compressionLevel: o.compressionLevel,
    ignorePaths: o.ignorePath,
    keepSync: o.keepSync,
    root: o.root,
    force: o.force,
    verbosity: o.verbosity,
    logFormat: o.logFormat === "json" ? "json" : "text",
    customPlatform: o.customPlatform,
    ...runMountOptions(o),
  };
}

/** KEY=VALUE list → record. With fromEnv, a bare KEY takes its value from the environment. */
export function parseKeyValues(flag: string, items: string[], fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq === 0) throw new UsageError(`flag --${flag}: "${item}": empty key`);
    if (eq < 0) {
      if (!fromEnv) throw new UsageError(`flag --${flag}: "${item}": expected KEY=VALUE`);
      const v = process.env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function parseBool(flag: string) {
  return (v: string | undefined): boolean => {
    if (v === undefined || v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    throw new UsageError(`flag --${flag}: "${v}": expected true or false`);
  };
}

function parseIntFlag(flag: string, v: string): number {
  if (!/^-?\d+$/.test(v)) throw new UsageError(`flag --${flag}: "${v}": expected a whole number`);
  return Number(v);
}
