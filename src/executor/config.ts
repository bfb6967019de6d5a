// How each metadata instruction changes the image config, as `docker build` does it.
// The planner owns one private ConfigState per stage and applies every instruction to it in
// place: a copy per step made ENV- or LABEL-heavy Dockerfiles quadratic (issue 18). Env is not
// copied per ENV either: the planner sets it once from the stage scope (finalEnv) at the end.
import { cloneJson } from "../util/clone.ts";
import type { Expanded } from "../dockerfile/index.ts";
import type { ContainerConfig } from "../image/types.ts";

export interface ConfigState {
  config: ContainerConfig;
  author?: string;
  /** Whether this stage set CMD itself (ENTRYPOINT clears only an inherited CMD). */
  cmdSetHere: boolean;
  /** Whether an ENV ran in this stage (config Env must then be taken from the scope). */
  envSet?: boolean;
}

/** A private copy of a config to apply a stage's instructions to. */
export function cloneConfigState(s: ConfigState): ConfigState {
  return { config: cloneJson(s.config), author: s.author, cmdSetHere: s.cmdSetHere, envSet: s.envSet };
}

/** Apply one expanded instruction to `s`, in place (ENV only marks envSet; see the header). */
export function applyMetadata(s: ConfigState, ins: Expanded): void {
  const c = s.config;
  switch (ins.kind) {
    case "env":
      s.envSet = true;
      break;
    case "label":
      c.Labels ??= {};
      for (const [k, v] of ins.labels) c.Labels[k] = v;
      break;
    case "workdir":
      c.WorkingDir = ins.path;
      break;
    case "user":
      c.User = ins.user;
      break;
    case "expose":
      c.ExposedPorts ??= {};
      for (const p of ins.ports) c.ExposedPorts[p] = {};
      break;
    case "volume":
      c.Volumes ??= {};
      for (const p of ins.paths) c.Volumes[p] = {};
      break;
    case "cmd":
      c.Cmd = ins.argv;
      if (!ins.json) c.ArgsEscaped = true;
      s.cmdSetHere = true;
      break;
    case "entrypoint":
      c.Entrypoint = ins.argv;
      if (!ins.json) c.ArgsEscaped = true;
      if (!s.cmdSetHere) c.Cmd = null;
      break;
    case "shell":
      c.Shell = ins.shell;
      break;
    case "healthcheck":
      c.Healthcheck = healthcheckConfig(ins.healthcheck);
      break;
    case "stopsignal":
      c.StopSignal = ins.signal;
      break;
    case "onbuild":
      (c.OnBuild ??= []).push(ins.expression);
      break;
    case "maintainer":
      s.author = ins.name;
      break;
    default:
      break;
  }
}

function healthcheckConfig(h: import("../dockerfile/index.ts").HealthcheckConfig): NonNullable<ContainerConfig["Healthcheck"]> {
  const out: NonNullable<ContainerConfig["Healthcheck"]> = { Test: h.test };
  if (h.interval) out.Interval = h.interval;
  if (h.timeout) out.Timeout = h.timeout;
  if (h.startPeriod) out.StartPeriod = h.startPeriod;
  if (h.startInterval) out.StartInterval = h.startInterval;
  if (h.retries) out.Retries = h.retries;
  return out;
}

/** BuildKit-style history text for an instruction. */
export function createdBy(ins: Expanded): string {
  switch (ins.kind) {
    case "run":
      return `RUN ${ins.argv.join(" ")} # buildkit`;
    case "copy":
    case "add":
      return `${ins.kind.toUpperCase()} ${ins.from ? `--from=${ins.from} ` : ""}${[...ins.sources, ...ins.heredocSources.map((h) => `<<${h.name}`)].join(" ")} ${ins.dest} # buildkit`;
    case "env":
      return `ENV ${ins.vars.map(([k, v]) => `${k}=${v}`).join(" ")}`;
    case "label":
      return `LABEL ${ins.labels.map(([k, v]) => `${k}=${v}`).join(" ")}`;
    case "workdir":
      return `WORKDIR ${ins.path}`;
    case "user":
      return `USER ${ins.user}`;
    case "expose":
      return `EXPOSE map[${ins.ports.map((p) => `${p}:{}`).join(" ")}]`;
    case "volume":
      return `VOLUME [${ins.paths.join(" ")}]`;
    case "cmd":
    case "entrypoint":
      return `${ins.kind.toUpperCase()} ${JSON.stringify(ins.argv ?? [])}`;
    case "shell":
      return `SHELL ${JSON.stringify(ins.shell)}`;
    case "healthcheck":
      return `HEALTHCHECK &{${JSON.stringify(ins.healthcheck.test)}}`;
    case "stopsignal":
      return `STOPSIGNAL ${ins.signal}`;
    case "onbuild":
      return `ONBUILD ${ins.expression}`;
    case "maintainer":
      return `MAINTAINER ${ins.name}`;
    case "arg":
      return `ARG ${ins.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(" ")}`;
  }
}
