// Registry credentials the way the docker CLI finds them: $DOCKER_CONFIG/config.json (or
// ~/.docker/config.json) with `auths`, `credHelpers` and `credsStore`. Secrets stay in
// memory: nothing here logs them, and errors name only the registry and the helper.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { registerSecret } from "../util/redact.ts";

export type Credential =
  | { kind: "basic"; username: string; password: string }
  /** An OAuth2 refresh token (docker login with identity tokens; helpers return it with Username "<token>"). */
  | { kind: "identity"; username?: string; token: string }
  /** A ready bearer token sent as-is (docker config `registrytoken`). */
  | { kind: "bearer"; token: string };

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const HUB_KEYS = ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io", "https://registry-1.docker.io"];

/** The directory holding config.json: the option, then $DOCKER_CONFIG, then ~/.docker. */
export function dockerConfigDir(dir?: string): string {
  return dir ?? process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? homedir(), ".docker");
}

export function readDockerConfig(dir?: string): { file: string; config: DockerConfigFile } {
  const file = join(dockerConfigDir(dir), "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { file, config: {} };
  }
  try {
    return { file, config: JSON.parse(text) as DockerConfigFile };
  } catch {
    throw new KilnError(`${file}: not valid JSON`);
  }
}

/** "https://host:5000/v2/" → "host:5000"; the Docker Hub aliases all become "docker.io". */
export function normalizeRegistryKey(key: string): string {
  const k = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
  return HUB_KEYS.some((h) => normalizeRaw(h) === k) ? "docker.io" : k;
}

function normalizeRaw(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
}

/**
 * Credentials for a registry (as written in references: "docker.io", "ghcr.io", "host:5000"),
 * or undefined for anonymous access. Order as in the docker CLI: a per-registry credHelper,
 * then credsStore, then the `auths` entry.
 */
export async function findCredential(registry: string, dir?: string): Promise<Credential | undefined> {
  const c = await lookupCredential(registry, dir);
  // Masked in every message kiln prints from now on (src/util/redact.ts).
  if (c?.kind === "basic") [c.password, Buffer.from(`${c.username}:${c.password}`).toString("base64")].forEach(registerSecret);
  else if (c) registerSecret(c.token);
  return c;
}

async function lookupCredential(registry: string, dir?: string): Promise<Credential | undefined> {
  const { file, config } = readDockerConfig(dir);
  const want = normalizeRegistryKey(registry);
  const helperKeyFor = (keys: Record<string, string>) => Object.keys(keys).find((k) => normalizeRegistryKey(k) === want);
  const helperKey = config.credHelpers ? helperKeyFor(config.credHelpers) : undefined;
  const serverUrl = want === "docker.io" ? "https://index.docker.io/v1/" : registry;
  if (helperKey) return runCredentialHelper(config.credHelpers![helperKey]!, serverUrl, registry);
  if (config.credsStore) {
    const c = await runCredentialHelper(config.credsStore, serverUrl, registry);
    if (c) return c;
  }
  const authKey = Object.keys(config.auths ?? {}).find((k) => normalizeRegistryKey(k) === want);
  if (!authKey) return undefined;
  const a = config.auths![authKey]!;
  if (a.registrytoken) return { kind: "bearer", token: a.registrytoken };
  if (a.identitytoken) return { kind: "identity", token: a.identitytoken };
  if (a.auth) {
    const decoded = Buffer.from(a.auth, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0) throw new KilnError(`${file}: the "auth" entry for ${registry} is not base64 of user:password`);
    return { kind: "basic", username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (a.username !== undefined && a.password !== undefined) return { kind: "basic", username: a.username, password: a.password };
  return undefined;
}

/** `docker-credential-<name> get` with the server URL on stdin; "not found" means anonymous. */
export function runCredentialHelper(name: string, serverUrl: string, registry: string): Promise<Credential | undefined> {
  const exe = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(exe, ["get"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(new KilnError(e.code === "ENOENT" ? `credential helper ${exe} (for ${registry}) is not on PATH` : `credential helper ${exe} (for ${registry}): ${e.message}`));
    });
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString("utf8").trim();
      if (code !== 0) {
        // The helper protocol reports a missing entry as this message on stdout.
        if (/credentials not found/i.test(stdout) || /credentials not found/i.test(Buffer.concat(err).toString())) return resolve(undefined);
        return reject(new KilnError(`credential helper ${exe} failed for ${registry} (exit ${code})`));
      }
      let r: { Username?: string; Secret?: string };
      try {
        r = JSON.parse(stdout);
      } catch {
        return reject(new KilnError(`credential helper ${exe} returned something that is not JSON for ${registry}`));
      }
      if (!r.Secret) return resolve(undefined);
      if (r.Username === "<token>") return resolve({ kind: "identity", token: r.Secret });
      resolve({ kind: "basic", username: r.Username ?? "", password: r.Secret });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(serverUrl);
  });
}
