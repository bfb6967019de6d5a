// PULL_FLAGS (src/cli/build-flags.ts) → the registry client's settings: TLS and plain-HTTP
// choices, mirrors and remaps (with kaniko's KANIKO_REGISTRY_MIRROR / KANIKO_REGISTRY_MAP),
// client certificates, download retries. One reading for `kiln build` and `kiln warm`, whose
// pulls must behave alike.
import type { RegistryOptions } from "../registry/options.ts";
import { UsageError } from "../util/errors.ts";
import { parseKeyValues, type Flags } from "./flag-reader.ts";

type Env = Record<string, string | undefined>;

/** The RegistryOptions the PULL_FLAGS ask for. */
export function pullFlagOptions(f: Flags, env: Env) {
  const insecure = [...f.list("insecure-registry")];
  if (f.bool("insecure")) insecure.push("*");
  const maps = f.has("registry-map") ? f.list("registry-map") : env.KANIKO_REGISTRY_MAP ? [env.KANIKO_REGISTRY_MAP] : [];
  return {
    insecureRegistries: insecure,
    skipTlsVerify: f.bool("skip-tls-verify"),
    skipTlsVerifyRegistries: f.list("skip-tls-verify-registry"),
    registryCertificates: parseKeyValues("registry-certificate", f.list("registry-certificate"), false, env),
    registryClientCerts: parseClientCerts(f.list("registry-client-cert")),
    registryMirrors: [...f.list("registry-mirror"), ...splitEnvList(env.KANIKO_REGISTRY_MIRROR)],
    registryMaps: parseRegistryMaps(maps),
    skipDefaultRegistryFallback: f.bool("skip-default-registry-fallback"),
    insecurePull: f.bool("insecure-pull"),
    skipTlsVerifyPull: f.bool("skip-tls-verify-pull"),
    imageDownloadRetry: f.int("image-download-retry", 0) ?? 0,
  } satisfies RegistryOptions;
}

/** KANIKO_REGISTRY_MIRROR's form: values separated by ";". */
export function splitEnvList(v: string | undefined): string[] {
  return (v ?? "").split(";").map((s) => s.trim()).filter((s) => s !== "");
}

/** --registry-map a=b;c=d (repeatable): each original registry → its replacements, in order. */
export function parseRegistryMaps(items: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of items) {
    for (const pair of item.split(";")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      const from = pair.slice(0, eq).trim();
      const to = pair.slice(eq + 1).trim();
      if (eq < 0 || from === "" || to === "") throw new UsageError(`flag --registry-map: "${pair}": expected ORIGINAL=REPLACEMENT (pairs separated by ;)`);
      (out[from] ??= []).push(to);
    }
  }
  return out;
}

/** --registry-client-cert host=cert.pem,key.pem (repeatable). */
export function parseClientCerts(items: string[]): Record<string, { cert: string; key: string }> {
  const out: Record<string, { cert: string; key: string }> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const files = item.slice(eq + 1).split(",");
    if (eq <= 0 || files.length !== 2 || files.some((f) => f.trim() === "")) {
      throw new UsageError(`flag --registry-client-cert: "${item}": expected HOST=CERT_FILE,KEY_FILE`);
    }
    out[item.slice(0, eq)] = { cert: files[0]!.trim(), key: files[1]!.trim() };
  }
  return out;
}
