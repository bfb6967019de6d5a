// The auth challenge: what a registry's WWW-Authenticate asks for (Basic, or Bearer tokens from
// its token server), the credentials to answer with, and tokens cached per scope until they expire.
import type { FetchFn } from "../runtime/tls.ts";
import { version } from "../version.ts";
import { parseChallenges, type Challenge } from "./challenge.ts";
import { findCredential, readDockerConfig, type Credential } from "./docker-config.ts";
import { errorDetail, RegistryError } from "./errors.ts";
import type { RegistryOptions } from "./options.ts";
import type { RetryPolicy } from "./retry.ts";

interface CachedToken {
  token: string;
  expires: number;
}

export function userAgent(): Record<string, string> {
  return { "user-agent": `kiln/${version}` };
}

/** The challenge to answer: Bearer when offered, else Basic. */
export function pickChallenge(header: string | null): Challenge | undefined {
  const all = parseChallenges(header);
  return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
}

export class Authenticator {
  private readonly challenges = new Map<string, Challenge>();
  private readonly credentials = new Map<string, Promise<Credential | undefined>>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly opts: RegistryOptions,
    private readonly retry: RetryPolicy,
    private readonly fetcherFor: (url: string) => FetchFn,
    private readonly log: (line: string) => void,
  ) {}

  /** Remember what the registry asked for (from /v2/ or any 401). */
  learn(registry: string, ch: Challenge | undefined): void {
    if (ch) this.challenges.set(registry, ch);
  }

  hasChallenge(registry: string): boolean {
    return this.challenges.has(registry);
  }

  credential(registry: string): Promise<Credential | undefined> {
    let p = this.credentials.get(registry);
    if (!p) this.credentials.set(registry, (p = (this.opts.credentials ?? ((r) => findCredential(r, this.opts.dockerConfigDir)))(registry)));
    return p;
  }

  /** The Authorization header for a request with these token scopes, if the registry wants one. */
  async authorization(registry: string, scopes: string[]): Promise<string | undefined> {
    const ch = this.challenges.get(registry);
    if (!ch) return undefined;
    const cred = await this.credential(registry);
    if (ch.scheme === "basic") {
      if (cred?.kind === "basic") return "Basic " + Buffer.from(`${cred.username}:${cred.password}`).toString("base64");
      return undefined;
    }
    if (cred?.kind === "bearer") return `Bearer ${cred.token}`;
    const key = tokenKey(registry, scopes);
    let p = this.tokens.get(key);
    if (p) {
      const t = await p.catch(() => undefined);
      if (t && t.expires > Date.now()) return `Bearer ${t.token}`;
      this.tokens.delete(key);
    }
    p = this.fetchToken(registry, ch, scopes, cred);
    this.tokens.set(key, p);
    p.catch(() => this.tokens.delete(key));
    return `Bearer ${(await p).token}`;
  }

  forgetToken(registry: string, scopes: string[]): void {
    this.tokens.delete(tokenKey(registry, scopes));
  }

  private async fetchToken(registry: string, ch: Challenge, scopes: string[], cred: Credential | undefined): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError(`registry ${registry}: Bearer challenge without a realm`, 401);
    const url = new URL(realm);
    const service = ch.params.service;
    const headers: Record<string, string> = userAgent();
    let init: RequestInit;
    if (cred?.kind === "identity") {
      // OAuth2 refresh-token grant (what docker does with identity tokens).
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.token, client_id: "kiln" });
      if (service) form.set("service", service);
      for (const s of scopes) form.append("scope", s);
      headers["content-type"] = "application/x-www-form-urlencoded";
      init = { method: "POST", headers, body: form.toString(), redirect: "manual" };
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (cred?.kind === "basic") {
        headers.authorization = "Basic " + Buffer.from(`${cred.username}:${cred.password}`).toString("base64");
        url.searchParams.set("account", cred.username);
      }
      init = { method: "GET", headers, redirect: "manual" };
    }
    const started = Date.now();
    const res = await this.retry.fetch((signal) => this.fetcherFor(url.href)(url.href, { ...init, signal }), url.origin + url.pathname, true);
    this.log(`token ${url.origin}${url.pathname} [${scopes.join(" ")}] → ${res.status}`);
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw this.unauthorized(registry, cred, `token server ${url.host} refused`);
    }
    if (!res.ok) {
      const d = await errorDetail(res);
      throw new RegistryError(`registry ${registry}: token server ${url.host} answered ${res.status} ${d.text}`.trim(), res.status);
    }
    const j = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = j.token ?? j.access_token;
    if (!token) throw new RegistryError(`registry ${registry}: token server ${url.host} returned no token`, res.status);
    const ttl = Math.max(j.expires_in ?? 60, 60) * 1000;
    return { token, expires: started + ttl - 10_000 };
  }

  /** The error for a refused request: names the registry and where credentials were looked for, never the secret. */
  unauthorized(registry: string, cred: Credential | undefined, what = "authentication required"): RegistryError {
    const file = readDockerConfig(this.opts.dockerConfigDir).file;
    const why = cred ? "the credentials kiln found were rejected" : `no credentials for ${registry} in ${file} (run docker login ${registry}, or set DOCKER_CONFIG)`;
    return new RegistryError(`unauthorized: registry ${registry}: ${what}; ${why}`, 401, "UNAUTHORIZED");
  }
}

function tokenKey(registry: string, scopes: string[]): string {
  return `${registry} ${[...scopes].sort().join(" ")}`;
}
