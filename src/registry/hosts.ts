// Which host a registry name means, and whether a host is on a --…-registry list.
// Pure name logic shared by scheme detection and the TLS choice.

/** The API host behind a registry name (Docker Hub's registry is not at docker.io). */
export function apiHost(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}

/** localhost, 127.0.0.0/8 and ::1 are insecure by default, as in Docker and containerd. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** True when `list` names the registry: "*", "host:port", "host" or its API host. */
export function hostMatches(list: readonly string[] | undefined, registry: string): boolean {
  if (!list?.length) return false;
  const name = registry.replace(/:\d+$/, "");
  return list.some((h) => h === "*" || h === registry || h === name || h === apiHost(registry));
}

/** The entry of a host-keyed map for `host` ("host:port" first, then "host"). */
export function hostEntry<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map) return undefined;
  return map[host] ?? map[host.replace(/:\d+$/, "")];
}

/** A URL without its query and fragment (upload URLs carry state tokens; logs and errors never show them). */
export function stripQuery(url: string): string {
  const i = url.search(/[?#]/);
  return i < 0 ? url : url.slice(0, i);
}
