// Filled in by scripts/compile.ts (via --define) for release binaries.
declare const KILN_VERSION: string | undefined;
declare const KILN_COMMIT: string | undefined;

export const version: string = typeof KILN_VERSION === "string" ? KILN_VERSION : "0.1.0-dev";
export const commit: string = typeof KILN_COMMIT === "string" ? KILN_COMMIT : "unknown";
