// In-container mode (kaniko's model): `--root /` builds the target stage directly in "/" of the
// container kiln runs in. Everything that is kiln's own or the runtime's must then be left out of
// layers and never overwritten by base layers.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { mountPointsToIgnore } from "../fs/mountinfo.ts";
import { isCompiled } from "../runtime/index.ts";
import { UsageError } from "../util/errors.ts";

/** Whether this process looks like it runs in a container (Docker, Podman, Kubernetes, containerd). */
export function inContainer(): boolean {
  if (existsSync("/.dockerenv") || existsSync("/run/.containerenv") || process.env.container) return true;
  if (process.env.KUBERNETES_SERVICE_HOST) return true;
  try {
    return /docker|kubepods|containerd|libpod|lxc/.test(readFileSync("/proc/1/cgroup", "utf8"));
  } catch {
    return false;
  }
}

export function checkRootFlag(root: string | undefined, force: boolean): void {
  if (root !== "/") return;
  if (!force && !inContainer()) {
    throw new UsageError("flag --root: building into / replaces this machine's files; kiln does that only inside a container (or with --force)");
  }
}

/** Paths in "/" that in-container builds never snapshot or overwrite ("/proc", "/kiln", …). */
export function inContainerIgnores(extra: { workspace: string; context: string; cacheDir?: string }): string[] {
  const own = isCompiled() ? dirname(process.execPath) : resolve(dirname(new URL(import.meta.url).pathname), "..", "..");
  const paths = [
    ...mountPointsToIgnore("/"),
    "/proc", "/sys", "/dev",
    own,
    extra.workspace,
    extra.context,
    ...(extra.cacheDir ? [extra.cacheDir] : []),
    ...(process.env.DOCKER_CONFIG ? [process.env.DOCKER_CONFIG] : []),
  ];
  const out = new Set<string>();
  for (const p of paths) {
    let real = p;
    try {
      real = realpathSync(p);
    } catch { /* not there yet: keep the lexical path */ }
    if (real !== "/" && real !== "") out.add(real);
  }
  return [...out].sort();
}
