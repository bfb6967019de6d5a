// What `kiln build` is asked to do, after the command line has been validated.
// The library API (mod.ts) takes the same shape, so the CLI is a thin layer over it.

export type LogFormat = "text" | "json";
export type ImageFormat = "oci" | "docker";
export type Compression = "gzip" | "zstd" | "none";

export interface BuildOptions {
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
  /** `kiln plan`: compute keys and probe the cache, build nothing. */
  dryRun?: boolean;
}

