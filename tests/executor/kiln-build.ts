// `kiln build` as a user runs it (a child process of mod.ts), with its cache report: for the end-to-end tests.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const argv = (ctx: string, dest: string, report: string, args: string[]) => [join(root, "mod.ts"), "build", "-c", ctx, "-d", dest, "--cache-report", report, ...args];
const bun = join(root, "node_modules", ".bin", "bun");

export interface ReportRow { stage: number; hit: boolean; instruction: string; layer?: string }
export interface Built { code: number | null; err: string; report: ReportRow[] }

let n = 0;

function readReport(report: string): ReportRow[] {
  try {
    return JSON.parse(readFileSync(report, "utf8"));
  } catch {
    return []; // no report when the build failed
  }
}

/** Build synchronously; the report is written under `tmp`. */
export function kilnBuild(tmp: string, ctx: string, dest: string, args: string[]): Built {
  const report = join(tmp, `report-${++n}.json`);
  const r = spawnSync(bun, argv(ctx, dest, report, args), { encoding: "utf8" });
  return { code: r.status, err: r.stderr, report: readReport(report) };
}

/** Build without blocking this process (a server it runs, e.g. a git server, keeps answering). */
export async function kilnBuildAsync(tmp: string, ctx: string, dest: string, args: string[]): Promise<Built> {
  const report = join(tmp, `report-${++n}.json`);
  const child = spawn(bun, argv(ctx, dest, report, args), { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  return { code, err, report: readReport(report) };
}

/** "HMM…": hit or miss per filesystem step, in report order. */
export const hitMiss = (b: Built) => b.report.map((r) => (r.hit ? "H" : "M")).join("");
