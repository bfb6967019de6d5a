// Broken input must end in a clear Error (or documented behaviour), never a hang or garbage.
import { describe, expect, test } from "bun:test";
import { readTar, type ReadTarOptions } from "../../src/tar/reader.ts";
import { encodeHeaders, TarWriter } from "../../src/tar/writer.ts";
import { writeChecksum } from "../../src/tar/header.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { chunks } from "./peers.ts";

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 } as const;

async function archive(entries: [TarHeader, Uint8Array?][]): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const w = new TarWriter((b) => {
    out.push(b);
  });
  for (const [h, b] of entries) await w.add(h, b);
  await w.finish();
  return Buffer.concat(out);
}

/** Reads everything (bodies too); resolves to the entry names. */
async function readAll(data: Uint8Array, opts?: ReadTarOptions, readBodies = true): Promise<string[]> {
  const names: string[] = [];
  for await (const e of readTar(chunks(data, 700), opts)) {
    names.push(e.header.name);
    if (readBodies) for await (const _ of e.body);
  }
  return names;
}

const body = new Uint8Array(3000).fill(7);
const sample = await archive([
  [{ ...base, name: "a", type: "file", size: body.length }, body],
  [{ ...base, name: "x".repeat(300), type: "file", size: 10 }, new Uint8Array(10)],
  [{ ...base, name: "c", type: "dir", size: 0 }],
]);

/** A raw ustar header block with PAX records as its body. */
function paxArchive(records: string, headerSize?: number): Uint8Array {
  const rec = Buffer.from(records, "latin1");
  const px = encodeHeaders({ ...base, name: "p", type: "file", size: 0, mtime: 1.5 }); // has a PAX header
  const h = px.slice(0, 512);
  const size = headerSize ?? rec.length;
  h.fill(0, 124, 136);
  Buffer.from(size.toString(8).padStart(11, "0") + "\0").copy(h, 124);
  writeChecksum(h);
  const pad = (512 - (rec.length % 512)) % 512;
  return Buffer.concat([h, rec, new Uint8Array(pad), px.subarray(px.length - 512), new Uint8Array(1024)]);
}

describe("truncation", () => {
  test("every cut inside an entry throws a truncation error, whether or not bodies are read", async () => {
    // Entry boundaries: a header+body of "a" (512+3072), then "x"*300 (PAX 1024 + 512 + 512).
    const boundaries = new Set([0, 3584, 5632, 6144, 7168]);
    for (let cut = 1; cut < 6144; cut += 97) {
      if (boundaries.has(cut)) continue;
      const part = sample.subarray(0, cut);
      await expect(readAll(part)).rejects.toThrow(/truncated/);
      await expect(readAll(part, {}, false)).rejects.toThrow(/truncated/);
    }
  });

  test("a cut exactly at an entry boundary is a valid archive without end marker", async () => {
    expect(await readAll(sample.subarray(0, 3584))).toEqual(["a"]);
  });

  test("a PAX header with no entry after it is truncated", async () => {
    await expect(readAll(sample.subarray(0, 3584 + 1024))).rejects.toThrow(/truncated/);
  });
});

describe("corruption", () => {
  test("bad checksum", async () => {
    const bad = Buffer.from(sample);
    bad[3584 + 1024 + 5] ^= 1; // a byte of the ustar name of the second entry
    await expect(readAll(bad)).rejects.toThrow(/bad header checksum at offset 4608/);
  });

  test("random bytes are not a tar file", async () => {
    const junk = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    await expect(readAll(junk)).rejects.toThrow(/checksum/);
  });

  test("invalid octal digit in a numeric field", async () => {
    const h = encodeHeaders({ ...base, name: "f", type: "file", size: 0 });
    h[124 + 3] = 0x39; // '9'
    writeChecksum(h);
    await expect(readAll(Buffer.concat([h, new Uint8Array(1024)]))).rejects.toThrow(/octal digit.*size/);
  });

  test("negative base-256 size", async () => {
    const h = encodeHeaders({ ...base, name: "f", type: "file", size: 0 });
    h.fill(0xff, 124, 136);
    writeChecksum(h);
    await expect(readAll(Buffer.concat([h, new Uint8Array(1024)]))).rejects.toThrow(/negative size/);
  });

  test("GNU sparse entries are refused clearly", async () => {
    const h = encodeHeaders({ ...base, name: "s", type: "file", size: 0 });
    h[156] = 0x53; // 'S'
    writeChecksum(h);
    await expect(readAll(Buffer.concat([h, new Uint8Array(1024)]))).rejects.toThrow(/sparse.*not supported/);
  });
});

describe("PAX records", () => {
  test("well-formed records are applied (the helper itself is sound)", async () => {
    expect(await readAll(paxArchive("16 path=renamed\n"))).toEqual(["renamed"]);
  });

  test("a record claiming more bytes than the header has", async () => {
    await expect(readAll(paxArchive("50 path=abc\n"))).rejects.toThrow(/malformed PAX record.*runs past/);
  });

  test("a record whose length does not end at its newline", async () => {
    await expect(readAll(paxArchive("11 path=abc\n12 path=x\n"))).rejects.toThrow(/malformed PAX record.*newline/);
  });

  test("missing length, missing '='", async () => {
    await expect(readAll(paxArchive("path=abc\n"))).rejects.toThrow(/malformed PAX record/);
    await expect(readAll(paxArchive("9 pathab\n"))).rejects.toThrow(/missing '='/);
  });

  test("negative and huge sizes", async () => {
    await expect(readAll(paxArchive("11 size=-5\n"))).rejects.toThrow(/size="-5" is not a non-negative integer/);
    await expect(readAll(paxArchive("29 size=99999999999999999999\n"))).rejects.toThrow(/out of range/);
  });

  test("an extended header that claims gigabytes is refused before reading it", async () => {
    await expect(readAll(paxArchive("16 path=renamed\n", 2 ** 31))).rejects.toThrow(/claims 2147483648 bytes/);
  });
});

describe("after the end marker", () => {
  const garbage = Buffer.concat([sample, Buffer.from("trailing garbage, e.g. a concatenated second file")]);

  test("default: trailing bytes are drained and ignored", async () => {
    let pulled = 0;
    async function* counted() {
      for await (const c of chunks(garbage, 1000)) {
        pulled += c.length;
        yield c;
      }
    }
    const names: string[] = [];
    for await (const e of readTar(counted())) names.push(e.header.name);
    expect(names).toEqual(["a", "x".repeat(300), "c/"]);
    expect(pulled).toBe(garbage.length);
  });

  test('trailing: "error" rejects non-zero trailing bytes but accepts zero padding', async () => {
    await expect(readAll(garbage, { trailing: "error" })).rejects.toThrow(/after the end-of-archive marker/);
    const padded = Buffer.concat([sample, new Uint8Array(9216)]);
    expect(await readAll(padded, { trailing: "error" })).toEqual(["a", "x".repeat(300), "c/"]);
  });

  test("empty input and a lone zero block are empty archives", async () => {
    expect(await readAll(new Uint8Array(0))).toEqual([]);
    expect(await readAll(new Uint8Array(512))).toEqual([]);
  });
});
