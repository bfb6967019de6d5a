// inflateLayer's fast path (one capped sync gunzip for small layers) must give the same bytes as
// the streaming gunzip, and hand everything it cannot or must not do in memory to the stream:
// big layers, lying or absent size trailers, multi-member gzip, bombs, corrupt data, zstd.
import { describe, expect, test } from "bun:test";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { inflateLayer, SMALL_COMPRESSED, SMALL_OUTPUT } from "../../src/fs/small-layer.ts";
import { decompress, zstdSupported } from "../../src/fs/compression.ts";
import { KilnError } from "../../src/util/errors.ts";

async function* source(data: Uint8Array, chunk = 1 << 20): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<{ sha: string; size: number; chunks: number }> {
  const h = createHash("sha256");
  let size = 0;
  let chunks = 0;
  for await (const c of it) {
    h.update(c);
    size += c.length;
    chunks++;
  }
  return { sha: h.digest("hex"), size, chunks };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const tarLike = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + (i >> 9)) & 0xff);

describe("inflateLayer", () => {
  test("a small gzip layer comes out whole in one chunk, equal to the stream's bytes", async () => {
    const raw = tarLike(3 << 20);
    const gz = zlib.gzipSync(raw);
    expect(gz.length).toBeLessThan(SMALL_COMPRESSED);
    const fast = await drain(inflateLayer(source(gz, 64 << 10), "layer x"));
    expect(fast).toEqual({ sha: sha(raw), size: raw.length, chunks: 1 });
    expect((await drain(decompress(source(gz), "layer x"))).sha).toBe(sha(raw));
  });

  test("more compressed bytes than SMALL_COMPRESSED stream in chunks", async () => {
    const raw = new Uint8Array(SMALL_COMPRESSED + (1 << 20)).map(() => (Math.random() * 256) | 0);
    const gz = zlib.gzipSync(raw, { level: 1 });
    const out = await drain(inflateLayer(source(gz), "layer x"));
    expect(out.sha).toBe(sha(raw));
    expect(out.chunks).toBeGreaterThan(1);
  });

  test("a tar bigger than SMALL_OUTPUT (a bomb, by its size trailer or despite it) streams, bytes intact", async () => {
    const raw = new Uint8Array(SMALL_OUTPUT + 4096);
    const gz = zlib.gzipSync(raw);
    expect(gz.length).toBeLessThan(SMALL_COMPRESSED);
    const honest = await drain(inflateLayer(source(gz), "layer x"));
    expect(honest.sha).toBe(sha(raw));
    expect(honest.chunks).toBeGreaterThan(1);
    // The trailer claims 100 bytes: the capped sync call stops at SMALL_OUTPUT and the stream takes over.
    const liar = Buffer.from(gz);
    liar.writeUInt32LE(100, liar.length - 4);
    await expect(drain(inflateLayer(source(liar), "layer x"))).rejects.toThrow(/layer x: cannot decompress gzip stream/);
  });

  test("multi-member gzip and a size trailer smaller than the data still give every byte", async () => {
    const a = tarLike(100_000);
    const b = tarLike(70_000).reverse();
    const gz = Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(b)]);
    expect((await drain(inflateLayer(source(gz), "layer x"))).sha).toBe(sha(Buffer.concat([a, b])));
  });

  test("corrupt gzip fails with the stream's error, naming the layer", async () => {
    const gz = Buffer.from(zlib.gzipSync(tarLike(200_000)));
    gz[gz.length >> 1] ^= 0xff;
    const err = await drain(inflateLayer(source(gz), "layer sha256:abc")).catch((e) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as Error).message).toMatch(/^layer sha256:abc: cannot decompress gzip stream/);
  });

  test("plain tar and zstd pass through unchanged", async () => {
    const raw = tarLike(50_000);
    expect((await drain(inflateLayer(source(raw, 7000), "layer x"))).sha).toBe(sha(raw));
    if (!zstdSupported()) {
      console.log("skipping the zstd half: this runtime's node:zlib has no zstd");
      return;
    }
    const z = zlib as unknown as { zstdCompressSync(b: Uint8Array): Uint8Array };
    expect((await drain(inflateLayer(source(z.zstdCompressSync(raw)), "layer x"))).sha).toBe(sha(raw));
  });

  test("an empty source gives nothing", async () => {
    expect((await drain(inflateLayer(source(new Uint8Array(0)), "layer x"))).size).toBe(0);
  });
});
