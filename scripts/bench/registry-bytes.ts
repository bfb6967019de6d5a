// Bytes moved to and from the registry, from its access log (scripts/registry.ts `logFile`).
// distribution 2.8 logs Apache-style lines: `"GET /v2/… HTTP/1.1" 200 1036043` — the response
// size, so downloads are exact. Request bodies are not logged, so an upload counts as the size of
// the blob (or manifest) that a successful finishing PUT (or monolithic POST) stored, read from the
// registry's storage. That misses aborted or retried transfers, which no run here has; a counting
// proxy would see them but would also add CPU to the very timings we measure.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface Traffic {
  /** Bytes of GET responses (manifests, configs, layers). */
  read: number;
  /** Of which blob GETs (configs and layers). */
  blobsRead: number;
  /** Bytes of blobs and manifests stored by uploads. */
  written: number;
  requests: number;
}

const LINE = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

/** Current end of the log: pass it to traffic() after the measured command. */
export function logMark(logFile: string): number {
  return statSync(logFile).size;
}

export function traffic(logFile: string, dataDir: string, from: number, to = logMark(logFile)): Traffic {
  const text = readFileSync(logFile).subarray(from, to).toString("utf8");
  const t: Traffic = { read: 0, blobsRead: 0, written: 0, requests: 0 };
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, method, uri, status, size] = m as unknown as [string, string, string, string, string];
    t.requests++;
    const path = uri.split("?")[0]!;
    if (method === "GET" && (status === "200" || status === "206")) {
      const n = Number(size) || 0;
      t.read += n;
      if (/\/blobs\/sha256:/.test(path)) t.blobsRead += n;
    } else if ((method === "PUT" || method === "POST") && status === "201") {
      const digest = /[?&]digest=([^&\s]+)/.exec(uri)?.[1];
      if (digest && /\/blobs\/uploads\//.test(path)) t.written += blobSize(dataDir, decodeURIComponent(digest));
      else if (method === "PUT" && /\/manifests\//.test(path)) t.written += manifestSize(dataDir, path);
    }
  }
  return t;
}

const V2 = (dataDir: string) => join(dataDir, "docker", "registry", "v2");

function blobSize(dataDir: string, digest: string): number {
  const hex = digest.replace(/^sha256:/, "");
  try {
    return statSync(join(V2(dataDir), "blobs", "sha256", hex.slice(0, 2), hex, "data")).size;
  } catch {
    return 0;
  }
}

function manifestSize(dataDir: string, path: string): number {
  const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (!m) return 0;
  const [, repo, ref] = m as unknown as [string, string, string];
  if (ref.startsWith("sha256:")) return blobSize(dataDir, ref);
  try {
    const link = readFileSync(join(V2(dataDir), "repositories", repo, "_manifests", "tags", ref, "current", "link"), "utf8").trim();
    return blobSize(dataDir, link);
  } catch {
    return 0;
  }
}
