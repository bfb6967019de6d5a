// HTTP for the registry client, composed of one small part per concern: scheme detection
// (scheme.ts), TLS (tls-config.ts), the auth challenge (auth.ts), redirects (redirects.ts), the
// retry policy (retry.ts) and the stall watchdog (watchdog.ts). send() ties them together.
import { KilnError } from "../util/errors.ts";
import { Authenticator, pickChallenge, userAgent } from "./auth.ts";
import { RegistryError } from "./errors.ts";
import { hostMatches, isLoopback, stripQuery } from "./hosts.ts";
import { checkRegistryOptions, type RegistryOptions } from "./options.ts";
import { followRedirects } from "./redirects.ts";
import { envInt, isRetryableStatus, isTlsError, networkMessage, RetryPolicy } from "./retry.ts";
import { detectScheme } from "./scheme.ts";
import { TlsFetchers } from "./tls-config.ts";

export type { RegistryOptions } from "./options.ts";
export { apiHost, isLoopback, stripQuery } from "./hosts.ts";

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

export class Transport {
  /** registry → its base URL, learned once (a failed probe is forgotten so a later call tries again). */
  private readonly bases = new Map<string, Promise<string>>();
  private readonly tls: TlsFetchers;
  private readonly auth: Authenticator;
  private readonly policy: RetryPolicy;
  readonly retries: number;
  readonly retryDelayMs: number;
  private readonly idleTimeoutMs: number;

  constructor(readonly opts: RegistryOptions = {}) {
    checkRegistryOptions(opts);
    // The environment variables exist for tests and for CI with flaky registries (no CLI flags for these).
    this.retries = opts.retries ?? envInt("KILN_REGISTRY_RETRIES") ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? envInt("KILN_REGISTRY_RETRY_DELAY_MS") ?? 500;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? envInt("KILN_REGISTRY_TIMEOUT_MS") ?? 120_000;
    const log = (l: string) => this.log(l);
    this.policy = new RetryPolicy(this.retries, this.retryDelayMs, this.idleTimeoutMs, log);
    this.tls = new TlsFetchers(opts, (h) => this.isInsecure(h));
    this.auth = new Authenticator(opts, this.policy, (u) => this.tls.for(u), log);
  }

  isInsecure(registry: string): boolean {
    return (!this.opts.secureLoopback && isLoopback(registry)) || hostMatches(this.opts.insecureRegistries, registry);
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** "https://host" or "http://host", learned once per registry with GET /v2/. */
  baseUrl(registry: string): Promise<string> {
    let p = this.bases.get(registry);
    if (!p) {
      p = detectScheme(registry, this.isInsecure(registry), this.policy, (u) => this.tls.for(u), (l) => this.log(l)).then((probe) => {
        this.auth.learn(registry, probe.challenge);
        return probe.base;
      });
      p.catch(() => this.bases.delete(registry));
      this.bases.set(registry, p);
    }
    return p;
  }

  /** A request with auth, redirects and retries. The caller checks the status. */
  async send(req: RegistryRequest): Promise<Response> {
    const base = await this.baseUrl(req.registry);
    const url = req.path.startsWith("http:") || req.path.startsWith("https:") ? req.path : base + req.path;
    const canRetry = req.retry !== false;
    const follow = { fetcherFor: (u: string) => this.tls.for(u), idleTimeoutMs: this.idleTimeoutMs, log: (l: string) => this.log(l) };
    let reauthed = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...userAgent(), ...req.headers };
      const auth = await this.auth.authorization(req.registry, req.scopes);
      if (auth) headers.authorization = auth;
      let res: Response;
      try {
        res = await followRedirects(follow, url, req.method, headers, req.body);
      } catch (e) {
        if (e instanceof KilnError) throw e;
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
        this.auth.learn(req.registry, ch);
        this.auth.forgetToken(req.registry, req.scopes);
        reauthed = true;
        if (ch && (canRetry || !auth)) {
          attempt--;
          continue;
        }
        throw this.auth.unauthorized(req.registry, await this.auth.credential(req.registry));
      }
      if (res.status === 401) {
        await res.body?.cancel();
        throw this.auth.unauthorized(req.registry, await this.auth.credential(req.registry));
      }
      if (isRetryableStatus(res.status) && canRetry && attempt < this.retries) {
        await res.body?.cancel();
        await this.backoff(attempt, res.headers.get("retry-after"), `${req.method} ${stripQuery(url)} → ${res.status}`);
        continue;
      }
      return res;
    }
  }

  backoff(attempt: number, retryAfter: string | null | undefined, why: string): Promise<void> {
    return this.policy.backoff(attempt, retryAfter, why);
  }
}
