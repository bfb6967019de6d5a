// In-process builds for the stage tests: kiln's build() with an in-memory cache store, no
// registry and no push, and an image's file tree (with mtimes), config and history, for
// comparing a cached build with an uncached one.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CacheStore } from "../../src/cache/index.ts";
import type { Image } from "../../src/image/index.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { build, type BuildResult } from "../../src/executor/index.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { Logger } from "../../src/util/log.ts";
import { layerFiles, type FileInfo } from "./image-files.ts";

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function options(context: string, over: Partial<BuildOptions> = {}): BuildOptions {
  return {
    context, dockerfile: "Dockerfile", destinations: [], noPush: true, buildArgs: {}, labels: {},
    cache: false, cacheTtlMs: 0, noPushCache: false, cacheRunLayers: true, cacheCopyLayers: true,
    insecureRegistries: [], skipTlsVerify: false, skipTlsVerifyRegistries: [], registryCertificates: {},
    reproducible: true, singleSnapshot: false, snapshotMode: "auto", compression: "gzip", ignorePaths: [],
    force: false, verbosity: "warn", logFormat: "text", ...over,
  };
}

export interface InProcessBuild extends BuildResult {
  /** "H"/"M" per filesystem step. */
  hm: string;
  warnings: string[];
  /** Every log line (info and up). */
  lines: string[];
}

const outDir = tempDir("kiln-stage-out-");
let outputs = 0;

/**
 * Build `context` in-process; with a store, through it (--cache). The image is read back from
 * the --oci-layout-path output, since the build's own layer files go with its workspace.
 */
export async function buildIn(context: string, over: Partial<BuildOptions> = {}, store?: CacheStore): Promise<InProcessBuild> {
  const lines: string[] = [];
  const logger = new Logger("info", "text", (l) => lines.push(l));
  const out = join(outDir, `out${++outputs}`);
  const r = await build(options(context, { cache: !!store, ociLayoutPath: out, ...over }), logger, { cacheStore: store });
  return { ...r, image: readOciLayout(out), hm: r.report.map((x) => (x.hit ? "H" : "M")).join(""), warnings: lines.filter((l) => l.startsWith("WARN")), lines };
}

/** The image's files with their mtimes (layers applied in order), its config and history, and layer media types. */
export async function imageTree(img: Image): Promise<{ files: Record<string, FileInfo>; config: unknown; mediaTypes: string[] }> {
  const { files } = await layerFiles(img.layers, { mtime: true });
  const c = img.config as { config?: unknown; history?: { created_by?: string; empty_layer?: boolean }[] };
  return { files: Object.fromEntries([...files].sort(([a], [b]) => (a < b ? -1 : 1))), config: { config: c.config, history: c.history?.map((h) => [h.created_by, !!h.empty_layer]) }, mediaTypes: img.layers.map((l) => l.mediaType) };
}
