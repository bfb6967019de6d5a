// HTTP for the registry client: scheme and TLS choice per registry, auth (Basic and Bearer
// tokens from WWW-Authenticate challenges), redirects followed by hand, and retries.
import { readFileSync } from "node:fs";
import { fetchWithTls, type FetchFn, type TlsSettings } from "../runtime/tls.ts";
import { KilnError } from "../util/errors.ts";
import { version } from "../version.ts";
import { parseChallenges, type Challenge } from "./challenge.ts";
import { findCredential, readDockerConfig, type Credential } from "./docker-config.ts";
import { errorDetail, RegistryError } from "./errors.ts";

export interface RegistryOptions {
  /** Hosts ("host", "host:port") reached over plain HTTP when HTTPS fails; "*" = all. Loopback always is. */
  insecureRegistries?: string[];
  skipTlsVerify?: boolean;
  skipTlsVerifyRegistries?: string[];
  /** host → PEM CA file trusted for that registry. */
  registryCertificates?: Record<string, string>;
  dockerConfigDir?: string;
  /** Treat localhost/127.0.0.0/8/::1 like any other host: verify TLS, no plain-HTTP fallback. */
  secureLoopback?: boolean;
  /** Retries after the first attempt for connection errors, 5xx and 429 (default 4). */
  retries?: number;
  /** First backoff delay; doubles per retry (default 500 ms). */
  retryDelayMs?: number;
  /**
   * Give up on a request when no bytes move for this long: no response headers after the body
   * was sent, or a response body that stops (default 120 s). Counts as a connection error (retried).
   */
  idleTimeoutMs?: number;
  /** Debug lines (method, URL without query, status). Never given credentials or tokens. */
  log?: (line: string) => void;
  /** Override where credentials come from (default: docker config.json and helpers). */
  credentials?: (registry: string) => Promise<Credential | undefined>;
}

export interface RegistryRequest {
  /** The registry as written in references ("docker.io", "127.0.0.1:5000"). */
  registry: string;
  method: string;
  /** "/v2/…" relative to the registry, or an absolute URL (an upload Location). */
  path: string;
  headers?: Record<string, string>;
  /** Body factory, called once per attempt so retries and 307s can resend. */
  body?: () => RequestInit["body"];
  /** Token scopes, e.g. "repository:library/busybox:pull". */
  scopes: string[];
  /** Retry on 5xx/429/connection errors (default true). */
  retry?: boolean;
}

interface HostState {
  base: Promise<string>;
  challenge?: Challenge;
  credential?: Promise<Credential | undefined>;
}

interface CachedToken {
  token: string;
  expires: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The API host behind a registry name (Docker Hub's registry is not at docker.io). */
export function apiHost(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}

/** localhost, 127.0.0.0/8 and ::1 are insecure by default, as in Docker and containerd. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function hostMatches(list: readonly string[] | undefined, registry: string): boolean {
  if (!list?.length) return false;
  const name = registry.replace(/:\d+$/, "");
  return list.some((h) => h === "*" || h === registry || h === name || h === apiHost(registry));
}

export class Transport {
  private readonly hosts = new Map<string, HostState>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private readonly fetchers = new Map<string, FetchFn>();
  readonly retries: number;
  readonly retryDelayMs: number;
  private readonly idleTimeoutMs: number;

  constructor(readonly opts: RegistryOptions = {}) {
    // The environment variables exist for tests and for CI with flaky registries (no CLI flags for these).
    this.retries = opts.retries ?? envInt("KILN_REGISTRY_RETRIES") ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? envInt("KILN_REGISTRY_RETRY_DELAY_MS") ?? 500;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? envInt("KILN_REGISTRY_TIMEOUT_MS") ?? 120_000;
  }

  isInsecure(registry: string): boolean {
    return (!this.opts.secureLoopback && isLoopback(registry)) || hostMatches(this.opts.insecureRegistries, registry);
  }

  private tlsFor(host: string): TlsSettings {
    const o = this.opts;
    const skipVerify = !!o.skipTlsVerify || hostMatches(o.skipTlsVerifyRegistries, host) || this.isInsecure(host);
    const certs = o.registryCertificates ?? {};
    const caFile = certs[host] ?? certs[host.replace(/:\d+$/, "")];
    let caPem: string | undefined;
    if (caFile) {
      try {
        caPem = readFileSync(caFile, "utf8");
      } catch (e) {
        throw new KilnError(`--registry-certificate for ${host}: cannot read ${caFile}: ${(e as Error).message}`);
      }
    }
    return { skipVerify, caPem };
  }

  private fetcherFor(url: string): FetchFn {
    const host = new URL(url).host;
    let f = this.fetchers.get(host);
    if (!f) this.fetchers.set(host, (f = fetchWithTls(this.tlsFor(host))));
    return f;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private host(registry: string): HostState {
    let st = this.hosts.get(registry);
    if (!st) {
      st = { base: Promise.resolve("") };
      st.base = this.ping(registry, st);
      st.base.catch(() => this.hosts.delete(registry)); // let a later call try again
      this.hosts.set(registry, st);
    }
    return st;
  }

  /** "https://host" or "http://host", learned once per registry with GET /v2/. */
  baseUrl(registry: string): Promise<string> {
    return this.host(registry).base;
  }

  private async ping(registry: string, st: HostState): Promise<string> {
    const host = apiHost(registry);
    const insecure = this.isInsecure(registry);
    const schemes = insecure ? ["https", "http"] : ["https"];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = `${scheme}://${host}`;
      try {
        const res = await this.withRetries(
          (signal) => this.fetcherFor(base)(`${base}/v2/`, { method: "GET", headers: this.baseHeaders(), redirect: "manual", signal }),
          `${base}/v2/`,
          // An insecure host that does not speak TLS fails at once; no point retrying HTTPS there.
          !(insecure && scheme === "https"),
        );
        await res.body?.cancel();
        if (res.status === 401) st.challenge = pickChallenge(res.headers.get("www-authenticate"));
        this.log(`ping ${base}/v2/ → ${res.status}${st.challenge ? ` (${st.challenge.scheme} auth)` : ""}`);
        return base;
      } catch (e) {
        lastErr = e;
      }
    }
    const msg = networkMessage(lastErr);
    const hint = insecure ? "" : isTlsError(lastErr) ? ` (use --registry-certificate ${registry}=CA.pem, or --skip-tls-verify-registry ${registry})` : ` (a plain-HTTP registry needs --insecure-registry ${registry})`;
    throw new RegistryError(`cannot reach registry ${registry}: ${msg}${hint}`, 0);
  }

  private baseHeaders(): Record<string, string> {
    return { "user-agent": `kiln/${version}` };
  }

  private credential(registry: string, st: HostState): Promise<Credential | undefined> {
    return (st.credential ??= (this.opts.credentials ?? ((r) => findCredential(r, this.opts.dockerConfigDir)))(registry));
  }

  private async authorization(registry: string, st: HostState, scopes: string[]): Promise<string | undefined> {
    const ch = st.challenge;
    if (!ch) return undefined;
    const cred = await this.credential(registry, st);
    if (ch.scheme === "basic") {
      if (cred?.kind === "basic") return "Basic " + Buffer.from(`${cred.username}:${cred.password}`).toString("base64");
      return undefined;
    }
    if (cred?.kind === "bearer") return `Bearer ${cred.token}`;
    const key = `${registry} ${[...scopes].sort().join(" ")}`;
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

  private forgetToken(registry: string, scopes: string[]): void {
    this.tokens.delete(`${registry} ${[...scopes].sort().join(" ")}`);
  }

  private async fetchToken(registry: string, ch: Challenge, scopes: string[], cred: Credential | undefined): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError(`registry ${registry}: Bearer challenge without a realm`, 401);
    const url = new URL(realm);
    const service = ch.params.service;
    const headers: Record<string, string> = this.baseHeaders();
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
    const res = await this.withRetries((signal) => this.fetcherFor(url.href)(url.href, { ...init, signal }), url.origin + url.pathname, true);
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

  unauthorized(registry: string, cred: Credential | undefined, what = "authentication required"): RegistryError {
    const file = readDockerConfig(this.opts.dockerConfigDir).file;
    const why = cred ? "the credentials kiln found were rejected" : `no credentials for ${registry} in ${file} (run docker login ${registry}, or set DOCKER_CONFIG)`;
    return new RegistryError(`unauthorized: registry ${registry}: ${what}; ${why}`, 401, "UNAUTHORIZED");
  }

  /** A request with auth, redirects and retries. The caller checks the status. */
  async send(req: RegistryRequest): Promise<Response> {
    const st = this.host(req.registry);
    const base = await st.base;
    const url = req.path.startsWith("http:") || req.path.startsWith("https:") ? req.path : base + req.path;
    const canRetry = req.retry !== false;
    let reauthed = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...this.baseHeaders(), ...req.headers };
      const auth = await this.authorization(req.registry, st, req.scopes);
      if (auth) headers.authorization = auth;
      let res: Response;
      try {
        res = await this.follow(url, req.method, headers, req.body);
      } catch (e) {
        if (canRetry && attempt < this.retries && !isTlsError(e)) {
          await this.backoff(attempt, undefined, `${req.method} ${stripQuery(url)}: ${networkMessage(e)}`);
          continue;
        }
        throw new RegistryError(`registry ${req.registry}: ${req.method} ${stripQuery(url)}: ${networkMessage(e)}`, 0);
      }
      if (res.status === 401 && !reauthed) {
        // New or expired credentials: learn the challenge, drop the cached token, try once more.
        const ch = pickChallenge(res.headers.get("www-authenticate"));
        await res.body?.cancel();
        const hadAuth = !!auth;
        if (ch) st.challenge = ch;
        this.forgetToken(req.registry, req.scopes);
        reauthed = true;
        if (ch && (canRetry || !hadAuth)) {
          attempt--;
          continue;
        }
        throw this.unauthorized(req.registry, await this.credential(req.registry, st));
      }
      if (res.status === 401) {
        await res.body?.cancel();
        throw this.unauthorized(req.registry, await this.credential(req.registry, st));
      }
      if ((res.status >= 500 || res.status === 429) && canRetry && attempt < this.retries) {
        await res.body?.cancel();
        await this.backoff(attempt, res.headers.get("retry-after"), `${req.method} ${stripQuery(url)} → ${res.status}`);
        continue;
      }
      return res;
    }
  }

  /** fetch with redirect: "manual", following by hand; Authorization is dropped when the origin changes. */
  private async follow(url: string, method: string, headers: Record<string, string>, body?: () => RequestInit["body"]): Promise<Response> {
    const origin = new URL(url).origin;
    let hdrs = headers;
    for (let hop = 0; hop < 10; hop++) {
      const watch = idleWatch(this.idleTimeoutMs);
      let b = body?.() ?? null;
      if (b instanceof ReadableStream) b = watch.request(b);
      const init: RequestInit & { duplex?: string } = { method, headers: hdrs, redirect: "manual", body: b, signal: watch.signal };
      if (b instanceof ReadableStream) init.duplex = "half";
      const res = watch.response(await watch.guard(this.fetcherFor(url)(url, init)));
      this.log(`${method} ${stripQuery(url)} → ${res.status}`);
      const loc = res.headers.get("location");
      if (!REDIRECTS.has(res.status) || !loc || method === "PUT" || method === "POST" || method === "PATCH") return res;
      await res.body?.cancel();
      const next = new URL(loc, url);
      if (res.status === 303) {
        method = "GET";
        body = undefined;
      }
      if (next.origin !== origin) {
        hdrs = { ...hdrs };
        delete hdrs.authorization;
      }
      url = next.href;
    }
    throw new KilnError(`too many redirects from ${stripQuery(url)}`);
  }

  private async withRetries(f: (signal: AbortSignal) => Promise<Response>, what: string, retry: boolean): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        const watch = idleWatch(this.idleTimeoutMs);
        const res = watch.response(await watch.guard(f(watch.signal)));
        if ((res.status >= 500 || res.status === 429) && retry && attempt < this.retries) {
          await res.body?.cancel();
          await this.backoff(attempt, res.headers.get("retry-after"), `${what} → ${res.status}`);
          continue;
        }
        return res;
      } catch (e) {
        if (!retry || attempt >= this.retries || isTlsError(e)) throw e;
        await this.backoff(attempt, undefined, `${what}: ${networkMessage(e)}`);
      }
    }
  }

  async backoff(attempt: number, retryAfter: string | null | undefined, why: string): Promise<void> {
    let ms = this.retryDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
    if (retryAfter) {
      const secs = Number(retryAfter);
      const at = Number.isFinite(secs) ? Date.now() + secs * 1000 : Date.parse(retryAfter);
      if (Number.isFinite(at)) ms = Math.max(0, at - Date.now());
    }
    ms = Math.min(ms, 60_000);
    this.log(`retry in ${Math.round(ms)} ms: ${why}`);
    await new Promise((r) => setTimeout(r, ms));
  }
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * An idle timeout for one fetch: armed while the request body is sent and while waiting for the
 * answer, re-armed by every request chunk pulled and every response chunk read. A registry that
 * stalls then fails the request with a clear message instead of hanging the build forever.
 */
function idleWatch(ms: number) {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error(`no data from the registry for ${ms / 1000} s`));
    }, ms);
    // A response body nobody reads must not keep the process alive.
    (timer as { unref?: () => void }).unref?.();
  };
  const stop = () => timer && clearTimeout(timer);
  const why = () => new Error(`timed out: no data from the registry for ${ms / 1000} s`);
  arm();
  return {
    signal: ctl.signal,
    request(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
      return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (c, out) => (arm(), out.enqueue(c)) }));
    },
    async guard(p: Promise<Response>): Promise<Response> {
      try {
        return await p;
      } catch (e) {
        stop();
        throw timedOut ? why() : e;
      }
    },
    response(res: Response): Response {
      if (!res.body || [101, 204, 205, 304].includes(res.status)) {
        stop();
        return res;
      }
      arm();
      const reader = res.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          try {
            const { done, value } = await reader.read();
            if (done) {
              stop();
              c.close();
            } else {
              arm();
              c.enqueue(value);
            }
          } catch (e) {
            stop();
            c.error(timedOut ? why() : e);
          }
        },
        cancel(reason) {
          stop();
          return reader.cancel(reason);
        },
      });
      const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      Object.defineProperty(out, "url", { value: res.url });
      return out;
    },
  };
}

function pickChallenge(header: string | null): Challenge | undefined {
  const all = parseChallenges(header);
  return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
}

export function stripQuery(url: string): string {
  const i = url.search(/[?#]/);
  return i < 0 ? url : url.slice(0, i);
}

function isTlsError(e: unknown): boolean {
  const s = `${(e as Error)?.message ?? ""} ${(e as { code?: string })?.code ?? ""} ${((e as Error)?.cause as Error)?.message ?? ""}`;
  return /certificate|CERT_|self[- ]signed|TLS handshake|UnknownIssuer|InvalidCertificate|NotValidForName/i.test(s);
}

function networkMessage(e: unknown): string {
  const err = e as Error & { code?: string; cause?: Error & { code?: string } };
  const parts = [err?.message ?? String(e)];
  if (err?.cause?.message && !parts[0]!.includes(err.cause.message)) parts.push(err.cause.message);
  return parts.join(": ");
}
