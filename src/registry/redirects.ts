// Redirects followed by hand (fetch's redirect: "manual"): blob GETs go to storage on another
// origin, which must never see the registry's Authorization header.
import { KilnError } from "../util/errors.ts";
import type { FetchFn } from "../runtime/tls.ts";
import { stripQuery } from "./hosts.ts";
import { idleWatch } from "./watchdog.ts";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 10;

export interface FollowContext {
  fetcherFor(url: string): FetchFn;
  idleTimeoutMs: number;
  log(line: string): void;
}

/** One request, redirects followed (not for uploads); each hop under the stall watchdog. */
export async function followRedirects(ctx: FollowContext, url: string, method: string, headers: Record<string, string>, body?: () => RequestInit["body"]): Promise<Response> {
  const origin = new URL(url).origin;
  let hdrs = headers;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const watch = idleWatch(ctx.idleTimeoutMs);
    let b = body?.() ?? null;
    if (b instanceof ReadableStream) b = watch.request(b);
    const init: RequestInit & { duplex?: string } = { method, headers: hdrs, redirect: "manual", body: b, signal: watch.signal };
    if (b instanceof ReadableStream) init.duplex = "half";
    const res = watch.response(await watch.guard(ctx.fetcherFor(url)(url, init)));
    ctx.log(`${method} ${stripQuery(url)} → ${res.status}`);
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
