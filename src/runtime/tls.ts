// Per-registry TLS settings for fetch. Each runtime spells them differently:
//  - Bun:  fetch(url, { tls: { rejectUnauthorized, ca } })
//  - Deno: fetch(url, { client: Deno.createHttpClient({ caCerts }) }) for a custom CA; Deno's
//          fetch has no per-request "skip verification", so --skip-tls-verify goes through
//          node:https (which honours rejectUnauthorized: false on Deno) behind a fetch-shaped adapter.
//  - Node: global fetch takes no TLS options, so both cases use the node:https adapter.
import { request as httpsRequest } from "node:https";
import type { IncomingMessage } from "node:http";
import { runtime } from "./index.ts";

export interface TlsSettings {
  /** Accept any certificate (self-signed, wrong host, expired). */
  skipVerify: boolean;
  /** Extra trusted CA certificate(s), PEM. */
  caPem?: string;
  /** A client certificate and its key, PEM (mutual TLS). */
  clientCert?: string;
  clientKey?: string;
}

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

declare const Deno: { createHttpClient(o: { caCerts?: string[]; cert?: string; key?: string }): unknown } | undefined;

const denoClients = new Map<string, unknown>();

/** A fetch that applies `tls` to https URLs (http URLs and default settings use plain fetch). */
export function fetchWithTls(tls: TlsSettings): FetchFn {
  if (!tls.skipVerify && !tls.caPem && !tls.clientCert) return (url, init) => fetch(url, init);
  const mtls = tls.clientCert && tls.clientKey ? { cert: tls.clientCert, key: tls.clientKey } : {};
  if (runtime === "bun") {
    const opt = { rejectUnauthorized: !tls.skipVerify, ...(tls.caPem ? { ca: tls.caPem } : {}), ...mtls };
    return (url, init) => fetch(url, { ...init, tls: opt } as RequestInit);
  }
  if (runtime === "deno" && !tls.skipVerify) {
    const key = `${tls.caPem ?? ""}\0${tls.clientCert ?? ""}\0${tls.clientKey ?? ""}`;
    let client = denoClients.get(key);
    if (!client) denoClients.set(key, (client = Deno!.createHttpClient({ ...(tls.caPem ? { caCerts: [tls.caPem] } : {}), ...mtls })));
    return (url, init) => fetch(url, { ...init, client } as RequestInit);
  }
  return (url, init) => (url.startsWith("https:") ? nodeHttpsFetch(url, init, tls) : fetch(url, init));
}

/** The subset of fetch kiln's registry client uses, over node:https. Never follows redirects. */
function nodeHttpsFetch(url: string, init: RequestInit, tls: TlsSettings): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const req = httpsRequest(url, {
      method: init.method ?? "GET",
      headers,
      rejectUnauthorized: !tls.skipVerify,
      ...(tls.caPem ? { ca: tls.caPem } : {}),
      ...(tls.clientCert && tls.clientKey ? { cert: tls.clientCert, key: tls.clientKey } : {}),
    });
    const onAbort = () => req.destroy(new Error("aborted"));
    init.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", reject);
    req.on("response", (res: IncomingMessage) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const x of v) h.append(k, x);
        else if (v !== undefined) h.set(k, String(v));
      }
      const status = res.statusCode ?? 0;
      const noBody = init.method === "HEAD" || status === 204 || status === 304;
      let done = false;
      const body = noBody
        ? null
        : new ReadableStream<Uint8Array>({
            start(c) {
              res.on("data", (chunk: Buffer) => {
                if (done) return;
                c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
                if ((c.desiredSize ?? 1) <= 0) res.pause();
              });
              res.on("end", () => {
                if (!done) c.close();
                done = true;
              });
              res.on("error", (e) => {
                if (!done) c.error(e);
                done = true;
              });
            },
            pull() {
              res.resume();
            },
            cancel() {
              done = true;
              res.destroy();
            },
          }, { highWaterMark: 4 });
      if (noBody) res.resume();
      resolve(new Response(body, { status, statusText: res.statusMessage ?? "", headers: h }));
    });
    writeBody(req, init.body).catch((e) => req.destroy(e));
  });
}

async function writeBody(req: import("node:http").ClientRequest, body: RequestInit["body"]): Promise<void> {
  if (body == null) return void req.end();
  if (typeof body === "string" || body instanceof Uint8Array) return void req.end(body);
  if (body instanceof ArrayBuffer) return void req.end(new Uint8Array(body));
  if (body instanceof ReadableStream) {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!req.write(value)) await new Promise((r) => req.once("drain", r));
    }
    return void req.end();
  }
  req.end(new Uint8Array(await new Response(body as ConstructorParameters<typeof Response>[0]).arrayBuffer()));
}
