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
}

export type HelperStatus =
  | { mountsUsed: boolean; reason?: string; syncSuppressed?: boolean; syncReason?: string }
  | { error: string; exitCode?: number };
