// Differential test of the two snapshotters: every kind of filesystem change runs on the same
// starting rootfs under the walk and under the overlay, and the layers must be the same (tar
// entries in order with their types, modes, owners, times, xattrs, link targets and contents, and
// the digest with reproducible settings), as must the rootfs left behind. "auto" picks either, so
// the cache key does not name the mode (docs/cache.md): this table is what allows that.
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { createSnapshotter, type Snapshotter, type WrittenLayer } from "../../src/fs/snapshot.ts";
import { decompress } from "../../src/fs/compression.ts";
import { readTar } from "../../src/tar/reader.ts";
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, setTimesNs } from "../../src/runtime/libc.ts";
import { overlayUnavailable } from "../../src/fs/overlay-probe.ts";
import { captureTree, diffTrees } from "./tree.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-snapshot-modes-`);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// Overlay needs root and a kernel and filesystem that allow it; CI runs as root on ext4, so this
// runs there. Elsewhere the table is skipped with the reason (the walk alone has nothing to compare).
const unavailable = overlayUnavailable(work, work);
if (unavailable) console.error(`snapshot-modes: skipped, overlay unavailable: ${unavailable}`);

const T0 = 1_600_000_000; // the starting tree's times (seconds)
const EPOCH = 1_700_000_000; // reproducible clamp: later times (the step's own) all become this
const IGNORE = ["/proc", "/sys", "/dev", "/var/run", "/ign"];

type Step = { change: (r: string) => void; paths?: string[]; ignoreAfter?: string[] };
interface Case {
  name: string;
  setup?: (r: string) => void;
  steps: Step[];
  /** Names the first layer must hold (anchors the case: both modes could be wrong the same way). */
  expect?: string[] | null;
}

const w = (r: string, p: string, data = p) => {
  fs.mkdirSync(`${r}/${p}`.replace(/\/[^/]*$/, ""), { recursive: true });
  fs.writeFileSync(`${r}/${p}`, data);
};
const sh = (r: string, script: string) => {
  const x = spawnSync("sh", ["-c", script], { cwd: r, encoding: "utf8" });
  if (x.status !== 0) throw new Error(`${script}: ${x.stderr}`);
};

// A small rootfs: nested dirs, a hard-link pair and a triple, symlinks, a fifo, xattrs, devices.
function base(r: string): void {
  for (const d of ["etc/conf.d", "usr/bin", "usr/lib/pkg/sub", "var/run", "var/lib", "proc", "dev", "ign", "opt/app/keep", "home/u"]) fs.mkdirSync(`${r}/${d}`, { recursive: true });
  w(r, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  w(r, "etc/hosts", "127.0.0.1 localhost\n");
  w(r, "etc/conf.d/a", "a");
  w(r, "etc/conf.d/b", "b");
  w(r, "usr/bin/tool", "#!/bin/sh\n");
  fs.linkSync(`${r}/usr/bin/tool`, `${r}/usr/bin/tool2`);
  w(r, "usr/lib/libx.so.1", "ELF");
  fs.symlinkSync("libx.so.1", `${r}/usr/lib/libx.so`);
  w(r, "usr/lib/pkg/data", "data");
  w(r, "usr/lib/pkg/sub/deep", "deep");
  fs.linkSync(`${r}/usr/lib/pkg/data`, `${r}/opt/app/data-link`);
  fs.linkSync(`${r}/usr/lib/pkg/data`, `${r}/usr/bin/zdata`);
  w(r, "opt/app/keep/k", "k");
  w(r, "opt/app/main", "main");
  w(r, "var/run/pid", "1");
  w(r, "home/u/.profile", "x");
  fs.chownSync(`${r}/home/u`, 1000, 1000);
  fs.chownSync(`${r}/home/u/.profile`, 1000, 1000);
  lsetxattr(`${r}/usr/bin/tool`, "user.tag", Buffer.from("v1"));
  sh(r, "mkfifo var/lib/fifo");
  mknod(`${r}/dev/null`, S_IFCHR | 0o666, 1, 3);
  // Fixed times everywhere, deepest first (setting a child's time does not touch its parent's).
  const all = spawnSync("find", [".", "-depth"], { cwd: r, encoding: "utf8" }).stdout.trim().split("\n");
  for (const p of all) setTimesNs(`${r}/${p}`, BigInt(T0) * 1_000_000_000n, BigInt(T0) * 1_000_000_000n);
}

const CASES: Case[] = [
  { name: "new file in an existing dir", steps: [{ change: (r) => w(r, "etc/new", "n") }], expect: ["etc/", "etc/new"] },
  { name: "new nested dirs", steps: [{ change: (r) => w(r, "srv/a/b/c", "c") }], expect: ["srv/", "srv/a/", "srv/a/b/", "srv/a/b/c"] },
  { name: "content rewrite, same size, mtime restored", steps: [{ change: (r) => {
    fs.writeFileSync(`${r}/etc/conf.d/a`, "Z");
    setTimesNs(`${r}/etc/conf.d/a`, BigInt(T0) * 1_000_000_000n, BigInt(T0) * 1_000_000_000n);
  } }], expect: ["etc/", "etc/conf.d/", "etc/conf.d/a"] },
  { name: "chmod only", steps: [{ change: (r) => fs.chmodSync(`${r}/opt/app/main`, 0o4755) }], expect: ["opt/", "opt/app/", "opt/app/main"] },
  { name: "chown only", steps: [{ change: (r) => fs.lchownSync(`${r}/opt/app/main`, 1000, 2000) }], expect: ["opt/", "opt/app/", "opt/app/main"] },
  { name: "chown to the same owner (ctime moves: both keep it)", steps: [{ change: (r) => fs.lchownSync(`${r}/opt/app/main`, 0, 0) }], expect: ["opt/", "opt/app/", "opt/app/main"] },
  { name: "touch only", steps: [{ change: (r) => fs.utimesSync(`${r}/opt/app/main`, T0 + 5, T0 + 5) }], expect: ["opt/", "opt/app/", "opt/app/main"] },
  { name: "chmod of a dir, and chmod of a dir to its own mode (nothing)", steps: [{ change: (r) => {
    fs.chmodSync(`${r}/opt/app/keep`, 0o700);
    fs.chmodSync(`${r}/usr/lib/pkg`, 0o755);
  } }], expect: ["opt/", "opt/app/", "opt/app/keep/"] },
  { name: "chown of a symlink", steps: [{ change: (r) => fs.lchownSync(`${r}/usr/lib/libx.so`, 7, 7) }], expect: ["usr/", "usr/lib/", "usr/lib/libx.so"] },
  { name: "delete a file", steps: [{ change: (r) => fs.rmSync(`${r}/etc/conf.d/b`) }], expect: ["etc/", "etc/conf.d/", "etc/conf.d/.wh.b"] },
  { name: "delete a dir (one whiteout)", steps: [{ change: (r) => fs.rmSync(`${r}/opt/app/keep`, { recursive: true }) }], expect: ["opt/", "opt/app/", "opt/app/.wh.keep"] },
  // The new dir is made before the old one goes: the walk sees a deleted and re-created dir by its
  // new inode, and ext4 may hand a freed inode number straight back (the walk then writes the
  // children's whiteouts instead of the opaque marker: the same tree, other entries).
  { name: "dir deleted and re-created (opaque)", steps: [{ change: (r) => {
    w(r, "etc/conf.d.new/fresh", "f");
    fs.rmSync(`${r}/etc/conf.d`, { recursive: true });
    fs.renameSync(`${r}/etc/conf.d.new`, `${r}/etc/conf.d`);
  } }], expect: ["etc/", "etc/conf.d/", "etc/conf.d/.wh..wh..opq", "etc/conf.d/fresh"] },
  { name: "dir emptied by rm -rf and re-created with nested content", steps: [{ change: (r) => {
    w(r, "usr/lib/pkg.new/sub/n", "n");
    fs.rmSync(`${r}/usr/lib/pkg`, { recursive: true });
    fs.renameSync(`${r}/usr/lib/pkg.new`, `${r}/usr/lib/pkg`);
  } }] },
  { name: "dir replaced by a file", steps: [{ change: (r) => {
    fs.rmSync(`${r}/opt/app/keep`, { recursive: true });
    w(r, "opt/app/keep", "now a file");
  } }], expect: ["opt/", "opt/app/", "opt/app/keep"] },
  { name: "file replaced by a dir", steps: [{ change: (r) => {
    fs.rmSync(`${r}/opt/app/main`);
    w(r, "opt/app/main/inner", "i");
  } }], expect: ["opt/", "opt/app/", "opt/app/main/", "opt/app/main/inner"] },
  { name: "file deleted and re-created", steps: [{ change: (r) => {
    fs.rmSync(`${r}/etc/passwd`);
    w(r, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  } }], expect: ["etc/", "etc/passwd"] },
  { name: "write to one name of a hard-link triple (the others follow)", steps: [{ change: (r) => fs.appendFileSync(`${r}/usr/lib/pkg/data`, "+") }],
    expect: ["opt/", "opt/app/", "opt/app/data-link", "usr/", "usr/bin/", "usr/bin/zdata", "usr/lib/", "usr/lib/pkg/", "usr/lib/pkg/data"] },
  { name: "chmod of a hard-linked name", steps: [{ change: (r) => fs.chmodSync(`${r}/usr/bin/tool2`, 0o700) }], expect: ["usr/", "usr/bin/", "usr/bin/tool", "usr/bin/tool2"] },
  { name: "delete one name of a hard-link pair (the other's nlink changes)", steps: [{ change: (r) => fs.rmSync(`${r}/usr/bin/tool2`) }], expect: ["usr/", "usr/bin/", "usr/bin/.wh.tool2", "usr/bin/tool"] },
  { name: "replace one name of a hard-link pair with a new file", steps: [{ change: (r) => {
    fs.rmSync(`${r}/usr/bin/tool2`);
    w(r, "usr/bin/tool2", "other");
  } }], expect: ["usr/", "usr/bin/", "usr/bin/tool", "usr/bin/tool2"] },
  { name: "delete a dir holding one name of a hard-link triple", steps: [{ change: (r) => fs.rmSync(`${r}/usr/lib/pkg`, { recursive: true }) }] },
  { name: "new hard link to a lower file", steps: [{ change: (r) => fs.linkSync(`${r}/opt/app/main`, `${r}/etc/main-link`) }], expect: ["etc/", "etc/main-link", "opt/", "opt/app/", "opt/app/main"] },
  { name: "new hard link to a lower hard-linked file", steps: [{ change: (r) => fs.linkSync(`${r}/usr/bin/tool`, `${r}/etc/tool3`) }] },
  { name: "new files hard-linked to each other", steps: [{ change: (r) => {
    w(r, "srv/x", "x");
    fs.linkSync(`${r}/srv/x`, `${r}/srv/y`);
  } }], expect: ["srv/", "srv/x", "srv/y"] },
  { name: "xattrs: new, changed, capability", steps: [{ change: (r) => {
    lsetxattr(`${r}/opt/app/main`, "user.new", Buffer.from("1"));
    lsetxattr(`${r}/usr/bin/tool`, "user.tag", Buffer.from("v2"));
    w(r, "srv/cap", "c");
    lsetxattr(`${r}/srv/cap`, "security.capability", Buffer.from("0100000200200000000000000000000000000000", "hex"));
  } }] },
  { name: "device nodes and a fifo", steps: [{ change: (r) => {
    mknod(`${r}/srv-zero`, S_IFCHR | 0o666, 1, 5);
    mknod(`${r}/srv-blk`, S_IFBLK | 0o660, 7, 0);
    sh(r, "mkfifo etc/pipe");
  } }], expect: ["etc/", "etc/pipe", "srv-blk", "srv-zero"] },
  { name: "symlinks: new and retargeted", steps: [{ change: (r) => {
    fs.symlinkSync("/nowhere", `${r}/etc/dangling`);
    fs.rmSync(`${r}/usr/lib/libx.so`);
    fs.symlinkSync("libx.so.2", `${r}/usr/lib/libx.so`);
  } }], expect: ["etc/", "etc/dangling", "usr/", "usr/lib/", "usr/lib/libx.so"] },
  { name: "ignored paths (mount points, --ignore-path, /var/run) are never in the layer", steps: [{ change: (r) => {
    w(r, "proc/x", "p");
    w(r, "dev/y", "d");
    fs.rmSync(`${r}/var/run/pid`);
    w(r, "ign/z", "z");
    w(r, "etc/hosts", "changed: not ignored by the snapshotter");
  } }], expect: ["etc/", "etc/hosts"] },
  { name: "rename of a lower dir (mv copies and deletes on overlay)", steps: [{ change: (r) => sh(r, "mv opt/app/keep opt/moved") }], expect: ["opt/", "opt/app/", "opt/app/.wh.keep", "opt/moved/", "opt/moved/k"] },
  { name: "rename of a lower file", steps: [{ change: (r) => sh(r, "mv etc/conf.d/a etc/a-moved") }], expect: ["etc/", "etc/a-moved", "etc/conf.d/", "etc/conf.d/.wh.a"] },
  { name: "a temp file created and deleted (the dir's mtime moved)", steps: [{ change: (r) => {
    w(r, "opt/app/tmp", "t");
    fs.rmSync(`${r}/opt/app/tmp`);
  } }], expect: ["opt/", "opt/app/"] },
  { name: "a placeholder created and removed with the parent's mtime restored (nothing)", steps: [{ change: (r) => {
    w(r, "home/u/mnt", "");
    fs.rmSync(`${r}/home/u/mnt`);
    setTimesNs(`${r}/home/u`, BigInt(T0) * 1_000_000_000n, BigInt(T0) * 1_000_000_000n);
  } }], expect: null },
  { name: "nothing changed", steps: [{ change: () => {} }], expect: null },
  { name: "COPY into an existing dir with untouched subdirs (snapshotPaths)", steps: [{ change: (r) => w(r, "opt/app/new", "n"), paths: ["/opt/app"] }],
    expect: ["opt/", "opt/app/", "opt/app/keep/", "opt/app/new"] },
  { name: "COPY over an existing file (snapshotPaths)", steps: [{ change: (r) => w(r, "etc/passwd", "new passwd\n"), paths: ["/etc/passwd"] }], expect: ["etc/", "etc/passwd"] },
  { name: "WORKDIR of an existing dir (snapshotPaths, nothing written)", steps: [{ change: () => {}, paths: ["/opt/app/keep"] }], expect: ["opt/", "opt/app/", "opt/app/keep/"] },
  { name: "three steps: create, modify, delete", steps: [
    { change: (r) => w(r, "srv/s", "1") },
    { change: (r) => fs.appendFileSync(`${r}/srv/s`, "2") },
    { change: (r) => fs.rmSync(`${r}/srv`, { recursive: true }) },
  ], expect: ["srv/", "srv/s"] },
  { name: "VOLUME then writes inside it", steps: [
    { change: (r) => fs.mkdirSync(`${r}/data`), paths: ["/data"], ignoreAfter: ["/data"] },
    { change: (r) => w(r, "data/inside", "i") },
  ], expect: ["data/"] },
  { name: "COPY then RUN on the copied files", steps: [
    { change: (r) => w(r, "opt/app/cfg", "1"), paths: ["/opt/app/cfg"] },
    { change: (r) => fs.chmodSync(`${r}/opt/app/cfg`, 0o600) },
  ] },
];

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  link?: string;
  dev?: string;
  xattrs?: string;
  sha?: string;
}

async function entries(layer: WrittenLayer): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of readTar(decompress(fs.createReadStream(layer.path), layer.path))) {
    const h = e.header;
    const hash = createHash("sha256");
    for await (const c of e.body) hash.update(c);
    const x: Entry = { name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, size: h.size };
    if (h.linkname) x.link = h.linkname;
    if (h.type === "char" || h.type === "block") x.dev = `${h.devmajor}:${h.devminor}`;
    if (h.xattrs?.size) x.xattrs = [...h.xattrs].map(([k, v]) => `${k}=${Buffer.from(v).toString("hex")}`).join(",");
    if (h.size) x.sha = hash.digest("hex");
    out.push(x);
  }
  return out;
}

interface Outcome {
  layers: (null | { digest: string; entries: Entry[] })[];
  tree: ReturnType<typeof captureTree>;
  strategy: string;
}

async function runCase(c: Case, mode: "walk" | "overlay"): Promise<Outcome> {
  const dir = `${work}/${c.name.replace(/[^a-z0-9]+/gi, "-")}/${mode}`;
  const r = `${dir}/root`;
  fs.mkdirSync(r, { recursive: true });
  base(r);
  c.setup?.(r);
  const snap: Snapshotter = createSnapshotter({ rootfs: r, strategy: mode, ignore: IGNORE, compression: "gzip", reproducible: { epoch: EPOCH }, stateDir: `${dir}/state` });
  await snap.init();
  const layers: Outcome["layers"] = [];
  try {
    for (const s of c.steps) {
      s.change(r);
      const l = s.paths ? await snap.snapshotPaths(s.paths, `${dir}/out`) : await snap.snapshot(`${dir}/out`);
      layers.push(l && { digest: l.digest, entries: await entries(l) });
      if (s.ignoreAfter) snap.addIgnored(s.ignoreAfter);
    }
  } finally {
    await snap.close();
  }
  expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(dir);
  return { layers, tree: captureTree(r), strategy: snap.strategy };
}

// Skipped only where overlayfs cannot be mounted (no CAP_SYS_ADMIN, a workspace on overlayfs):
// there is no overlay snapshot to compare with the walk. The reason is printed above; CI runs as
// root on ext4, where the overlay mounts and these run.
describe.skipIf(unavailable !== null)("walk and overlay snapshots give the same layers", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const walk = await runCase(c, "walk");
      const ov = await runCase(c, "overlay");
      expect([walk.strategy, ov.strategy]).toEqual(["walk", "overlay"]);
      if (c.expect !== undefined) {
        const first = walk.layers[0];
        expect(first ? first.entries.map((e) => e.name.replace(/\/$/, "/")) : null).toEqual(c.expect);
      }
      for (let i = 0; i < walk.layers.length; i++) {
        expect({ step: i, layer: ov.layers[i] }).toEqual({ step: i, layer: walk.layers[i] });
      }
      expect(diffTrees(walk.tree, ov.tree)).toEqual([]);
    });
  }
});
