// Running RUN commands in a chroot of an unpacked rootfs.
export { runInRootfs } from "./runner.ts";
export { runnerIgnoredPaths } from "./prepare.ts";
export type { RunMount, RunResult, RunSpec } from "./run-spec.ts";
export type { NetworkMode } from "./protocol.ts";
export { resolveUser, type ExecUser } from "./users.ts";
export { HELPER_ENV } from "./protocol.ts";
export { runHelper } from "./helper.ts";
export { closeRunHelpers, holdRunHelpers, prewarmRunHelper, runHelperPids, runHelperStarts } from "./pool.ts";
