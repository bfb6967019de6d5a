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

if (import.meta.main) {
  // kiln re-executes itself as the RUN helper (src/run): that process must not parse a command line.
  if (process.env.KILN_RUN_HELPER === "1") {
    const { runHelper } = await import("./src/run/helper.ts");
    await runHelper();
  } else {
    const { main } = await import("./src/cli/main.ts");
    await main();
  }
}
