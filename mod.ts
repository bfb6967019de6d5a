#!/usr/bin/env -S deno run -A
// kiln: library API and CLI entry point.
export type { BuildOptions } from "./src/executor/options.ts";
export { build, type BuildResult } from "./src/executor/index.ts";
export { KilnError, UsageError, DockerfileError } from "./src/util/errors.ts";
export { version, commit } from "./src/version.ts";
export { parseDuration } from "./src/util/duration.ts";
export * as dockerfile from "./src/dockerfile/index.ts";
export * as image from "./src/image/index.ts";
export * as registry from "./src/registry/index.ts";

// Run as a program (`bun mod.ts`, `deno run -A mod.ts`): the command line (src/cli/entry.ts, also
// the compiled executable's entry, which leaves the exports above out).
if (import.meta.main) await import("./src/cli/entry.ts");
