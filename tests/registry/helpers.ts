// Shared bits of the registry tests: skopeo runs and registry access-log reading.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { requireTool } from "../env.ts";

/** Run skopeo; throws with its stderr on failure. */
export function skopeo(...args: string[]): string {
  requireTool("skopeo", "skopeo");
  const r = spawnSync("skopeo", ["--insecure-policy", ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Access-log lines (request lines) written since `from` (a byte offset of the log). */
export function accessLog(logFile: string, from = 0): string[] {
  return readFileSync(logFile, "utf8").slice(from).split("\n").filter((l) => /"(GET|HEAD|PUT|POST|PATCH|DELETE) /.test(l));
}

export function logSize(logFile: string): number {
  return readFileSync(logFile).length;
}
