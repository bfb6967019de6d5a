// One-line, human-readable renderings of expanded instructions (for `kiln parse` and logs).
import type { Expanded } from "./expanded.ts";

const q = (s: string) => (/^[^\s"'\\$]*$/.test(s) && s !== "" ? s : JSON.stringify(s));
const kv = (pairs: [string, string][]) => pairs.map(([k, v]) => `${q(k)}=${q(v)}`).join(" ");

function ns(n: number): string {
  if (n % 1e9 === 0) return `${n / 1e9}s`;
  if (n % 1e6 === 0) return `${n / 1e6}ms`;
  return `${n}ns`;
}

export function formatExpanded(e: Expanded): string {
  switch (e.kind) {
    case "run": {
      const flags = [
        ...e.mounts.map((m) => `--mount=${m}`),
        ...(e.network ? [`--network=${e.network}`] : []),
        ...(e.security ? [`--security=${e.security}`] : []),
        ...e.devices.map((d) => `--device=${d}`),
      ];
      const body = e.json ? JSON.stringify(e.args) : e.args[0]!;
      const docs = e.heredocs.map((h) => ` [heredoc ${h.name}: ${h.content.split("\n").length - 1} lines]`).join("");
      return ["RUN", ...flags, body].join(" ") + docs;
    }
    case "copy":
    case "add": {
      const flags: string[] = [];
      if (e.from !== undefined) {
        const ref = e.fromRef && ("stage" in e.fromRef ? ` (stage ${e.fromRef.stage})` : " (image)");
        flags.push(`--from=${e.from}${ref ?? ""}`);
      }
      if (e.chown !== undefined) flags.push(`--chown=${e.chown}`);
      if (e.chmod !== undefined) flags.push(`--chmod=${e.chmod}`);
      if (e.link) flags.push("--link");
      if (e.parents) flags.push("--parents");
      if (e.keepGitDir) flags.push("--keep-git-dir");
      if (e.checksum !== undefined) flags.push(`--checksum=${e.checksum}`);
      for (const x of e.exclude) flags.push(`--exclude=${x}`);
      const srcs = [...e.sources.map(q), ...e.heredocSources.map((h) => `<<${h.name}`)];
      return [e.kind.toUpperCase(), ...flags, ...srcs, "->", q(e.dest)].join(" ");
    }
    case "env":
      return `ENV ${kv(e.vars)}`;
    case "label":
      return `LABEL ${kv(e.labels)}`;
    case "arg":
      return `ARG ${e.args.map((a) => (a.value === undefined ? `${a.key} (unset)` : `${a.key}=${q(a.value)}`)).join(" ")}`;
    case "workdir":
      return `WORKDIR ${q(e.path)}`;
    case "user":
      return `USER ${q(e.user)}`;
    case "expose":
      return `EXPOSE ${e.ports.join(" ")}`;
    case "volume":
      return `VOLUME ${JSON.stringify(e.paths)}`;
    case "cmd":
    case "entrypoint":
      return `${e.kind.toUpperCase()} ${JSON.stringify(e.argv)}`;
    case "shell":
      return `SHELL ${JSON.stringify(e.shell)}`;
    case "healthcheck": {
      const h = e.healthcheck;
      if (h.test[0] === "NONE") return "HEALTHCHECK NONE";
      const opts: string[] = [];
      if (h.interval) opts.push(`--interval=${ns(h.interval)}`);
      if (h.timeout) opts.push(`--timeout=${ns(h.timeout)}`);
      if (h.startPeriod) opts.push(`--start-period=${ns(h.startPeriod)}`);
      if (h.startInterval) opts.push(`--start-interval=${ns(h.startInterval)}`);
      if (h.retries) opts.push(`--retries=${h.retries}`);
      return ["HEALTHCHECK", ...opts, JSON.stringify(h.test)].join(" ");
    }
    case "stopsignal":
      return `STOPSIGNAL ${e.signal}`;
    case "onbuild":
      return `ONBUILD ${e.expression.split("\n")[0]}`;
    case "maintainer":
      return `MAINTAINER ${e.name}`;
  }
}
