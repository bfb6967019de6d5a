// Push behaviour seen from the registry's side: existing blobs skipped, cross-repo mounts,
// uploads (monolithic and chunked), and digest verification.
import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { baseImages, registry } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { layerFromBytes, layerFromFile } from "../../src/image/layer.ts";
import { appendLayers } from "../../src/image/mutate.ts";
import { OCI_LAYER_GZIP } from "../../src/image/media-types.ts";
import { readAll } from "../../src/image/digest.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { accessLog, logSize } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-push-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

describe("push", async () => {
  const reg = await registry();
  const refs = await baseImages();
  const client = new RegistryClient();

  test("layers that exist in another repo are mounted, not uploaded", async () => {
    const base = await fetchImage(client, parseReference(refs.busybox));
    const img = appendLayers(base, [layerFromBytes(gzipSync(randomBytes(2000)), OCI_LAYER_GZIP)]);
    const dest = parseReference(`${reg.host}/push/mounted:1`);
    const from = logSize(reg.logFile);
    const res = await pushImage(client, img, dest);
    const byDigest = new Map(res.blobs.map((b) => [b.digest, b]));
    expect(byDigest.get(base.layers[0]!.digest)?.action).toBe("mounted");
    expect(byDigest.get(img.layers[1]!.digest)?.action).toBe("uploaded");
    // The registry says so too: a mount POST answered 201, and no upload PUT for the base layer.
    const log = accessLog(reg.logFile, from);
    const mountLine = log.find((l) => l.includes(`/v2/push/mounted/blobs/uploads/?mount=${encodeURIComponent(base.layers[0]!.digest)}`) || l.includes(`?mount=${base.layers[0]!.digest}`));
    expect(mountLine).toBeDefined();
    expect(mountLine).toMatch(/" 201 /);
    expect(log.filter((l) => l.includes("PUT /v2/push/mounted/blobs/uploads/") && l.includes(base.layers[0]!.digest.slice(7)))).toEqual([]);
    // A second push finds everything in place.
    const again = await pushImage(client, img, dest);
    expect(again.blobs.every((b) => b.action === "exists")).toBe(true);
  });

  test("several destinations: upload once, mount for the rest", async () => {
    const base = await fetchImage(client, parseReference(refs.busybox));
    const img = appendLayers(base, [layerFromBytes(gzipSync(randomBytes(3000)), OCI_LAYER_GZIP)]);
    const d1 = parseReference(`${reg.host}/push/multi-a:1`);
    const d2 = parseReference(`${reg.host}/push/multi-b:1`);
    const res = await pushImage(client, img, [d1, d2]);
    const own = res.blobs.filter((b) => b.digest === img.layers[1]!.digest);
    expect(own.map((b) => [b.destination.repository, b.action])).toEqual([["push/multi-a", "uploaded"], ["push/multi-b", "mounted"]]);
    expect(res.pushed.map(String)).toEqual([`${d1}@${img.manifestDigest}`, `${d2}@${img.manifestDigest}`]);
  });

  test("chunked upload of a file layer (PATCH) and download verify", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 123);
    const path = join(tmp, "blob");
    writeFileSync(path, bytes);
    const repo = parseReference(`${reg.host}/push/chunked`);
    const from = logSize(reg.logFile);
    await client.uploadBlobFromFile(repo, path, sha(bytes), bytes.length, { chunkThreshold: 1 << 20, chunkSize: 1 << 20 });
    const patches = accessLog(reg.logFile, from).filter((l) => l.includes("PATCH /v2/push/chunked/blobs/uploads/"));
    expect(patches.length).toBe(4);
    expect(await client.headBlob(repo, sha(bytes))).toBe(bytes.length);
    const got = await readAll(await client.openBlob(repo, sha(bytes), bytes.length));
    expect(Buffer.from(got).equals(bytes)).toBe(true);
  });

  test("a streamed (non-file) layer uploads in chunks too", async () => {
    const bytes = gzipSync(randomBytes(2_500_000));
    const src = parseReference(`${reg.host}/push/stream-src`);
    const dst = parseReference(`${reg.host}/push/stream-dst`);
    await client.uploadBlobBytes(src, bytes);
    const stream = await client.openBlob(src, sha(bytes), bytes.length);
    await client.uploadBlob(dst, { digest: sha(bytes), size: bytes.length, rereadable: false, read: chunked(stream) }, { chunkThreshold: 1 << 20, chunkSize: 1 << 20 });
    expect(await client.headBlob(dst, sha(bytes))).toBe(bytes.length);
  });

  test("a blob whose bytes do not match its digest is rejected, naming the digest", async () => {
    const repo = parseReference(`${reg.host}/push/corrupt`);
    const bytes = randomBytes(5000);
    const wrong = sha(randomBytes(10));
    const path = join(tmp, "corrupt");
    writeFileSync(path, bytes);
    // Reading a local layer verifies it...
    const l = layerFromFile({ path, mediaType: OCI_LAYER_GZIP, digest: wrong, size: bytes.length, diffId: wrong });
    await expect(readAll(await l.open())).rejects.toThrow(new RegExp(`${wrong}.*does not match its digest`));
    // ...the registry refuses an upload under the wrong digest (asked again, as a corrupted transfer would be)...
    const quick = new RegistryClient({ retryDelayMs: 1 });
    await expect(quick.uploadBlobFromFile(repo, path, wrong, bytes.length)).rejects.toThrow(new RegExp(`upload ${wrong}.*DIGEST_INVALID`));
    // ...and a download whose bytes differ from the digest asked for fails at the end of the stream.
    const good = await client.uploadBlobBytes(repo, bytes);
    const blobFile = join(reg.dataDir, "docker/registry/v2/blobs/sha256", good.slice(7, 9), good.slice(7), "data");
    writeFileSync(blobFile, Buffer.concat([bytes.subarray(0, 4999), Buffer.from("!")]));
    await expect(client.getBlobBytes(repo, good)).rejects.toThrow(new RegExp(`blob ${good} from ${reg.host}/push/corrupt: content does not match its digest`));
  });
});

function chunked(stream: AsyncIterable<Uint8Array>) {
  // Mirrors push.ts: sequential reads from one stream.
  const it = stream[Symbol.asyncIterator]();
  let rest: Uint8Array | undefined;
  return (_start: number, length: number): AsyncIterable<Uint8Array> => ({
    async *[Symbol.asyncIterator]() {
      let left = length;
      while (left > 0) {
        let c = rest ?? (await it.next()).value;
        rest = undefined;
        if (!c) return;
        if (c.length > left) [c, rest] = [c.subarray(0, left), c.subarray(left)];
        left -= c.length;
        yield c;
      }
    },
  });
}
