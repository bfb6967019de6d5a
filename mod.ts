#!/usr/bin/env -S deno run -A
// kiln: library API and CLI entry point.
export type { BuildOptions } from "./src/build/options.ts";
export { build } from "./src/build/index.ts";
export { KilnError, UsageError, DockerfileError } from "./src/util/errors.ts";
export { version, commit } from "./src/version.ts";
export { parseDuration } from "./src/util/duration.ts";

if (import.meta.main) {
  const { main } = await import("./src/cli/main.ts");
  await main();
}
