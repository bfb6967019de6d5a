// Our reader against Python's tarfile on archives made by GNU tar and by Python itself.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { readTar } from "../../src/tar/reader.ts";
import { corpus } from "./corpus.ts";
import { chunks, fileChunks, ourList, pythonList, type Listed } from "./peers.ts";

const c = corpus();

function byName(list: Listed[], name: string): Listed {
  const e = list.find((x) => x.name === name);
  if (!e) throw new Error(`no entry ${name}`);
  return e;
}

describe("reader agrees with Python tarfile", () => {
  for (const [kind, path] of Object.entries(c.archives)) {
    test(`${kind} archive`, async () => {
      const ours = await ourList(fileChunks(path, 65536));
      const theirs = pythonList(path);
      expect(ours.length).toBeGreaterThan(kind === "v7" ? 4 : 100);
      expect(ours).toEqual(theirs);
    });
  }
});

describe("the corpus exercises what it claims to", () => {
  test("GNU pax archive: xattrs as raw bytes, big ids, long names, sub-second and pre-epoch times", async () => {
    const list = await ourList(fileChunks(c.archives.pax));
    const caps = byName(list, "crafted/extended/caps");
    expect(caps.xattrs["security.capability"]).toBe("0100000200040000000000000000000000000000");
    expect(caps.xattrs["user.binary"]).toBe("fffe000180");
    expect(Buffer.from(caps.xattrs["user.comment"]!, "hex").toString()).toBe("héllo =\n");
    expect(byName(list, "crafted/extended/xdir").xattrs["user.dir"]).toBe(Buffer.from("on a directory").toString("hex"));
    const big = byName(list, "crafted/extended/bigids");
    expect([big.uid, big.gid]).toEqual([3000000000, 3000000001]);
    expect(byName(list, `crafted/extended/${"x".repeat(200)}/${"y".repeat(200)}`).size).toBe(14);
    expect(byName(list, "crafted/extended/link-300").linkname).toBe("t".repeat(300));
    expect(byName(list, "crafted/extended/old").mtime).toBe(-86400 * 365);
    expect(byName(list, "crafted/extended/future").mtime).toBe(9_000_000_000);
    expect(byName(list, "crafted/basic/plain.txt").mtime).toBeCloseTo(1700000000.123456789, 6);
  });

  test("GNU format archive: base-256 ids and times, 'L'/'K' long names", async () => {
    const list = await ourList(fileChunks(c.archives.gnu));
    const big = byName(list, "crafted/extended/bigids");
    expect([big.uid, big.gid]).toEqual([3000000000, 3000000001]);
    expect(byName(list, "crafted/extended/old").mtime).toBe(-86400 * 365);
    expect(byName(list, "crafted/extended/future").mtime).toBe(9_000_000_000);
    // Which of the three names is the link target depends on readdir order; one long name must be.
    const longLinks = list.filter((e) => e.type === "hardlink" && e.linkname!.length > 100);
    expect(longLinks.length).toBeGreaterThan(0);
  });

  test("devices, fifo, setuid/setgid/sticky bits come through", async () => {
    const list = await ourList(fileChunks(c.archives.ustar));
    expect(byName(list, "crafted/basic/bigdev")).toMatchObject({ type: "char", devmajor: 4095, devminor: 1048575 });
    expect(byName(list, "crafted/basic/sda1")).toMatchObject({ type: "block", devmajor: 8, devminor: 1, mode: 0o660 });
    expect(byName(list, "crafted/basic/fifo")).toMatchObject({ type: "fifo", mode: 0o640 });
    expect(byName(list, "crafted/basic/setuid").mode).toBe(0o4755);
    expect(byName(list, "crafted/basic/setgid").mode).toBe(0o2755);
    expect(byName(list, "crafted/basic/sticky")).toMatchObject({ type: "dir", mode: 0o1777 });
    expect(byName(list, "crafted/basic/sparse").size).toBe(8 << 20);
  });

  test("directory names are returned as stored (GNU tar stores a trailing slash)", async () => {
    const names: string[] = [];
    for await (const e of readTar(fileChunks(c.archives.gnu))) if (e.header.type === "dir") names.push(e.header.name);
    expect(names.length).toBeGreaterThan(10);
    expect(names.every((n) => n.endsWith("/"))).toBe(true);
  });

  test("Python's global 'g' header applies to every entry", async () => {
    const list = await ourList(fileChunks(c.archives.pyPax));
    expect(list.every((e) => e.pax.comment === "kiln global header")).toBe(true);
  });

  test("chunking does not matter: 1-byte, 511-byte and whole-archive chunks agree", async () => {
    const data = readFileSync(c.archives.v7);
    const whole = await ourList(chunks(data, data.length));
    expect(await ourList(chunks(data, 1))).toEqual(whole);
    const pax = readFileSync(c.archives.pax);
    expect(await ourList(chunks(pax, 511))).toEqual(await ourList(chunks(pax, pax.length)));
  });
});
