// What `kiln build` is asked to do, after the command line has been validated.
// The library API (mod.ts) takes the same shape, so the CLI is a thin layer over it.

import type { GitContextOptions } from "./context-remote.ts";

export type LogFormat = "text" | "json";
export type ImageFormat = "oci" | "docker";
export type Compression = "gzip" | "zstd" | "none";

export interface BuildOptions extends RunMountOptions {
  /** Build context: a directory path (also given as dir://PATH), a .tar/.tar.gz file, or "tar://stdin". */
  context: string;
  /** Dockerfile path: absolute, relative to the context, or "-" for stdin. */
  dockerfile: string;
  contextSubPath?: string;
  destinations: string[];
  noPush: boolean;
  tarPath?: string;
  ociLayoutPath?: string;
  digestFile?: string;
  imageNameWithDigestFile?: string;
  imageNameTagWithDigestFile?: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  target?: string;
  cache: boolean;
  cacheRepo?: string;
  cacheDir?: string;
  cacheTtlMs: number;
  cacheReport?: string;
  noPushCache: boolean;
  cacheRunLayers: boolean;
  cacheCopyLayers: boolean;
  /** --cache-run-mounts: keep RUN --mount=type=cache directories in the cache repository too (docs/cache.md). */
  cacheRunMounts?: boolean;
  /** Registries reached over plain HTTP (hosts, host:port). "*" when --insecure was given. */
  insecureRegistries: string[];
  skipTlsVerify: boolean;
  skipTlsVerifyRegistries: string[];
  registryCertificates: Record<string, string>;
  reproducible: boolean;
  singleSnapshot: boolean;
  snapshotMode: "auto" | "walk" | "overlay";
  imageFormat?: ImageFormat;
  compression: Compression;
  compressionLevel?: number;
  ignorePaths: string[];
  /** Let RUN's fsync/sync reach the disk; by default they are answered without syncing (src/run/sync-filter.ts). */
  keepSync?: boolean;
  /** Build directory root (rootfs, temp layers). "/" only in in-container mode. */
  root?: string;
  force: boolean;
  verbosity: "error" | "warn" | "info" | "debug" | "trace";
  logFormat: LogFormat;
  customPlatform?: string;
  /** --platform values (each may be a comma list): two or more platforms build and push one image index. */
  platforms?: string[];
  /** `kiln plan`: compute keys and probe the cache, build nothing. */
  dryRun?: boolean;

  // ---- kaniko's registry flags (issue 15); all optional so the library API stays small ----
  /** --registry-mirror: mirrors of docker.io, tried in order (env KANIKO_REGISTRY_MIRROR). */
  registryMirrors?: string[];
  /** --registry-map: registry host → replacement hosts, tried in order (env KANIKO_REGISTRY_MAP). */
  registryMaps?: Record<string, string[]>;
  /** --skip-default-registry-fallback: no fallback to the original registry when every mirror misses. */
  skipDefaultRegistryFallback?: boolean;
  /** --insecure-pull: pulls (not pushes) may use plain HTTP. */
  insecurePull?: boolean;
  /** --skip-tls-verify-pull: pulls (not pushes) skip TLS verification. */
  skipTlsVerifyPull?: boolean;
  /** --registry-client-cert host=cert,key: mutual TLS per registry. */
  registryClientCerts?: Record<string, { cert: string; key: string }>;
  /** --push-retry: extra attempts of the whole push. */
  pushRetry?: number;
  /** --image-download-retry: extra attempts of a base image download. */
  imageDownloadRetry?: number;
  /** --image-fs-extract-retry: extra attempts of a base layer extraction. */
  imageFsExtractRetry?: number;
  /** --push-ignore-immutable-tag-errors: a "tag is immutable" refusal counts as pushed. */
  pushIgnoreImmutableTagErrors?: boolean;
  /** --skip-push-permission-check: do not check push access before building. */
  skipPushPermissionCheck?: boolean;
  /** --ignore-var-run (default true): /var/run stays out of layers. */
  ignoreVarRun?: boolean;
  /** --skip-unused-stages (kaniko default false: every stage before the target is built). */
  skipUnusedStages?: boolean;
  /** --cleanup: remove the build's files at the end (kiln always does; kept for the meaning). */
  cleanup?: boolean;
  /** --force-build-metadata: metadata-only steps get an (empty) layer, as kaniko does. */
  forceBuildMetadata?: boolean;
  /** --log-timestamp: prefix every log line with a timestamp. */
  logTimestamp?: boolean;
  /** --kaniko-dir (env KANIKO_DIR): the directory the build's own files (workspace) go in. */
  kanikoDir?: string;
  /** --git: options for git:// and https://….git contexts. */
  git?: GitContextOptions;
}


/** Where a build secret's value comes from (--secret id=ID,src=FILE or id=ID,env=VAR). */
export type SecretSource = { file: string } | { env: string };

/** RUN --mount and --network inputs (issue 16), kept apart from the kaniko fields above. */
export interface RunMountOptions {
  /** --secret: values for RUN --mount=type=secret, by id; never logged, keyed, cached or stored. */
  secrets?: Record<string, SecretSource>;
  /** --ssh ID=SOCKET: ssh-agent sockets for RUN --mount=type=ssh, by id. */
  ssh?: Record<string, string>;
  /** --cache-mount-dir (env KILN_CACHE_MOUNT_DIR): where RUN --mount=type=cache directories persist. */
  cacheMountDir?: string;
  /** --allow: entitlements; "security.insecure" permits RUN --security=insecure. */
  allow?: string[];
}
