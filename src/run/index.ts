// Running RUN commands in a chroot of an unpacked rootfs.
export { runInRootfs, runnerIgnoredPaths, type RunMount, type RunResult, type RunSpec } from "./runner.ts";
export type { NetworkMode } from "./protocol.ts";
export { resolveUser, type ExecUser } from "./users.ts";
export { HELPER_ENV } from "./protocol.ts";
export { runHelper } from "./helper.ts";
