// The flags of `kiln build` (and the executor entry): every flag of kaniko's executor with its
// name, short form, type and default, plus kiln's own. The help text says where kiln differs.
// src/cli/build.ts turns the parsed values into BuildOptions.
import type { FlagSpec } from "./pflag.ts";

/** How images are pulled: shared with `kiln warm`, whose flags are kaniko's warmer's. */
export const PULL_FLAGS: readonly FlagSpec[] = [
  { name: "insecure", type: "bool", help: "reach registries over plain HTTP" },
  { name: "insecure-pull", type: "bool", help: "pull base images over plain HTTP" },
  { name: "insecure-registry", type: "list", arg: "host", help: "reach this registry over plain HTTP (repeatable)" },
  { name: "skip-tls-verify", type: "bool", help: "do not verify registry TLS certificates" },
  { name: "skip-tls-verify-pull", type: "bool", help: "do not verify TLS certificates when pulling" },
  { name: "skip-tls-verify-registry", type: "list", arg: "host", help: "do not verify TLS for this registry (repeatable)" },
  { name: "registry-certificate", type: "map", arg: "host=path", help: "CA certificate for a registry (repeatable)" },
  { name: "registry-client-cert", type: "map", arg: "host=cert,key", help: "client certificate and key for mutual TLS with a registry (repeatable)" },
  { name: "registry-mirror", type: "list", arg: "host", help: "mirror of docker.io, tried in order (repeatable; env KANIKO_REGISTRY_MIRROR, ;-separated)" },
  { name: "registry-map", type: "map", arg: "orig=new;…", help: "pull registry orig from new instead (repeatable; env KANIKO_REGISTRY_MAP)" },
  { name: "skip-default-registry-fallback", type: "bool", help: "fail when no mirror has the image instead of asking the original registry" },
  { name: "image-download-retry", type: "int", arg: "n", help: "retries of a base image download", defaultText: "0" },
];

/** Logging: shared with `kiln warm`. */
export const LOG_FLAGS: readonly FlagSpec[] = [
  { name: "verbosity", short: "v", type: "string", arg: "level", help: "log level: trace, debug, info, warn, error, fatal, panic", defaultText: "info" },
  { name: "log-format", type: "string", arg: "format", help: "text, color (colour only on a terminal) or json (one object per event, the final error too)", defaultText: "color" },
  { name: "log-timestamp", type: "bool", help: "prefix each log line with a timestamp" },
];

export const BUILD_FLAGS: readonly FlagSpec[] = [
  { name: "dockerfile", short: "f", type: "string", arg: "path", help: "Dockerfile, relative to the context or absolute; - reads stdin", defaultText: "Dockerfile" },
  { name: "context", short: "c", type: "string", arg: "path", help: "build context: directory, dir://PATH, .tar/.tar.gz file, tar://PATH, tar://stdin, git://…, https://….git, https://….tar.gz", defaultText: "." },
  { name: "context-sub-path", type: "string", arg: "dir", help: "use this sub-directory of the context" },
  { name: "bucket", short: "b", type: "string", arg: "name", help: "kaniko's GCS context bucket: not supported (download the tarball and use --context tar://FILE or an https:// URL)", hidden: true },
  { name: "git", type: "map", arg: "key=value,…", help: "git context options: branch=NAME,single-branch=true,recurse-submodules=true,insecure-skip-tls=true (repeatable)" },
  { name: "destination", short: "d", type: "list", arg: "ref", help: "image reference to push to (repeatable)" },
  { name: "no-push", type: "bool", help: "build but do not push (env KANIKO_NO_PUSH)" },
  { name: "tar-path", type: "string", arg: "file", help: "also write the image as a docker-load tarball" },
  { name: "oci-layout-path", type: "string", arg: "dir", help: "also write the image to an OCI image layout directory" },
  { name: "digest-file", type: "string", arg: "file", help: "write the image digest to this file" },
  { name: "image-name-with-digest-file", type: "string", arg: "file", help: "write NAME@DIGEST for each destination" },
  { name: "image-name-tag-with-digest-file", type: "string", arg: "file", help: "write NAME:TAG@DIGEST for each destination" },
  { name: "build-arg", type: "list", arg: "key=value", help: "build-time variable (repeatable; KEY alone takes it from the environment)" },
  { name: "label", type: "list", arg: "key=value", help: "label to set on the image (repeatable)" },
  { name: "target", type: "string", arg: "stage", help: "build this stage" },
  { name: "skip-unused-stages", type: "bool", help: "build only the stages the target needs (kaniko's default builds every stage before it)", defaultText: "false" },
  { name: "custom-platform", type: "string", arg: "os/arch", help: "platform to build for (pulls that variant of the base images; RUN needs the host's)" },
  { name: "cache", type: "bool", help: "use and fill the registry layer cache" },
  { name: "cache-repo", type: "string", arg: "repo", help: "where cached layers live (registry repo, or oci:/path)", defaultText: "<first destination>/cache" },
  { name: "cache-dir", type: "string", arg: "dir", help: "local directory for base image layers (fill it with kiln warm); kaniko's default /cache is not assumed" },
  { name: "cache-ttl", type: "duration", arg: "duration", help: "cache entries older than this are misses", defaultText: "336h" },
  { name: "cache-report", type: "string", arg: "file", help: "kiln: write a JSON report of cache hits and misses" },
  { name: "no-push-cache", type: "bool", help: "read the cache but never write to it" },
  { name: "cache-run-layers", type: "bool", help: "cache RUN layers", defaultText: "true" },
  { name: "cache-copy-layers", type: "bool", help: "cache COPY/ADD layers (kiln's default is true; kaniko's is false)", defaultText: "true" },
  { name: "compressed-caching", type: "bool", help: "accepted for kaniko; no effect: kiln streams layers to disk and never holds them in memory", defaultText: "true" },
  ...PULL_FLAGS,
  { name: "push-retry", type: "int", arg: "n", help: "retries of the push", defaultText: "0" },
  { name: "push-ignore-immutable-tag-errors", type: "bool", help: "a registry's \"tag is immutable\" answer counts as pushed" },
  { name: "image-fs-extract-retry", type: "int", arg: "n", help: "retries of a base layer extraction", defaultText: "0" },
  { name: "skip-push-permission-check", type: "bool", help: "do not check push access to the destinations before building" },
  { name: "reproducible", type: "bool", help: "strip timestamps so the same inputs give the same image digest" },
  { name: "single-snapshot", type: "bool", help: "one layer per stage instead of one per step" },
  { name: "snapshot-mode", type: "string", arg: "mode", help: "how changes are found after RUN: full, redo, time (kaniko's names: kiln's walk, which compares inode, ctime, mtime, size, mode and owner, so it sees every content change), auto, walk, overlay", defaultText: "auto (= walk)" },
  { name: "use-new-run", type: "bool", help: "accepted for kaniko; no effect: kiln's RUN change detection is always its snapshotter" },
  { name: "force-build-metadata", type: "bool", help: "metadata-only steps (ENV, LABEL, …) get an empty layer, as kaniko does" },
  { name: "ignore-path", type: "list", arg: "path", help: "never snapshot this path (repeatable)" },
  { name: "ignore-var-run", type: "bool", help: "leave /var/run out of layers", defaultText: "true" },
  { name: "image-format", type: "string", arg: "format", help: "kiln: manifest media types, oci or docker", defaultText: "oci, or docker when the base is docker" },
  { name: "compression", type: "string", arg: "algo", help: "layer compression: gzip, zstd (kiln also: none)", defaultText: "gzip" },
  { name: "compression-level", type: "int", arg: "n", help: "compression level (-1: the algorithm's default)", defaultText: "-1" },
  { name: "keep-sync", type: "bool", help: "kiln: let RUN commands' fsync/sync reach the disk (default: answered at once)" },
  { name: "root", type: "string", arg: "dir", help: "kiln: build inside this directory (/ means in-container mode, needs --force outside a container; env KILN_ROOT)" },
  { name: "force", type: "bool", help: "allow --root / outside a container" },
  { name: "kaniko-dir", type: "string", arg: "dir", help: "where the build's own files live (env KANIKO_DIR; the flag wins)", defaultText: "KILN_WORKDIR or the temp dir" },
  { name: "cleanup", type: "bool", help: "remove the build's files at the end (kiln always does)" },
  ...LOG_FLAGS,
  // kaniko's deprecated spellings: they still work, with a warning.
  { name: "snapshotMode", type: "string", help: "", aliasOf: "snapshot-mode", hidden: true },
  { name: "customPlatform", type: "string", help: "", aliasOf: "custom-platform", hidden: true },
  { name: "tarPath", type: "string", help: "", aliasOf: "tar-path", hidden: true },
  { name: "whitelist-var-run", type: "bool", help: "", aliasOf: "ignore-var-run", hidden: true },
];
