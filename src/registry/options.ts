// What a RegistryClient is told: TLS and plain-HTTP choices, credentials, retries, mirrors.
// One shape for the library, `kiln build`, `kiln copy` and `kiln warm`.
import { UsageError } from "../util/errors.ts";
import type { Credential } from "./docker-config.ts";

export interface RegistryOptions {
  /** Hosts ("host", "host:port") reached over plain HTTP when HTTPS fails; "*" = all. Loopback always is. */
  insecureRegistries?: string[];
  skipTlsVerify?: boolean;
  skipTlsVerifyRegistries?: string[];
  /** host → PEM CA file trusted for that registry. */
  registryCertificates?: Record<string, string>;
  /** host → client certificate and key files (PEM) for mutual TLS. */
  registryClientCerts?: Record<string, { cert: string; key: string }>;
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
  /** Warnings (a mirror that missed, an immutable tag left as it was). */
  warn?: (line: string) => void;
  /** Override where credentials come from (default: docker config.json and helpers). */
  credentials?: (registry: string) => Promise<Credential | undefined>;

  // ---- pulls only (base images, COPY --from, kiln copy's source, kiln warm) ----
  /** Mirrors of docker.io ("host" or "host/path-prefix"), tried in order before docker.io. */
  registryMirrors?: string[];
  /** Registry → replacements ("host" or "host/path-prefix"), tried in order before the original. */
  registryMaps?: Record<string, string[]>;
  /** When mirrors or replacements are configured and all miss, fail instead of asking the original. */
  skipDefaultRegistryFallback?: boolean;
  /** Pulls may fall back to plain HTTP on any registry. */
  insecurePull?: boolean;
  /** Pulls do not verify TLS certificates. */
  skipTlsVerifyPull?: boolean;
  /** Extra attempts of an image download (manifest and config) after a failure (default 0). */
  imageDownloadRetry?: number;

  // ---- pushes only ----
  /** Extra attempts of a whole push after a failure (default 0). */
  pushRetry?: number;
  /** A registry's "tag is immutable" refusal of a manifest PUT counts as pushed (with a warning). */
  pushIgnoreImmutableTagErrors?: boolean;
}

/** The options a pull uses: --insecure-pull and --skip-tls-verify-pull added to the common ones. */
export function pullOptions(o: RegistryOptions): RegistryOptions {
  if (!o.insecurePull && !o.skipTlsVerifyPull) return o;
  return {
    ...o,
    insecureRegistries: o.insecurePull ? [...(o.insecureRegistries ?? []), "*"] : o.insecureRegistries,
    skipTlsVerify: o.skipTlsVerify || o.skipTlsVerifyPull,
  };
}

/** A retry count must be a whole number ≥ 0; the flag's name is in the error. */
export function checkRetryCount(name: string, n: number | undefined): number | undefined {
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new UsageError(`${name}: want a whole number of retries ≥ 0, got ${n}`);
  return n;
}

/** Every retry count in `o`, checked (the CLI validates the flags; library callers land here). */
export function checkRegistryOptions(o: RegistryOptions): void {
  checkRetryCount("retries", o.retries);
  checkRetryCount("--push-retry", o.pushRetry);
  checkRetryCount("--image-download-retry", o.imageDownloadRetry);
}
