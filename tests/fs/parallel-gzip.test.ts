// ParallelGzip compresses a small stream inline (gzipSync) and a big one block by block on the
// thread pool. Layer digests, and so cache keys and --reproducible image digests, depend on those
// bytes: whatever the path, the output must be exactly one gzip member per 2 MiB block made by a
// zlib gzip stream at the same level, as before the inline path existed.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createGzip, gunzipSync } from "node:zlib";
import { BLOCK, INLINE_MAX, ParallelGzip } from "../../src/fs/parallel-gzip.ts";

/** The reference: each BLOCK-sized slice through its own zlib gzip stream (the pool's output chunk size: at level 0 it shapes the stored blocks), members concatenated. */
async function reference(data: Uint8Array, level: number | undefined): Promise<Buffer> {
  const members: Buffer[] = [];
  for (let off = 0; off < data.length || off === 0; off += BLOCK) {
    const z = createGzip({ ...(level === undefined ? {} : { level }), chunkSize: BLOCK + (64 << 10) });
    const out: Buffer[] = [];
    z.on("data", (c: Buffer) => out.push(c));
    const done = new Promise((ok, fail) => (z.on("end", ok), z.on("error", fail)));
    z.end(data.subarray(off, off + BLOCK));
    await done;
    members.push(Buffer.concat(out));
    if (data.length === 0) break;
  }
  return Buffer.concat(members);
}

/** ParallelGzip's output for `data` fed in `piece`-sized writes. */
async function pooled(data: Uint8Array, level: number | undefined, piece: number): Promise<Buffer> {
  const out: Uint8Array[] = [];
  const gz = new ParallelGzip(level, (c) => out.push(Uint8Array.from(c)));
  for (let off = 0; off < data.length; off += piece) await gz.write(data.subarray(off, off + piece));
  await gz.end();
  return Buffer.concat(out);
}

/** Tar-like data: compressible text with a random stretch, so both deflate paths have work. */
function sample(size: number): Uint8Array {
  const text = Buffer.from("usr/bin/busybox\0".repeat(Math.ceil(size / 16))).subarray(0, size);
  const noise = randomBytes(Math.min(size >> 2, 50_000));
  text.set(noise, size >> 1 > noise.length ? size >> 1 : 0);
  return new Uint8Array(text);
}

describe("ParallelGzip output is the same bytes inline and pooled", () => {
  const sizes = [0, 1, 300, 1024, 10_000, INLINE_MAX - 1, INLINE_MAX, INLINE_MAX + 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 4097];
  for (const level of [undefined, 0, 1, 2, 6, 9]) {
    test(`level ${level ?? "default"}`, async () => {
      for (const size of sizes) {
        const data = sample(size);
        const want = await reference(data, level);
        for (const piece of [512, 64 << 10, 3 << 20]) {
          const got = await pooled(data, level, piece);
          expect({ size, piece, same: got.equals(want) }).toEqual({ size, piece, same: true });
        }
        expect(Buffer.from(gunzipSync(want)).equals(Buffer.from(data))).toBe(true);
      }
    });
  }
});
