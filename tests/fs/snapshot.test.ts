// What the walk snapshotter puts into layers, entry by entry, and the layer file's digests.
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { createSnapshotter, type WrittenLayer } from "../../src/fs/snapshot.ts";
import { applyLayer } from "../../src/fs/unpack.ts";
import { decompress } from "../../src/fs/compression.ts";
import { readTar } from "../../src/tar/reader.ts";
import { captureTree, diffTrees } from "./tree.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-snapshot-`);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
let n = 0;

function fresh(): string {
  const d = `${work}/t${n++}`;
  fs.mkdirSync(`${d}/root`, { recursive: true });
  return d;
}

async function entries(layer: WrittenLayer): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(decompress(fs.createReadStream(layer.path), layer.path))) {
    const h = e.header;
    out.push(h.type === "hardlink" ? `${h.name} => ${h.linkname}` : h.type === "symlink" ? `${h.name} -> ${h.linkname}` : h.name);
  }
  return out;
}

describe("walk snapshotter layers", () => {
  test("a deleted directory is one whiteout; parents of changes are included", async () => {
    const d = fresh();
    const r = `${d}/root`;
    fs.mkdirSync(`${r}/gone/deep/er`, { recursive: true });
    fs.writeFileSync(`${r}/gone/deep/er/f`, "x");
    fs.mkdirSync(`${r}/tmp/a`, { recursive: true });
    fs.chmodSync(`${r}/tmp`, 0o1777);
    fs.writeFileSync(`${r}/keep`, "k");
    const s = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "gzip" });
    await s.init();
    fs.rmSync(`${r}/gone`, { recursive: true });
    fs.writeFileSync(`${r}/tmp/a/new`, "n");
    const layer = (await s.snapshot(`${d}/out`))!;
    expect(await entries(layer)).toEqual([".wh.gone", "tmp/", "tmp/a/", "tmp/a/new"]);
    expect(await s.snapshot(`${d}/out`)).toBeNull();
  });

  test("a directory deleted and re-created gets an opaque whiteout", async () => {
    const d = fresh();
    const r = `${d}/root`;
    fs.mkdirSync(`${r}/etc/conf.d`, { recursive: true });
    fs.writeFileSync(`${r}/etc/conf.d/old`, "o");
    const s = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "gzip" });
    await s.init();
    fs.mkdirSync(`${r}/etc/next`); // created first so the new directory cannot reuse the old inode
    fs.writeFileSync(`${r}/etc/next/new`, "n");
    fs.rmSync(`${r}/etc/conf.d`, { recursive: true });
    fs.renameSync(`${r}/etc/next`, `${r}/etc/conf.d`);
    const layer = (await s.snapshot(`${d}/out`))!;
    expect(await entries(layer)).toEqual(["etc/", "etc/conf.d/", "etc/conf.d/.wh..wh..opq", "etc/conf.d/new"]);
  });

  test("hardlinks become link entries; ignored paths never appear", async () => {
    const d = fresh();
    const r = `${d}/root`;
    fs.mkdirSync(`${r}/proc`);
    fs.mkdirSync(`${r}/kiln`);
    fs.writeFileSync(`${r}/etc-hosts`, "bind mounted");
    const s = createSnapshotter({ rootfs: r, strategy: "walk", ignore: ["/proc", "/kiln/", "/etc-hosts"], compression: "none" });
    await s.init();
    fs.writeFileSync(`${r}/a`, "data");
    fs.linkSync(`${r}/a`, `${r}/b`);
    fs.symlinkSync("a", `${r}/c`);
    fs.writeFileSync(`${r}/proc/x`, "ignored");
    fs.writeFileSync(`${r}/kiln/state`, "ignored");
    fs.writeFileSync(`${r}/etc-hosts`, "changed but ignored");
    const layer = (await s.snapshot(`${d}/out`))!;
    expect(await entries(layer)).toEqual(["a", "b => a", "c -> a"]);
    expect(layer.digest).toBe(layer.diffId); // uncompressed: both are the tar's digest
  });

  test("snapshotPaths writes exactly the given paths and the next snapshot skips them", async () => {
    const d = fresh();
    const r = `${d}/root`;
    fs.mkdirSync(`${r}/usr/bin`, { recursive: true });
    fs.symlinkSync("/usr/bin", `${r}/bin`);
    fs.mkdirSync(`${r}/app/old`, { recursive: true });
    fs.writeFileSync(`${r}/app/old/f`, "o");
    const s = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "gzip" });
    await s.init();
    fs.writeFileSync(`${r}/usr/bin/tool`, "t");
    fs.mkdirSync(`${r}/app/src/lib`, { recursive: true });
    fs.writeFileSync(`${r}/app/src/lib/x.js`, "x");
    fs.rmSync(`${r}/app/old`, { recursive: true });
    const layer = await s.snapshotPaths(["/bin/tool", "/app/src", "/app/old"], `${d}/out`);
    expect(await entries(layer)).toEqual(["app/", "app/.wh.old", "app/src/", "app/src/lib/", "app/src/lib/x.js", "usr/", "usr/bin/", "usr/bin/tool"]);
    expect(await s.snapshot(`${d}/out`)).toBeNull();
  });

  test("digests: gzip and zstd files hash to digest, their contents to diffId; zstd round-trips", async () => {
    const d = fresh();
    const r = `${d}/root`;
    const s1 = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "gzip", level: 1 });
    await s1.init();
    fs.writeFileSync(`${r}/big`, Buffer.alloc(3 << 20, 7));
    fs.writeFileSync(`${r}/small`, "s");
    const g = (await s1.snapshot(`${d}/out`))!;
    const s2 = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "zstd" });
    const empty = fresh();
    await s2.init();
    const z = await s2.snapshotPaths(["/big", "/small"], `${d}/out`);
    const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
    const gz = fs.readFileSync(g.path);
    expect(sha(gz)).toBe(g.digest);
    expect(gz.length).toBe(g.size);
    const tar = zlib.gunzipSync(gz);
    expect(sha(tar)).toBe(g.diffId);
    expect(tar.length).toBe(g.uncompressedSize);
    expect(g.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(g.entries).toBe(2);
    expect(z.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(sha(fs.readFileSync(z.path))).toBe(z.digest);
    expect(z.diffId).toBe(g.diffId); // same entries, same tar
    await applyLayer(`${empty}/root`, fs.createReadStream(z.path), { mediaType: z.mediaType });
    expect(diffTrees(captureTree(r, { mtimes: true }), captureTree(`${empty}/root`, { mtimes: true }))).toEqual([]);
  });

  test("reproducible layers are byte-identical across time", async () => {
    const digests: string[] = [];
    for (let i = 0; i < 2; i++) {
      const d = fresh();
      const r = `${d}/root`;
      const s = createSnapshotter({ rootfs: r, strategy: "walk", ignore: [], compression: "gzip", reproducible: { epoch: 0 } });
      await s.init();
      fs.mkdirSync(`${r}/etc`);
      fs.writeFileSync(`${r}/etc/conf`, "same");
      fs.symlinkSync("conf", `${r}/etc/link`);
      fs.utimesSync(`${r}/etc/conf`, 1000 + i, 1000 + i);
      digests.push((await s.snapshot(`${d}/out`))!.digest);
      await Bun.sleep(1100); // a different wall-clock second for the second tree
    }
    expect(digests[0]).toBe(digests[1]!);
  });
});

describe("skeleton rootfs (steps that only add files)", () => {
  test("files are unpacked empty with their metadata, /etc/passwd whole; COPY layers never take them", async () => {
    const d = fresh();
    const src = `${d}/root`;
    const s = createSnapshotter({ rootfs: src, strategy: "walk", ignore: [], compression: "gzip" });
    await s.init();
    fs.mkdirSync(`${src}/etc`);
    fs.mkdirSync(`${src}/sub`);
    fs.writeFileSync(`${src}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
    fs.writeFileSync(`${src}/data`, Buffer.alloc(100_000, 1), { mode: 0o640 });
    fs.writeFileSync(`${src}/sub/old`, "old");
    const layer = (await s.snapshot(`${d}/out`))!;

    const skel = `${d}/skel`;
    fs.mkdirSync(skel);
    const emptied = new Set<number>();
    await applyLayer(skel, fs.createReadStream(layer.path), { mediaType: layer.mediaType, skeleton: emptied });
    expect(fs.readFileSync(`${skel}/etc/passwd`, "utf8")).toBe("root:x:0:0::/root:/bin/sh\n");
    expect(fs.statSync(`${skel}/data`).size).toBe(0);
    expect(fs.statSync(`${skel}/data`).mode & 0o7777).toBe(0o640);
    expect(fs.statSync(`${skel}/data`).mtimeMs).toBe(Math.floor(fs.statSync(`${src}/data`).mtimeMs / 1000) * 1000); // tar keeps seconds
    expect(emptied).toEqual(new Set([fs.statSync(`${skel}/data`).ino, fs.statSync(`${skel}/sub/old`).ino]));

    const t = createSnapshotter({ rootfs: skel, strategy: "walk", ignore: [], compression: "gzip", skeleton: emptied });
    await t.init();
    // COPY into an existing directory: the layer has the new file and its parent, not sub/old.
    fs.writeFileSync(`${skel}/sub/new`, "new");
    expect(await entries(await t.snapshotPaths(["/sub"], `${d}/out`))).toEqual(["sub/", "sub/new"]);
    await expect(t.snapshot(`${d}/out`)).rejects.toThrow(/whole-rootfs snapshot of a skeleton/);
    // A new name linked to an emptied file would put an empty file in the layer: refused.
    fs.linkSync(`${skel}/data`, `${skel}/linked`);
    await expect(t.snapshotPaths(["/linked"], `${d}/out`)).rejects.toThrow(/hard link to a file whose contents were not unpacked/);
  });
});
