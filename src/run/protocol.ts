// What the runner hands to its helper process (a JSON file named by an env var) and what the helper reports
// back (JSON lines in a status file it opened before chroot, so it can still write after).

export const HELPER_ENV = "KILN_RUN_HELPER";
/** Path of the HelperSpec JSON file. */
export const HELPER_SPEC_ENV = "KILN_RUN_SPEC";

export interface BindMount {
  source: string;
  target: string;
}

/** Host paths (already resolved inside the rootfs) the helper mounts over. */
export interface MountPlan {
  proc?: string;
  sys?: string;
  dev?: string;
  resolvConf?: BindMount;
  hosts?: BindMount;
}

/**
 * A RUN --mount as the helper makes it; targets are host paths already resolved inside the rootfs
 * (placeholders created by the runner). Secrets travel as references (a file to read or an
 * environment variable of the helper), never as values: this spec is a file on disk.
 */
export type HelperMount =
  | { kind: "bind"; source: string; target: string; readonly: boolean; /** rw bind: writes go to a throwaway layer */ discardWrites: boolean; dir: boolean }
  | { kind: "tmpfs"; target: string; size?: number }
  | { kind: "secret"; target?: string; env?: string; from: { file: string } | { env: string }; mode: number; uid: number; gid: number };

export type NetworkMode = "default" | "none" | "host";

export interface HelperSpec {
  rootfs: string;
  argv: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  hostname?: string;
  /** null: do not try a mount namespace (the runner already knows it is not permitted). */
  mounts: MountPlan | null;
  /** Answer fsync and friends without syncing (sync-filter.ts). */
  suppressSync: boolean;
  statusFile: string;
  /** RUN --mount, in mount order (parents before what is below them). */
  runMounts?: HelperMount[];
  /** "none": a new network namespace with only loopback up. */
  network?: NetworkMode;
  /** A directory of the runner's the helper may mount its private tmpfs on (secrets, rw binds). */
  scratchDir?: string;
}

export type HelperStatus =
  | { mountsUsed: boolean; reason?: string; syncSuppressed?: boolean; syncReason?: string }
  | { error: string; exitCode?: number };
