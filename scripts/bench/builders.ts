// One timed build by kiln or buildah, from a fresh local state, with its registry traffic.
// kiln keeps nothing between builds (its workspace is removed at exit); it gets its own
// KILN_WORKDIR so nothing is left behind either way. buildah gets a fresh storage root and,
// through a private mount namespace, a fresh blob-info cache: containers/image keeps one in
// /var/lib/containers/cache whatever --root says, and it would remember which blobs earlier
// trials left in the registry (and mount them instead of uploading).
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { measure, tailOf } from "./measure.ts";
import { logMark, traffic, type Traffic } from "./registry-bytes.ts";

export const REPO = join(import.meta.dirname, "..", "..");
export const BUN = join(REPO, "node_modules", ".bin", "bun");
const BLOB_INFO_CACHE = "/var/lib/containers/cache";

export type BuilderName = "kiln" | "buildah";

/** How kiln is started: the compiled executable users install (bench.ts sets it), or from source. */
export const kiln = { command: [BUN, join(REPO, "mod.ts")] };

export interface BuildRun {
  builder: BuilderName;
  context: string;
  /** Where the image is pushed. */
  destination: string;
  /** Set for --cache runs (kiln --cache-repo, buildah --cache-to/--cache-from). */
  cacheRepo?: string;
  buildArgs: Record<string, string>;
  /** Scratch directory for this run only (storage, logs); removed by the caller. */
  scratch: string;
  registry: { host: string; logFile: string; dataDir: string };
}

export interface RunResult {
  wall: number;
  cpu: number;
  user: number;
  sys: number;
  rssMB: number;
  /** Cache hits and the steps they are counted among (kiln: filesystem steps from
   *  --cache-report; buildah: "Using cache" among its non-FROM steps). */
  hits: number;
  steps: number;
  traffic: Traffic;
  /** kiln only: seconds spent unpacking, and in filesystem steps (from its log). */
  unpackS?: number;
  stepS?: number;
  logFile: string;
}

export async function runBuild(r: BuildRun): Promise<RunResult> {
  mkdirSync(r.scratch, { recursive: true });
  return await build(r, join(r.scratch, `${r.builder}.log`), logMark(r.registry.logFile));
}

async function build(r: BuildRun, logFile: string, mark: number): Promise<RunResult> {
  const args = Object.entries(r.buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  let m;
  if (r.builder === "kiln") {
    const report = join(r.scratch, "cache-report.json");
    const work = join(r.scratch, "kiln-work");
    mkdirSync(work);
    m = await measure(kiln.command[0]!, [...kiln.command.slice(1), "build", "--context", r.context, "--dockerfile", "Dockerfile", "--destination", r.destination, "--insecure-registry", r.registry.host, "--cache-report", report, ...args, ...(r.cacheRepo ? ["--cache", "--cache-repo", r.cacheRepo] : [])], { cwd: REPO, env: { ...process.env, KILN_WORKDIR: work }, logFile });
    if (m.code !== 0) throw new Error(`kiln build of ${r.context} exited ${m.code}:\n${tailOf(logFile)}`);
    const rows = existsSync(report) ? (JSON.parse(readFileSync(report, "utf8")) as { hit: boolean }[]) : [];
    const log = readFileSync(logFile, "utf8");
    const sum = (re: RegExp) => [...log.matchAll(re)].reduce((s, x) => s + Number(x[1]), 0);
    return finish(m, r, mark, rows.filter((x) => x.hit).length, rows.length, logFile, { unpackS: sum(/unpacked \d+ layer\(s\) in ([\d.]+)s/g), stepS: sum(/STEP \d+\/\d+ done in ([\d.]+)s/g) });
  }
  const store = join(r.scratch, "buildah-store");
  const bic = join(r.scratch, "blob-info-cache");
  mkdirSync(bic, { recursive: true });
  mkdirSync(BLOB_INFO_CACHE, { recursive: true });
  const g = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "overlay"];
  const tag = "localhost/kiln-bench";
  const cache = r.cacheRepo ? ["--cache-to", r.cacheRepo, "--cache-from", r.cacheRepo] : [];
  // --layers always: one layer per step, like kiln, so both push the same image structure.
  const build = ["buildah", ...g, "build", "--layers", "--isolation", "chroot", "--tls-verify=false", ...cache, ...args, "-f", join(r.context, "Dockerfile"), "-t", tag, r.context];
  const push = ["buildah", ...g, "push", "--tls-verify=false", tag, `docker://${r.destination}`];
  const script = `mount --bind ${q(bic)} ${BLOB_INFO_CACHE} && ${build.map(q).join(" ")} && ${push.map(q).join(" ")}`;
  m = await measure("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", script], { cwd: r.scratch, logFile });
  if (m.code !== 0) throw new Error(`buildah build of ${r.context} exited ${m.code}:\n${tailOf(logFile)}`);
  const log = readFileSync(logFile, "utf8");
  const steps = log.split("\n").filter((l) => /^STEP \d+\/\d+: /.test(l) && !/^STEP \d+\/\d+: FROM /.test(l)).length;
  const hits = log.split("\n").filter((l) => /^--> Using cache /.test(l)).length;
  return finish(m, r, mark, hits, steps, logFile, {});
}

async function finish(m: Awaited<ReturnType<typeof measure>>, r: BuildRun, mark: number, hits: number, steps: number, logFile: string, extra: Partial<RunResult>): Promise<RunResult> {
  // The registry logs a request as its response completes: give the last line time to land.
  await new Promise((res) => setTimeout(res, 100));
  return { wall: m.wall, user: m.user, sys: m.sys, cpu: m.user + m.sys, rssMB: m.rssKiB / 1024, hits, steps, traffic: traffic(r.registry.logFile, r.registry.dataDir, mark), logFile, ...extra };
}

/** Removes a run's scratch dir; never through a live mount (buildah's mounts die with its namespace). */
export function removeScratch(dir: string): void {
  const mounted = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]).filter((p) => p?.startsWith(dir));
  if (mounted.length > 0) throw new Error(`still mounted under ${dir}: ${mounted.join(" ")}`);
  rmSync(dir, { recursive: true, force: true });
}

function q(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
