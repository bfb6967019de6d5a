// Reader and writer contracts that callers rely on: zero-copy bodies, skipping, one-shot bodies,
// determinism, size checks.
import { describe, expect, test } from "bun:test";
import { readTar } from "../../src/tar/reader.ts";
import { TarWriter } from "../../src/tar/writer.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { chunks } from "./peers.ts";

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 } as const;

async function write(entries: [TarHeader, (Uint8Array | AsyncIterable<Uint8Array>)?][], recordSize?: number) {
  const out: Uint8Array[] = [];
  const w = new TarWriter((b) => {
    out.push(b);
  }, { recordSize });
  for (const [h, b] of entries) await w.add(h, b);
  await w.finish();
  return Buffer.concat(out);
}

const big = new Uint8Array(300_000).map((_, i) => i % 253);
const sample = await write([
  [{ ...base, name: "big", type: "file", size: big.length }, big],
  [{ ...base, name: "small", type: "file", size: 5 }, new TextEncoder().encode("small")],
  [{ ...base, name: "d", type: "dir", size: 0, mode: 0o755 }],
]);

describe("reader", () => {
  test("bodies are views of the source chunks, not copies", async () => {
    const sourceBuffers = new Set<ArrayBufferLike>();
    async function* src() {
      for await (const c of chunks(sample, 65536)) {
        const own = c.slice(); // each chunk its own ArrayBuffer
        sourceBuffers.add(own.buffer);
        yield own;
      }
    }
    let seen = 0;
    for await (const e of readTar(src())) {
      for await (const c of e.body) {
        expect(sourceBuffers.has(c.buffer)).toBe(true);
        seen += c.length;
      }
    }
    expect(seen).toBe(big.length + 5);
  });

  test("unread and half-read bodies are skipped", async () => {
    const got: [string, number][] = [];
    for await (const e of readTar(chunks(sample, 1000))) {
      let n = 0;
      if (e.header.name === "big") {
        for await (const c of e.body) {
          n += c.length;
          if (n > 5000) break;
        }
      }
      got.push([e.header.name, n]);
    }
    // 1000-byte source chunks: 488 body bytes after the header, then whole chunks.
    expect(got).toEqual([["big", 5488], ["small", 0], ["d/", 0]]);
  });

  test("a body read after moving on, or read twice, throws", async () => {
    const it = readTar(chunks(sample, 4096));
    const first = (await it.next()).value!;
    await it.next();
    await expect((async () => { for await (const _ of first.body); })()).rejects.toThrow(/after the reader moved/);
    const again = readTar(chunks(sample, 4096));
    const e = (await again.next()).value!;
    for await (const _ of e.body);
    await expect((async () => { for await (const _ of e.body); })()).rejects.toThrow(/only be read once/);
    await again.return(undefined);
  });

  test("stopping early closes the source", async () => {
    let closed = false;
    async function* src() {
      try {
        yield* chunks(sample, 512);
      } finally {
        closed = true;
      }
    }
    for await (const e of readTar(src())) if (e.header.name === "big") break;
    expect(closed).toBe(true);
  });
});

describe("writer", () => {
  test("plain entries are ustar only: no PAX header, padded body, two zero end blocks", async () => {
    const out = await write([[{ ...base, name: "f", type: "file", size: 3 }, new Uint8Array([1, 2, 3])]]);
    expect(out.length).toBe(512 * 4);
    expect(out[156]).toBe(0x30);
    expect(out.subarray(257, 265).toString()).toBe("ustar\x0000");
    expect(out.subarray(1024).every((b) => b === 0)).toBe(true);
  });

  test("recordSize pads like GNU tar and Python", async () => {
    const out = await write([[{ ...base, name: "f", type: "file", size: 0 }]], 10240);
    expect(out.length).toBe(10240);
  });

  test("deterministic: same input, same bytes; xattr insertion order does not matter", async () => {
    const x1 = new Map([["user.b", new Uint8Array([2])], ["user.a", new Uint8Array([1])]]);
    const x2 = new Map([["user.a", new Uint8Array([1])], ["user.b", new Uint8Array([2])]]);
    const a = await write([[{ ...base, name: "f", type: "file", size: 0, xattrs: x1 }]]);
    const b = await write([[{ ...base, name: "f", type: "file", size: 0, xattrs: x2 }]]);
    expect(Buffer.compare(a, b)).toBe(0);
    const streamed = await write([[{ ...base, name: "big", type: "file", size: big.length }, chunks(big, 777)]]);
    const whole = await write([[{ ...base, name: "big", type: "file", size: big.length }, big]]);
    expect(Buffer.compare(streamed, whole)).toBe(0);
  });

  test("body length must equal header.size, and a failed writer stays failed", async () => {
    const h: TarHeader = { ...base, name: "f", type: "file", size: 10 };
    const w1 = new TarWriter(() => {});
    await expect(w1.add(h, new Uint8Array(9))).rejects.toThrow(/9 bytes but header.size is 10/);
    const w2 = new TarWriter(() => {});
    await expect(w2.add(h, chunks(new Uint8Array(11), 4))).rejects.toThrow(/longer than header.size 10/);
    await expect(w2.add({ ...h, size: 0 })).rejects.toThrow(/failed earlier/);
    const w3 = new TarWriter(() => {});
    await expect(w3.add(h, chunks(new Uint8Array(4), 4))).rejects.toThrow(/4 bytes but header.size is 10/);
    await expect(new TarWriter(() => {}).add(h)).rejects.toThrow(/no body/);
    await expect(new TarWriter(() => {}).add({ ...base, name: "d", type: "dir", size: 1 })).rejects.toThrow(/size 0/);
  });

  test("overlapping add() calls are refused instead of interleaving bytes", async () => {
    const w = new TarWriter(async () => {
      await new Promise((r) => setTimeout(r, 1));
    });
    const p1 = w.add({ ...base, name: "big", type: "file", size: big.length }, big);
    await expect(w.add({ ...base, name: "f", type: "file", size: 0 })).rejects.toThrow(/before the previous call resolved/);
    await p1;
    await w.finish();
  });

  test("a slow async sink gets every byte, in order", async () => {
    const parts: Uint8Array[] = [];
    const w = new TarWriter(async (c) => {
      await Promise.resolve();
      parts.push(c);
    });
    await w.add({ ...base, name: "big", type: "file", size: big.length }, chunks(big, 50_000));
    await w.finish();
    expect(Buffer.compare(Buffer.concat(parts), await write([[{ ...base, name: "big", type: "file", size: big.length }, big]]))).toBe(0);
    expect(w.bytesWritten).toBe(Buffer.concat(parts).length);
  });
});
