// Our writer's output, read back by GNU tar and Python's tarfile.
import { describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { encodeHeaders, TarWriter } from "../../src/tar/writer.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { corpus } from "./corpus.ts";
import { dumpTree, fileChunks, python, pythonList, reencode, run, type TreeEntry } from "./peers.ts";

const c = corpus();

function extract(archive: string, into: string): void {
  mkdirSync(into, { recursive: true });
  run("tar", ["-xpf", archive, "-C", into, "--numeric-owner", "--xattrs", "--xattrs-include=*"]);
}

/** Tree dumps equal, except mtimes may differ by float rounding (TarHeader.mtime is a double). */
function expectSameTree(ours: TreeEntry[], theirs: TreeEntry[]): void {
  expect(ours.map((e) => e.path)).toEqual(theirs.map((e) => e.path));
  const strip = (e: TreeEntry) => ({ ...e, mtime_ns: "" });
  expect(ours.map(strip)).toEqual(theirs.map(strip));
  for (let i = 0; i < ours.length; i++) {
    const d = BigInt(ours[i]!.mtime_ns) - BigInt(theirs[i]!.mtime_ns);
    if (d > 1000n || d < -1000n) throw new Error(`${ours[i]!.path}: mtime differs by ${d} ns`);
  }
}

describe("writer output read by the peers", () => {
  const ours = join(c.dir, "writer-ours.tar");
  writeFileSync(ours, new Uint8Array(0));

  test("re-encoding the GNU pax+xattrs archive: Python sees the same entries", async () => {
    writeFileSync(ours, await reencode(fileChunks(c.archives.pax)));
    expect(pythonList(ours)).toEqual(pythonList(c.archives.pax));
  });

  test("GNU tar lists the same entries", () => {
    // Minute resolution: sub-second times carry float rounding (checked to 1 µs below).
    const list = (a: string) => run("tar", ["-tvf", a, "--numeric-owner"]);
    const mine = list(ours);
    expect(mine.split("\n").length).toBeGreaterThan(100);
    expect(mine).toEqual(list(c.archives.pax));
  });

  test("GNU tar extracts the same tree, xattrs included, as from its own archive and as the original", () => {
    extract(ours, join(c.dir, "x-ours"));
    extract(c.archives.pax, join(c.dir, "x-gnu"));
    const mine = dumpTree(join(c.dir, "x-ours"), c.top);
    expectSameTree(mine, dumpTree(join(c.dir, "x-gnu"), c.top));
    // Against the source tree for the crafted part (symlink mtimes are not restored by tar).
    const noLinkTimes = (l: TreeEntry[]) => l.map((e) => (e.type === "symlink" ? { ...e, mtime_ns: "0" } : e));
    const crafted = dumpTree(join(c.dir, "x-ours"), ["crafted"]);
    expectSameTree(noLinkTimes(crafted), noLinkTimes(dumpTree(c.tree, ["crafted"])));
    const caps = crafted.find((e) => e.path === "crafted/extended/caps")!;
    expect(caps.xattrs["security.capability"]).toBe("0100000200040000000000000000000000000000");
    expect(caps.xattrs["user.binary"]).toBe("fffe000180");
  });
});

describe("headers the peers never produced for us", () => {
  const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 } as const;

  test("synthetic entries round-trip through Python and GNU tar", async () => {
    const chunks: Uint8Array[] = [];
    const w = new TarWriter((b) => {
      chunks.push(b);
    });
    const entries: [TarHeader, Uint8Array?][] = [
      [{ ...base, name: "dir-without-slash", type: "dir", mode: 0o755, size: 0 }],
      [{ ...base, name: "ünïcode-owner", type: "file", size: 3, uname: "jürgen", gname: "ŋroup-name-that-is-longer-than-32-bytes", uid: 2097152, gid: 2097151 }, new Uint8Array([1, 2, 3])],
      [{ ...base, name: "a/".repeat(60) + "deep", type: "file", size: 0, mtime: 1700000000.5 }],
      [{ ...base, name: "xattr-only", type: "file", size: 0, xattrs: new Map([["trusted.x", new Uint8Array([0, 10, 61, 255])]]) }],
      [{ ...base, name: "extra-pax", type: "fifo", size: 0, pax: new Map([["comment", "kept"], ["SCHILY.fflags", "nodump"]]) }],
      [{ ...base, name: "tty", type: "char", size: 0, devmajor: 136, devminor: 1048575 }],
    ];
    for (const [h, b] of entries) await w.add(h, b);
    await w.finish();
    const path = join(c.dir, "synthetic.tar");
    writeFileSync(path, Buffer.concat(chunks));
    const py = pythonList(path);
    expect(py.map((e) => e.name)).toEqual(["dir-without-slash", "ünïcode-owner", "a/".repeat(60) + "deep", "xattr-only", "extra-pax", "tty"]);
    expect(py[1]).toMatchObject({ uname: "jürgen", gname: "ŋroup-name-that-is-longer-than-32-bytes", uid: 2097152, gid: 2097151 });
    expect(py[2]!.mtime).toBe(1700000000.5);
    expect(py[3]!.xattrs).toEqual({ "trusted.x": "000a3dff" });
    expect(py[4]!.pax).toEqual({ comment: "kept", "SCHILY.fflags": "nodump" });
    expect(py[5]).toMatchObject({ type: "char", devmajor: 136, devminor: 1048575 });
    const gnu = run("tar", ["-tvf", path, "--numeric-owner"]);
    expect(gnu).toContain("dir-without-slash/");
    expect(gnu).toContain("2097152/2097151");
  });

  test("a 16 GiB size goes into PAX and the peers seek past the body", () => {
    // The body is a hole in a sparse file, so this costs no disk and no time.
    const size = 16 * 2 ** 30;
    const path = join(c.dir, "huge.tar");
    const head = encodeHeaders({ ...base, name: "huge.img", type: "file", size });
    const fd = openSync(path, "w");
    writeSync(fd, head, 0, head.length, 0);
    ftruncateSync(fd, head.length + size + 1024);
    closeSync(fd);
    const out = python(
      `import sys, tarfile\nm = tarfile.open(sys.argv[1]).getmembers()\nprint(len(m), m[0].name, m[0].size)`,
      [path],
    );
    expect(out.trim()).toBe(`1 huge.img ${size}`);
    expect(run("tar", ["-tvf", path])).toContain(`${size} 2023-11-14`);
    const first = Buffer.alloc(512);
    const rfd = openSync(path, "r");
    readSync(rfd, first, 0, 512, 0);
    closeSync(rfd);
    expect(first.toString("latin1")).toContain("././@PaxHeader");
  });
});
