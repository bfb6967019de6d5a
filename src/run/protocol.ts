// What the runner and its resident helper process (helper.ts) say to each other. The helper is
// started with HelperOptions in an env var, answers HelperReady on fd 3, then takes one
// HelperRequest per line on its stdin and answers HelperReply lines on fd 3. The command's
// output goes to the helper's stdout/stderr, each ended by the request's sentinel.

export const HELPER_ENV = "KILN_RUN_HELPER";
/** JSON HelperOptions. */
export const HELPER_OPTIONS_ENV = "KILN_RUN_OPTIONS";
/** The helper's reply channel. */
export const REPLY_FD = 3;

export interface HelperOptions {
  /** The helper is PID 1 of its own PID namespace and makes a mount namespace per RUN (needs CAP_SYS_ADMIN). */
  pidNamespace: boolean;
  /** Answer fsync and friends without syncing (sync-filter.ts), for every RUN this helper runs. */
  suppressSync: boolean;
  /** Make the PID namespace first and re-execute into it (helper-launch.ts); kiln's own thread does not. */
  launch?: boolean;
}

/** A file the RUN gets a copy of its own at `target`: the helper writes `content` on a tmpfs and binds it there. */
export interface FileMount {
  content: string;
  target: string;
}

/** Host paths (already resolved inside the rootfs) the helper mounts over. */
export interface MountPlan {
  proc?: string;
  sys?: string;
  dev?: string;
  resolvConf?: FileMount;
  hosts?: FileMount;
}

/**
 * A RUN --mount as the helper makes it; targets are host paths already resolved inside the rootfs
 * (placeholders created by the runner). A secret from the environment travels as its value: the
 * request goes through a pipe, never to disk.
 */
export type HelperMount =
  | { kind: "bind"; source: string; target: string; readonly: boolean; /** rw bind: writes go to a throwaway layer */ discardWrites: boolean; dir: boolean }
  | { kind: "tmpfs"; target: string; size?: number }
  | { kind: "secret"; target?: string; env?: string; from: { file: string } | { value: string }; mode: number; uid: number; gid: number };

export type NetworkMode = "default" | "none" | "host";

export interface HelperRequest {
  id: number;
  /** Written to stdout and stderr after every process of the step is gone: the end of its output. */
  sentinel: string;
  rootfs: string;
  argv: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  hostname?: string;
  /** null: no namespaces or mounts (the helper has no PID namespace: plain chroot). */
  mounts: MountPlan | null;
  /** RUN --mount, in mount order (parents before what is below them). */
  runMounts?: HelperMount[];
  /** "none": a new network namespace with only loopback up. */
  network?: NetworkMode;
  /** A directory of the runner's the helper may mount its private tmpfs on (secrets, rw binds); there when runMounts are. */
  scratchDir?: string;
}

export interface HelperReady {
  ready: true;
  syncSuppressed: boolean;
  syncReason?: string;
  /** Whether it is PID 1 of its own PID namespace after all; `reason` when it could not be. */
  pidNamespace: boolean;
  reason?: string;
}

export type HelperReply =
  /** The command runs; `pid` as the runner sees it (only meaningful without a PID namespace). */
  | { id: number; started: number }
  | FinalReply;

/** `retiring`: the helper exits after this reply (helper-host.ts threadLeftBehind); the RUN is over only once it has. */
export type FinalReply =
  | { id: number; exitCode: number; mountsUsed: boolean; reason?: string; retiring?: boolean }
  /** The step failed before the command ran; `exec` when execve refused it (the errno name). */
  | { id: number; error: string; exec?: string; exitCode?: number; retiring?: boolean };
