// ADD <http(s) URL>: downloaded with global fetch into a temp file outside the rootfs, so a failed
// download or a --checksum mismatch writes nothing into the image. The body is streamed to that
// file chunk by chunk (never held in memory) and bounded by KILN_MAX_DOWNLOAD_SIZE: a Content-Length
// above it fails before the body is read, and a body that grows past it (whatever the headers
// said) is cut off there. A body shorter than its Content-Length is a failed download, not a file.
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { createHash } from "node:crypto";
import { KilnError } from "../../util/errors.ts";
import { sizeFromEnv } from "../../util/size-env.ts";

/** Default cap on one ADD download (KILN_MAX_DOWNLOAD_SIZE): far above any real artifact, far below a full disk. */
export const DEFAULT_MAX_DOWNLOAD = 16 * 2 ** 30;

export function maxDownloadSize(): number {
  return sizeFromEnv("KILN_MAX_DOWNLOAD_SIZE", DEFAULT_MAX_DOWNLOAD, "17179869184 or 16G");
}

export interface Download {
  /** Temp file holding the body; the caller moves or removes it. */
  file: string;
  /** File name from the URL path, for a destination directory. */
  name: string;
  /** Last-Modified in seconds since the epoch, if the server sent one. */
  mtime?: number;
  size: number;
}

const ALGOS = new Set(["sha256", "sha384", "sha512"]);

/** Validate an ADD --checksum value ("sha256:<hex>"). */
export function parseChecksum(checksum: string): { algo: string; hex: string } {
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(checksum.trim());
  if (!m || !ALGOS.has(m[1]!) || m[2]!.length !== createHash(m[1]!).digest("hex").length) {
    throw new KilnError(`ADD --checksum=${checksum}: expected sha256:<64 hex digits> (sha384/sha512 also accepted)`);
  }
  return { algo: m[1]!, hex: m[2]! };
}

export function urlFileName(url: string): string {
  let p: string;
  try {
    p = new URL(url).pathname;
  } catch {
    throw new KilnError(`ADD: invalid URL "${url}"`);
  }
  const base = p.split("/").filter((s) => s !== "").pop();
  if (!base) throw new KilnError(`ADD ${url}: cannot determine a file name from the URL; give a destination file path instead of a directory`);
  try {
    return decodeURIComponent(base);
  } catch {
    return base;
  }
}

export async function download(url: string, tmpDir: string | undefined, checksum?: string): Promise<Download> {
  const want = checksum === undefined ? undefined : parseChecksum(checksum);
  const name = urlFileName(url);
  const max = maxDownloadSize();
  const tooBig = (what: string) => new KilnError(`ADD ${url}: ${what} more than ${max} bytes (the download limit; raise it with KILN_MAX_DOWNLOAD_SIZE)`);
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    throw new KilnError(`ADD ${url}: download failed: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new KilnError(`ADD ${url}: download failed: HTTP ${res.status} ${res.statusText}`.trimEnd());
  }
  // Content-Length counts the encoded body; with a Content-Encoding fetch hands over decoded bytes.
  const encoded = (res.headers.get("content-encoding") ?? "identity").toLowerCase() !== "identity";
  const declared = encoded ? undefined : contentLength(res.headers.get("content-length"));
  if (declared !== undefined && declared > max) {
    await res.body.cancel();
    throw tooBig(`the server announces ${declared} bytes,`);
  }
  const dir = fs.mkdtempSync(path.join(tmpDir ?? os.tmpdir(), "kiln-add-"));
  const file = path.join(dir, "body");
  const hash = createHash(want?.algo ?? "sha256");
  const fd = fs.openSync(file, "w", 0o600);
  let size = 0;
  try {
    // Leaving the loop early (the limit) cancels the body, which closes the connection.
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > max) throw tooBig("the body is");
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
    }
    if (declared !== undefined && size !== declared) {
      throw new KilnError(`ADD ${url}: download failed: got ${size} bytes of the ${declared} the server announced`);
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
    if (e instanceof KilnError) throw e;
    throw new KilnError(`ADD ${url}: download failed: ${(e as Error).message}`);
  }
  fs.closeSync(fd);
  if (want) {
    const got = hash.digest("hex");
    if (got !== want.hex) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new KilnError(`ADD ${url}: checksum mismatch: expected ${want.algo}:${want.hex}, got ${want.algo}:${got}`);
    }
  }
  const lm = res.headers.get("last-modified");
  const t = lm ? Date.parse(lm) : NaN;
  return { file, name, mtime: Number.isNaN(t) ? undefined : t / 1000, size };
}

/** A Content-Length header as a number, or undefined when absent or not a plain integer. */
function contentLength(v: string | null): number | undefined {
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/** Remove a download's temp directory. */
export function discard(d: Download): void {
  fs.rmSync(path.dirname(d.file), { recursive: true, force: true });
}
