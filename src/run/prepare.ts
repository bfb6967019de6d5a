// The host side of a RUN's mounts, made by the runner before the helper gets the request: the
// placeholders the mount targets need (removed after the step, so snapshots never see them), the
// content of resolv.conf and hosts, and the RUN --mount list as the helper makes it.
import { readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { KilnError } from "../util/errors.ts";
import type { Placeholders } from "./placeholders.ts";
import type { HelperMount, MountPlan } from "./protocol.ts";
import { resolveInRoot } from "./root-path.ts";
import type { RunMount } from "./run-spec.ts";
import { startSshProxy, type SshProxy } from "./ssh-proxy.ts";

const MOUNT_DIRS = ["/proc", "/sys", "/dev"];
const MOUNT_FILES = ["/etc/resolv.conf", "/etc/hosts"];

/**
 * Paths the runner mounts over during a RUN (their content is never the image's). A snapshot
 * must skip them and everything below them; placeholders the runner creates are removed again.
 */
export function runnerIgnoredPaths(): string[] {
  return [...MOUNT_DIRS, ...MOUNT_FILES];
}

export function prepareMounts(rootfs: string, placeholders: Placeholders, hostname?: string): MountPlan {
  const plan: MountPlan = {};
  const at = (p: string, dir: boolean) => {
    const host = resolveInRoot(rootfs, p);
    return placeholders.ensure(host, dir) ? host : undefined;
  };
  plan.proc = at("/proc", true);
  plan.sys = at("/sys", true);
  plan.dev = at("/dev", true);
  // The helper gives the RUN copies of its own (mounts.ts), so a RUN that edits them cannot touch the host's files.
  const hostsTarget = at("/etc/hosts", false);
  if (hostsTarget) plan.hosts = { content: `127.0.0.1\tlocalhost${hostname ? ` ${hostname}` : ""}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, target: hostsTarget };
  let resolv: string | null = null;
  try {
    resolv = readFileSync("/etc/resolv.conf", "utf8");
  } catch { /* no resolver config on the host: leave the rootfs's */ }
  if (resolv !== null) {
    const target = at("/etc/resolv.conf", false);
    if (target) plan.resolvConf = { content: resolv, target };
  }
  return plan;
}

/**
 * Placeholders for the RUN's own mounts (sorted so a parent is mounted before what is below it),
 * and the helper's view of them. ssh mounts get a forwarding socket of the runner's; a secret
 * from kiln's environment travels as its value.
 */
export async function prepareRunMounts(rootfs: string, tmp: string, placeholders: Placeholders, mounts: RunMount[], proxies: SshProxy[]): Promise<HelperMount[]> {
  const out: HelperMount[] = [];
  const sorted = [...mounts].sort((a, b) => depth(a.target) - depth(b.target));
  for (const [i, m] of sorted.entries()) {
    if (m.kind === "secret") {
      const from = "file" in m.from ? m.from : { value: process.env[m.from.env] ?? "" };
      if (!m.target) {
        out.push({ ...m, from, target: undefined });
        continue;
      }
      out.push({ ...m, from, target: placeholder(rootfs, placeholders, m.target, false) });
      continue;
    }
    const dir = m.kind === "tmpfs" || (m.kind === "bind" && isDir(m.source));
    const target = placeholder(rootfs, placeholders, m.target, dir);
    if (m.kind === "ssh") {
      const proxy = await startSshProxy(m.agent, join(tmp, `ssh${i}.sock`), m.mode, m.uid, m.gid);
      proxies.push(proxy);
      out.push({ kind: "bind", source: proxy.path, target, readonly: false, discardWrites: false, dir: false });
    } else if (m.kind === "bind") out.push({ kind: "bind", source: m.source, target, readonly: m.readonly, discardWrites: m.discardWrites === true, dir });
    else out.push({ ...m, target });
  }
  return out;
}

function placeholder(rootfs: string, placeholders: Placeholders, target: string, dir: boolean): string {
  const host = resolveInRoot(rootfs, posix.resolve("/", target));
  if (!placeholders.ensure(host, dir)) throw new KilnError(`RUN --mount: ${target} exists in the image and is not a ${dir ? "directory" : "file"}`);
  return host;
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function depth(target: string | undefined): number {
  return target === undefined ? -1 : posix.resolve("/", target).split("/").length;
}
