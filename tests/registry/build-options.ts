// In-process `kiln build` for the registry tests: BuildOptions with kiln's defaults, and a
// logger whose lines are kept so a test can read the order of events.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildOptions } from "../../src/executor/options.ts";
import { Logger } from "../../src/util/log.ts";

export function buildOptions(o: Partial<BuildOptions> & Pick<BuildOptions, "context">): BuildOptions {
  return {
    dockerfile: "Dockerfile",
    destinations: [],
    noPush: false,
    buildArgs: {},
    labels: {},
    cache: false,
    cacheTtlMs: 336 * 3600_000,
    noPushCache: false,
    cacheRunLayers: true,
    cacheCopyLayers: true,
    insecureRegistries: [],
    skipTlsVerify: false,
    skipTlsVerifyRegistries: [],
    registryCertificates: {},
    reproducible: false,
    singleSnapshot: false,
    snapshotMode: "auto",
    compression: "gzip",
    ignorePaths: [],
    force: false,
    verbosity: "info",
    logFormat: "text",
    ...o,
  };
}

/** A logger that keeps its lines (and the events of JSON lines) in `lines`. */
export function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger("debug", "text", (l) => lines.push(l)), lines };
}

/** A context directory holding `dockerfile` and `files`. */
export function writeContext(dir: string, dockerfile: string, files: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return dir;
}
