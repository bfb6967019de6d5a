// The push reader (fed chunks synchronously, as the unpacker does) must see exactly what the pull
// reader sees, however the bytes are split, and fail the same way on broken archives.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { readTar } from "../../src/tar/reader.ts";
import { TarPushReader } from "../../src/tar/push-reader.ts";
import { TarWriter } from "../../src/tar/writer.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { corpus } from "./corpus.ts";
import { chunks } from "./peers.ts";

interface Seen {
  header: TarHeader;
  sha: string;
}

async function pulled(data: Uint8Array): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const e of readTar(chunks(data, 65536))) {
    const h = createHash("sha256");
    for await (const c of e.body) h.update(c);
    out.push({ header: e.header, sha: h.digest("hex") });
  }
  return out;
}

function pushed(data: Uint8Array, size: number | number[]): Seen[] {
  const out: Seen[] = [];
  let hash = createHash("sha256");
  let cur: TarHeader | null = null;
  const r = new TarPushReader({
    entry: (h) => {
      expect(cur).toBeNull(); // end() came for the previous entry
      cur = h;
      hash = createHash("sha256");
    },
    body: (b) => void hash.update(b),
    end: () => {
      out.push({ header: cur!, sha: hash.digest("hex") });
      cur = null;
    },
  });
  const sizes = Array.isArray(size) ? size : [size];
  for (let pos = 0, i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    r.push(data.subarray(pos, pos + n));
    pos += n;
  }
  r.finish();
  return out;
}

const c = corpus();

describe("push reader agrees with the pull reader", () => {
  for (const [kind, path] of Object.entries(c.archives)) {
    test(`${kind} archive, split every way`, async () => {
      const data = readFileSync(path);
      const want = await pulled(data);
      expect(want.length).toBeGreaterThan(kind === "v7" ? 4 : 100);
      for (const split of [data.length, 65536, 4096, 700, 512, 511, [1, 2, 509, 513, 3000]]) {
        expect(pushed(data, split)).toEqual(want);
      }
    });
  }
});

async function archive(entries: [TarHeader, Uint8Array?][]): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const w = new TarWriter((b) => void out.push(b.slice()));
  for (const [h, b] of entries) await w.add(h, b);
  await w.finish();
  return Buffer.concat(out);
}

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 } as const;
const body = new Uint8Array(3000).fill(7);
const sample = await archive([
  [{ ...base, name: "a", type: "file", size: body.length }, body],
  [{ ...base, name: "x".repeat(300), type: "file", size: 10 }, new Uint8Array(10)],
  [{ ...base, name: "c", type: "dir", size: 0 }],
]);

async function pullError(data: Uint8Array): Promise<string> {
  try {
    await pulled(data);
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

function pushError(data: Uint8Array, size: number): string {
  try {
    pushed(data, size);
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

describe("push reader on broken archives", () => {
  test("every cut inside an entry is the pull reader's truncation error; cuts at entry boundaries are valid", async () => {
    const boundaries = new Set([0, 3584, 5632, 6144, 7168]);
    for (let cut = 1; cut < 6144; cut += 31) {
      const part = sample.subarray(0, cut);
      const want = await pullError(part);
      if (boundaries.has(cut)) expect(want).toBe("no error");
      else expect(want).toMatch(/truncated/);
      for (const size of [cut, 512, 97, 1]) expect(pushError(part, size)).toBe(want);
    }
  });

  test("a bad checksum is the pull reader's error", async () => {
    const bad = Uint8Array.from(sample);
    bad[3584 + 10] ^= 0xff;
    const want = await pullError(bad);
    expect(want).toMatch(/bad header checksum at offset 3584/);
    expect(pushError(bad, 700)).toBe(want);
  });

  test("bytes after the end marker are ignored", () => {
    const withJunk = Buffer.concat([sample, new Uint8Array(4096).fill(9)]);
    expect(pushed(withJunk, 1000).map((e) => e.header.name)).toEqual(["a", "x".repeat(300), "c/"]);
  });
});
