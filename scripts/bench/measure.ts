// Runs one command under GNU time (Debian's `time` package) and returns wall, CPU and peak RSS.
// %U/%S/%M come from wait4() on the child, so they cover every descendant it waited for: the
// whole build process tree (RUN commands included). %M is the largest single process's peak.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";

export const TIME_BIN = "/usr/bin/time";

export interface Measured {
  /** Wall seconds (hrtime around the spawn; GNU time's own %e only has 10 ms steps). */
  wall: number;
  user: number;
  sys: number;
  /** Peak resident set of the largest process in the tree, KiB. */
  rssKiB: number;
  code: number;
  /** File holding the command's stdout and stderr. */
  logFile: string;
}

export function requireTime(): void {
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} is missing: apt-get install time`);
}

export function measure(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string; timeoutMs?: number }): Promise<Measured> {
  const timeFile = `${o.logFile}.time`;
  const fd = openSync(o.logFile, "a");
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(TIME_BIN, ["-f", "%e %U %S %M", "-o", timeFile, cmd, ...args], { cwd: o.cwd, env: o.env, stdio: ["ignore", fd, fd] });
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 30 * 60_000);
    child.on("error", (e) => (clearTimeout(timer), closeSync(fd), reject(e)));
    child.on("close", (code) => {
      const wall = (performance.now() - t0) / 1000;
      clearTimeout(timer);
      closeSync(fd);
      // With a non-zero exit GNU time writes "Command exited with non-zero status N" first.
      const lines = existsSync(timeFile) ? readFileSync(timeFile, "utf8").trim().split("\n") : [];
      rmSync(timeFile, { force: true });
      const [, u, s, m] = (lines.at(-1) ?? "").split(" ").map(Number);
      resolve({ wall, user: u ?? NaN, sys: s ?? NaN, rssKiB: m ?? NaN, code: code ?? -1, logFile: o.logFile });
    });
  });
}

/** Last lines of a log, for error messages. */
export function tailOf(file: string, n = 20): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}

/** Best wall time of `runs` repetitions of `fn`, in seconds. */
export async function bestOf(runs: number, fn: () => unknown): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, (performance.now() - t) / 1000);
  }
  return min;
}
