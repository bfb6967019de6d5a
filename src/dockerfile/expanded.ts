// Instructions after variable expansion: what the executor acts on.
import type { Heredoc, Instruction } from "./ast.ts";
import type { HealthcheckConfig } from "./commands.ts";
import type { StageRef } from "./plan.ts";

interface Located {
  /** First and last physical line of the instruction. */
  line: number;
  endLine: number;
  /** The instruction as written (logical line). */
  original: string;
}

/** A file RUN needs mounted before it starts (heredoc scripts with a #! line). */
export interface InlineFile {
  path: string;
  data: string;
  mode: number;
}

/** A `COPY <<NAME dest` source: a file named NAME with this content. */
export interface HeredocSource {
  name: string;
  data: string;
}

export interface ExpandedRun extends Located {
  kind: "run";
  json: boolean;
  /** Arguments as parsed (one command string for the shell form). */
  args: string[];
  /** What to execute: shell prepended for the shell form, heredocs folded in. */
  argv: string[];
  heredocs: Heredoc[];
  /** Files to provide before running (see InlineFile). */
  files: InlineFile[];
  /** --mount values, raw. */
  mounts: string[];
  /** Stages or images named by from= in --mount, resolved. */
  mountFrom: StageRef[];
  network?: string;
  security?: string;
  devices: string[];
  /** The environment for the process: image/ENV variables plus ARG values ("K=V"). */
  env: string[];
  /** Build args declared in this stage with a value (part of the cache key). */
  buildArgs: Record<string, string>;
  /** Proxy variables from --build-arg (set for the process, not in the cache key). */
  proxyEnv: Record<string, string>;
}

export interface ExpandedCopy extends Located {
  kind: "copy" | "add";
  sources: string[];
  heredocSources: HeredocSource[];
  dest: string;
  /** --from as written (after global ARG expansion) and what it refers to. */
  from?: string;
  fromRef?: StageRef;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  keepGitDir: boolean;
  unpack?: boolean;
}

export type Expanded =
  | ExpandedRun
  | ExpandedCopy
  | (Located & { kind: "env"; vars: [string, string][] })
  | (Located & { kind: "arg"; args: { key: string; value?: string }[] })
  | (Located & { kind: "label"; labels: [string, string][] })
  | (Located & { kind: "workdir"; /** absolute, resolved against the previous WORKDIR */ path: string })
  | (Located & { kind: "user"; user: string })
  | (Located & { kind: "expose"; /** "80/tcp" form */ ports: string[] })
  | (Located & { kind: "volume"; paths: string[] })
  | (Located & { kind: "cmd" | "entrypoint"; json: boolean; args: string[]; /** config value: shell prepended for shell form; null for ENTRYPOINT [] */ argv: string[] | null })
  | (Located & { kind: "shell"; shell: string[] })
  | (Located & { kind: "healthcheck"; healthcheck: HealthcheckConfig })
  | (Located & { kind: "stopsignal"; signal: string })
  | (Located & { kind: "onbuild"; /** text stored in the image config's OnBuild */ expression: string; trigger: Instruction })
  | (Located & { kind: "maintainer"; name: string });

export type ExpandedKind = Expanded["kind"];
