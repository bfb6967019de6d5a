// The corpus: one directory per case under tests/diff/cases/, a Dockerfile (first line
// "# covers: ...") plus its context, and an optional case.json (base, args, parent, target,
// buildahDockerfile).
import fs from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const DIFF_DIR = dirname(fileURLToPath(import.meta.url));
export const CASES_DIR = join(DIFF_DIR, "cases");
export const REPO = resolve(DIFF_DIR, "../..");

export interface Case {
  name: string;
  dir: string;
  /** what the case is for: the Dockerfile's leading "# covers:" comment */
  covers: string;
  base: "busybox" | "debian";
  /** extra build args; values may use {{http}}, {{registry}}, {{busybox}} */
  args: Record<string, string>;
  /** a case dir to build and push first with the same builder, passed as build arg PARENT (ONBUILD) */
  parent?: string;
  target?: string;
  /** buildah 1.28 (Debian bookworm) has no heredocs: such cases give it an equivalent Dockerfile */
  buildahDockerfile: string;
  /** --secret id=ID,src=FILE for both builders: id → file in the case directory */
  secrets: Record<string, string>;
}

export function loadCase(name: string): Case {
  const dir = join(CASES_DIR, name);
  const specFile = join(dir, "case.json");
  const spec = fs.existsSync(specFile) ? JSON.parse(fs.readFileSync(specFile, "utf8")) : {};
  const df = fs.readFileSync(join(dir, "Dockerfile"), "utf8");
  const covers = /^# covers: (.*)$/m.exec(df)?.[1] ?? "";
  return { name, dir, covers, base: spec.base ?? "busybox", args: spec.args ?? {}, parent: spec.parent, target: spec.target, buildahDockerfile: spec.buildahDockerfile ?? "Dockerfile", secrets: spec.secrets ?? {} };
}

/** Every case, sorted; a case that is only some other case's parent is still a case of its own. */
export function loadCases(): Case[] {
  return fs.readdirSync(CASES_DIR).filter((n) => fs.existsSync(join(CASES_DIR, n, "Dockerfile"))).sort().map(loadCase);
}
