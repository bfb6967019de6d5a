// The retry policy: which failures are worth another attempt (connection errors, 5xx, 429 —
// never a TLS error), and the backoff between attempts (doubling, jittered, Retry-After honoured).
import { KilnError } from "../util/errors.ts";
import { idleWatch } from "./watchdog.ts";

export class RetryPolicy {
  constructor(
    /** Attempts after the first. */
    readonly retries: number,
    /** First backoff delay; doubles per retry. */
    readonly delayMs: number,
    /** The stall watchdog's limit for each attempt. */
    readonly idleTimeoutMs: number,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Call `f` (one fetch, under the stall watchdog) until it answers something other than 5xx/429 or retries run out. */
  async fetch(f: (signal: AbortSignal) => Promise<Response>, what: string, retry: boolean): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        const watch = idleWatch(this.idleTimeoutMs);
        const res = watch.response(await watch.guard(f(watch.signal)));
        if (isRetryableStatus(res.status) && retry && attempt < this.retries) {
          await res.body?.cancel();
          await this.backoff(attempt, res.headers.get("retry-after"), `${what} → ${res.status}`);
          continue;
        }
        return res;
      } catch (e) {
        if (!retry || attempt >= this.retries || !isRetryableError(e)) throw e;
        await this.backoff(attempt, undefined, `${what}: ${networkMessage(e)}`);
      }
    }
  }

  async backoff(attempt: number, retryAfter: string | null | undefined, why: string): Promise<void> {
    let ms = this.delayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
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

/** A failed fetch worth another attempt: not a TLS error, not a local problem (an unreadable certificate file). */
export function isRetryableError(e: unknown): boolean {
  return !isTlsError(e) && !(e instanceof KilnError);
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/** A number from the environment (tests and CI with flaky registries tune retries this way). */
export function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Certificate and handshake failures: retrying cannot help, and the user needs a TLS hint. */
export function isTlsError(e: unknown): boolean {
  const s = `${(e as Error)?.message ?? ""} ${(e as { code?: string })?.code ?? ""} ${((e as Error)?.cause as Error)?.message ?? ""}`;
  return /certificate|CERT_|self[- ]signed|TLS handshake|UnknownIssuer|InvalidCertificate|NotValidForName/i.test(s);
}

/** A fetch failure as one line: the error and, when it adds something, its cause. */
export function networkMessage(e: unknown): string {
  const err = e as Error & { code?: string; cause?: Error & { code?: string } };
  const parts = [err?.message ?? String(e)];
  if (err?.cause?.message && !parts[0]!.includes(err.cause.message)) parts.push(err.cause.message);
  return parts.join(": ");
}
