// Differential test harness: builds one case of tests/diff/cases/ with kiln and with buildah
// (builders.ts) and compares the unpacked images (compare.ts) up to docs/diff-allowlist.md.
import fs from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool } from "../env.ts";
import { diffConfigs, diffTrees, type Difference } from "./compare.ts";
import { isAllowed, loadAllowList, type AllowEntry } from "./allowlist.ts";
import { fileServer } from "./http.ts";
import { CASES_DIR, REPO, type Case } from "./cases.ts";
import { buildWithBuildah, buildWithKiln, type Built, type DiffEnv } from "./builders.ts";

export { loadCase, loadCases, CASES_DIR, type Case } from "./cases.ts";
export { buildWithBuildah, buildWithKiln, type Built, type DiffEnv } from "./builders.ts";
export const ALLOWLIST_FILE = join(REPO, "docs", "diff-allowlist.md");

export async function diffEnv(debian: boolean): Promise<DiffEnv> {
  requireTool("buildah", "buildah");
  requireTool("umoci", "umoci");
  const reg = await registry();
  const bases = await baseImages({ debian });
  return { registry: reg.host, busybox: bases.busybox, debian: bases.debian, http: await fileServer(CASES_DIR) };
}

export interface CaseResult {
  failures: Difference[];
  allowed: { d: Difference; why: AllowEntry }[];
  buildahMs: number;
  kilnMs: number;
}

export function compareBuilt(name: string, buildah: Built, kiln: Built, allow: AllowEntry[]): Pick<CaseResult, "failures" | "allowed"> {
  const all = [...diffConfigs(buildah.config, kiln.config), ...diffTrees(buildah.tree, kiln.tree)];
  const failures: Difference[] = [];
  const allowed: CaseResult["allowed"] = [];
  for (const d of all) {
    const why = isAllowed(d, name, allow);
    if (why) allowed.push({ d, why });
    else failures.push(d);
  }
  return { failures, allowed };
}

/** kiln first: while the executor is unfinished that fails fast, before spending time on buildah. */
export async function runCase(c: Case): Promise<CaseResult> {
  const env = await diffEnv(c.base === "debian");
  const allow = loadAllowList(ALLOWLIST_FILE);
  const work = fs.mkdtempSync(join(os.tmpdir(), `kiln-diff-${c.name}-`));
  try {
    const kiln = await buildWithKiln(c, env, work);
    const buildah = await buildWithBuildah(c, env, work);
    return { ...compareBuilt(c.name, buildah, kiln, allow), buildahMs: buildah.ms, kilnMs: kiln.ms };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function formatFailures(c: Case, r: CaseResult, limit = 25): string {
  const lines = [`${c.name} (${c.covers}): ${r.failures.length} difference(s) kiln vs buildah not in docs/diff-allowlist.md:`];
  for (const d of r.failures.slice(0, limit)) lines.push(`  ${d.text}`);
  if (r.failures.length > limit) lines.push(`  … and ${r.failures.length - limit} more`);
  return lines.join("\n");
}

/** At most n promises of fn in flight (two cores: two builds at a time). */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>) => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
