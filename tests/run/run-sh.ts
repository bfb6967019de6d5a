// `sh -c SCRIPT` through runInRootfs with its output captured: the runner tests' common call.
import { runInRootfs, type RunResult, type RunSpec } from "../../src/run/index.ts";

export type ShResult = RunResult & { stdout: string; stderr: string };

/** A function running a shell script in `rootfs` (PATH=/bin, cwd /, plus `defaults`), output captured. */
export function shIn(rootfs: string, defaults: Partial<RunSpec> = {}): (script: string, extra?: Partial<RunSpec>) => Promise<ShResult> {
  return async (script, extra = {}) => {
    let stdout = "";
    let stderr = "";
    const out = new TextDecoder();
    const err = new TextDecoder();
    const r = await runInRootfs({
      rootfs, argv: ["/bin/sh", "-c", script], env: ["PATH=/bin"], cwd: "/",
      onOutput: (chunk, stream) => (stream === "stdout" ? (stdout += out.decode(chunk, { stream: true })) : (stderr += err.decode(chunk, { stream: true }))),
      ...defaults,
      ...extra,
    });
    return { ...r, stdout, stderr };
  };
}
