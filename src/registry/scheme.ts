// Scheme detection: GET /v2/ once per registry, over HTTPS, then plain HTTP for insecure hosts.
// The answer also carries the registry's auth challenge.
import type { FetchFn } from "../runtime/tls.ts";
import { KilnError } from "../util/errors.ts";
import type { Challenge } from "./challenge.ts";
import { pickChallenge, userAgent } from "./auth.ts";
import { RegistryError } from "./errors.ts";
import { apiHost } from "./hosts.ts";
import { isTlsError, networkMessage, type RetryPolicy } from "./retry.ts";

export interface Probe {
  /** "https://host" or "http://host" */
  base: string;
  challenge?: Challenge;
}

export async function detectScheme(registry: string, insecure: boolean, retry: RetryPolicy, fetcherFor: (url: string) => FetchFn, log: (line: string) => void): Promise<Probe> {
  const host = apiHost(registry);
  const schemes = insecure ? ["https", "http"] : ["https"];
  let lastErr: unknown;
  for (const scheme of schemes) {
    const base = `${scheme}://${host}`;
    try {
      const res = await retry.fetch(
        (signal) => fetcherFor(base)(`${base}/v2/`, { method: "GET", headers: userAgent(), redirect: "manual", signal }),
        `${base}/v2/`,
        // An insecure host that does not speak TLS fails at once; no point retrying HTTPS there.
        !(insecure && scheme === "https"),
      );
      await res.body?.cancel();
      const challenge = res.status === 401 ? pickChallenge(res.headers.get("www-authenticate")) : undefined;
      log(`ping ${base}/v2/ → ${res.status}${challenge ? ` (${challenge.scheme} auth)` : ""}`);
      return { base, challenge };
    } catch (e) {
      if (e instanceof KilnError) throw e; // a local problem (an unreadable certificate file), not the network
      lastErr = e;
    }
  }
  const msg = networkMessage(lastErr);
  const hint = insecure ? "" : isTlsError(lastErr) ? ` (use --registry-certificate ${registry}=CA.pem, or --skip-tls-verify-registry ${registry})` : ` (a plain-HTTP registry needs --insecure-registry ${registry})`;
  throw new RegistryError(`cannot reach registry ${registry}: ${msg}${hint}`, 0);
}
