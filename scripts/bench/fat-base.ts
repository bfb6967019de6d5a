// The fat-base benchmark's base image: 50,000 files (~256 MiB) built once by kiln itself from
// busybox (bench/fat-base/base.Dockerfile), kept as an OCI layout in .cache/bench/ keyed by the
// recipe and the busybox image, and pushed to the bench registry with skopeo on every run.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { BUN, REPO } from "./builders.ts";

const CACHE = join(REPO, ".cache", "bench");
const RECIPE = join(REPO, "bench", "fat-base", "base.Dockerfile");

function sh(cmd: string, args: string[], cwd = REPO): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(" ")} … exited ${r.status}:\n${(r.stderr + r.stdout).trim().split("\n").slice(-15).join("\n")}`);
}

/** The pushed fat base as REGISTRY/bench/fat-base:latest; `busybox` is the pushed busybox ref
 *  and `busyboxDigest` its manifest digest (part of the cache key). */
export async function pushFatBase(reg: { host: string }, busybox: string, busyboxDigest: string, log: (m: string) => void): Promise<string> {
  const key = createHash("sha256").update(readFileSync(RECIPE)).update(busyboxDigest).digest("hex").slice(0, 16);
  const layout = join(CACHE, `fat-base-${key}`);
  if (!existsSync(join(layout, "index.json"))) {
    log(`fat-base: building the 50,000-file base with kiln (once; cached in ${layout})`);
    mkdirSync(CACHE, { recursive: true });
    const tmp = mkdtempSync(join(CACHE, ".fat-base-"));
    try {
      const t0 = performance.now();
      sh(BUN, ["mod.ts", "build", "--context", join(REPO, "bench", "fat-base"), "--dockerfile", "base.Dockerfile", "--no-push", "--oci-layout-path", join(tmp, "layout"), "--insecure-registry", reg.host, "--build-arg", `BASE=${busybox}`]);
      renameSync(join(tmp, "layout"), layout);
      log(`fat-base: built in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const ref = `${reg.host}/bench/fat-base:latest`;
  sh("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}`, `docker://${ref}`]);
  return ref;
}
