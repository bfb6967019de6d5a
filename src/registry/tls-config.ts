// The TLS choice per registry host: verify or not, an extra CA (--registry-certificate), a client
// certificate (--registry-client-cert, mutual TLS). One fetch function per host, made once.
import { readFileSync } from "node:fs";
import { fetchWithTls, type FetchFn, type TlsSettings } from "../runtime/tls.ts";
import { KilnError } from "../util/errors.ts";
import { hostEntry, hostMatches } from "./hosts.ts";
import type { RegistryOptions } from "./options.ts";

export class TlsFetchers {
  private readonly fetchers = new Map<string, FetchFn>();

  constructor(
    private readonly opts: RegistryOptions,
    /** Insecure hosts are not verified either (HTTPS first, then plain HTTP). */
    private readonly isInsecure: (host: string) => boolean,
  ) {}

  /** The fetch to use for `url` (its host's TLS settings). */
  for(url: string): FetchFn {
    const host = new URL(url).host;
    let f = this.fetchers.get(host);
    if (!f) this.fetchers.set(host, (f = fetchWithTls(this.settings(host))));
    return f;
  }

  private settings(host: string): TlsSettings {
    const o = this.opts;
    const skipVerify = !!o.skipTlsVerify || hostMatches(o.skipTlsVerifyRegistries, host) || this.isInsecure(host);
    const caFile = hostEntry(o.registryCertificates, host);
    const caPem = caFile ? readPem("--registry-certificate", host, caFile) : undefined;
    const client = hostEntry(o.registryClientCerts, host);
    if (!client) return { skipVerify, caPem };
    return { skipVerify, caPem, clientCert: readPem("--registry-client-cert", host, client.cert), clientKey: readPem("--registry-client-cert", host, client.key) };
  }
}

function readPem(flag: string, host: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new KilnError(`${flag} for ${host}: cannot read ${file}: ${(e as Error).message}`);
  }
}
