// What a caller asks of runInRootfs (one RUN) and what it gets back.
import type { NetworkMode } from "./protocol.ts";

export interface RunSpec {
  /** Absolute path of the unpacked root filesystem. */
  rootfs: string;
  /** The final argv: ["/bin/sh", "-c", "echo hi"] for shell form. */
  argv: string[];
  /** "K=V" list; PATH from here is used for the lookup inside the chroot. PATH and HOME get Docker's defaults when missing. */
  env: string[];
  /** Working directory inside the rootfs; created (root-owned) if missing. */
  cwd: string;
  /** "", "name", "uid", "uid:gid", "name:group", resolved in the rootfs's /etc/passwd and /etc/group. */
  user?: string;
  hostname?: string;
  /** Default: the command's output goes to kiln's stdout/stderr. */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  /** Abort: SIGTERM to the whole tree, SIGKILL 1 s later; resolves with 128+signal (rejects with the reason when it is a KilnError, as kiln's own `interrupted` is). */
  signal?: AbortSignal;
  /** Where the runner keeps its own files for RUN --mount (the secrets' private tmpfs, ssh sockets); default the OS temp dir. */
  tmpDir?: string;
  /** Where the one-line "running without mounts" notice goes (default: stderr). */
  warn?: (message: string) => void;
  /** Let the command's fsync/fdatasync/sync reach the disk (default: answered without syncing, see sync-filter.ts). */
  keepSync?: boolean;
  /** RUN --mount, host side (src/executor/run-mounts.ts plans them); targets absolute inside the rootfs. */
  mounts?: RunMount[];
  /** RUN --network: "none" = own network namespace with only loopback; default and host share the host's. */
  network?: NetworkMode;
}

/** One RUN --mount with host paths; its target is created when missing and removed again after the step. */
export type RunMount =
  | { kind: "bind"; source: string; target: string; readonly: boolean; /** rw: writes are thrown away */ discardWrites?: boolean }
  | { kind: "tmpfs"; target: string; size?: number }
  | { kind: "secret"; target?: string; env?: string; from: { file: string } | { env: string }; mode: number; uid: number; gid: number }
  | { kind: "ssh"; agent: string; target: string; mode: number; uid: number; gid: number };

export interface RunResult {
  exitCode: number;
  /** false when mounts/namespaces were not permitted and a plain chroot was used. */
  mountsUsed: boolean;
  /** Whether the sync filter was installed; when asked for and refused, why not. */
  syncSuppressed: boolean;
  syncReason?: string;
}
