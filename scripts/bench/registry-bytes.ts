// Bytes moved to and from the registry, from its access log (scripts/registry.ts `logFile`).
// distribution 2.8 logs Apache-style lines: `"GET /v2/… HTTP/1.1" 200 1036043` — the response
// size, so downloads are exact. Request bodies are not logged, so an upload counts as the size of
// the blob (or manifest) that a successful finishing PUT (or monolithic POST) stored, read from the
// registry's storage. That misses aborted or retried transfers, which no run here has; a counting
// proxy would see them but would also add CPU to the very timings we measure.
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

export interface Traffic {
  /** Bytes of GET responses (manifests, configs, layers). */
  read: number;
  /** Of which blob GETs (configs and layers). */
  blobsRead: number;
  /** Of which layers (blobs that are not JSON, i.e. not image configs). */
  layersRead: number;
  /** Bytes of blobs and manifests stored by uploads. */
  written: number;
  layersWritten: number;
  requests: number;
}

const LINE = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

/** Current end of the log: pass it to traffic() after the measured command. */
export function logMark(logFile: string): number {
  return statSync(logFile).size;
}

export function traffic(logFile: string, dataDir: string, from: number, to = logMark(logFile)): Traffic {
  const text = readFileSync(logFile).subarray(from, to).toString("utf8");
  const t: Traffic = { read: 0, blobsRead: 0, layersRead: 0, written: 0, layersWritten: 0, requests: 0 };
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, method, uri, status, size] = m as unknown as [string, string, string, string, string];
    t.requests++;
    const path = uri.split("?")[0]!;
    if (method === "GET" && (status === "200" || status === "206")) {
      const n = Number(size) || 0;
      t.read += n;
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
      if (blob) {
        t.blobsRead += n;
        if (isLayer(dataDir, blob)) t.layersRead += n;
      }
    } else if ((method === "PUT" || method === "POST") && status === "201") {
      const digest = /[?&]digest=([^&\s]+)/.exec(uri)?.[1];
      if (digest && /\/blobs\/uploads\//.test(path)) {
        const d = decodeURIComponent(digest);
        const n = blobSize(dataDir, d);
        t.written += n;
        if (isLayer(dataDir, d)) t.layersWritten += n;
      }
      else if (method === "PUT" && /\/manifests\//.test(path)) t.written += manifestSize(dataDir, path);
    }
  }
  return t;
}

const V2 = (dataDir: string) => join(dataDir, "docker", "registry", "v2");

function blobFile(dataDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, "");
  return join(V2(dataDir), "blobs", "sha256", hex.slice(0, 2), hex, "data");
}

/** Configs and manifests are JSON; layers are gzip, zstd or tar. */
function isLayer(dataDir: string, digest: string): boolean {
  try {
    const fd = openSync(blobFile(dataDir, digest), "r");
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 0);
    closeSync(fd);
    return b[0] !== 0x7b; // "{"
  } catch {
    return false;
  }
}

function blobSize(dataDir: string, digest: string): number {
  try {
    return statSync(blobFile(dataDir, digest)).size;
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
