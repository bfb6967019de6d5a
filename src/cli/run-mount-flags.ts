// `kiln build` flags for RUN --mount and --security, in buildx's syntax: --secret, --ssh,
// --cache-mount-dir, --allow. Checked here, so a typo or a missing secret file is exit 2 before
// any work. A secret's value is never read here: only where it comes from.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { splitCsv } from "../dockerfile/mount-spec.ts";
import type { RunMountOptions, SecretSource } from "../executor/options.ts";
import { UsageError } from "../util/errors.ts";

/** Entitlements --allow knows (buildx's names). kiln's RUN already shares the host network, so network.host changes nothing. */
const ENTITLEMENTS = ["security.insecure", "network.host"];

export function runMountOptions(o: { secret: string[]; ssh: string[]; cacheMountDir?: string; allow: string[] }): RunMountOptions {
  const out: RunMountOptions = {};
  if (o.secret.length) out.secrets = parseSecretFlags(o.secret);
  if (o.ssh.length) out.ssh = parseSshFlags(o.ssh);
  if (o.cacheMountDir) out.cacheMountDir = resolve(o.cacheMountDir);
  const allow = o.allow.flatMap((a) => a.split(",")).map((a) => a.trim()).filter((a) => a !== "");
  for (const a of allow) if (!ENTITLEMENTS.includes(a)) throw new UsageError(`flag --allow: "${a}": unknown entitlement (use ${ENTITLEMENTS.join(" or ")})`);
  if (allow.length) out.allow = allow;
  return out;
}

/** `id=ID,src=FILE` | `id=ID,env=VAR` | `id=ID` (the variable named ID); `type=file|env`, `source` as buildx. */
export function parseSecretFlags(items: string[]): Record<string, SecretSource> {
  const out: Record<string, SecretSource> = {};
  for (const item of items) {
    const f: Record<string, string> = {};
    for (const field of splitCsv(item)) {
      const eq = field.indexOf("=");
      const k = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
      if (!["id", "src", "source", "env", "type"].includes(k) || eq < 0) throw new UsageError(`flag --secret: "${k}": expected id=ID,src=FILE or id=ID,env=VAR`);
      f[k === "source" ? "src" : k] = field.slice(eq + 1);
    }
    const id = f.id;
    if (!id) throw new UsageError("flag --secret: id= is required (id=ID,src=FILE or id=ID,env=VAR)");
    if (f.type !== undefined && f.type !== "file" && f.type !== "env") throw new UsageError(`flag --secret: id=${id}: type must be file or env`);
    const type = f.type ?? (f.src !== undefined ? "file" : "env");
    if (type === "file") {
      const file = resolve(f.src ?? id);
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`flag --secret: id=${id}: ${f.src ?? id} is not a file`);
      out[id] = { file };
    } else {
      const name = f.env ?? f.src ?? id;
      if (process.env[name] === undefined) throw new UsageError(`flag --secret: id=${id}: environment variable ${name} is not set`);
      out[id] = { env: name };
    }
  }
  return out;
}

/** `ID=SOCKET` or `ID` alone ($SSH_AUTH_SOCK), as `--ssh default=$SSH_AUTH_SOCK`. Agent sockets only. */
export function parseSshFlags(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const id = eq < 0 ? item : item.slice(0, eq);
    const path = eq < 0 ? process.env.SSH_AUTH_SOCK : item.slice(eq + 1);
    if (!id) throw new UsageError(`flag --ssh: "${item}": expected ID=SOCKET`);
    if (!path) throw new UsageError(`flag --ssh: ${id}: no socket given and SSH_AUTH_SOCK is not set`);
    if (path.includes(",")) throw new UsageError(`flag --ssh: ${id}: key files are not supported; load them into ssh-agent and pass its socket`);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isSocket()) throw new UsageError(`flag --ssh: ${id}: ${path} is not an ssh-agent socket${st?.isFile() ? " (key files are not supported: ssh-add it to an agent)" : ""}`);
    out[id] = resolve(path);
  }
  return out;
}
