// The unpacker's fast paths (create first and look only on EEXIST, chown/chmod skipped when the
// create call already got them right, directory times set by path) must give exactly the tree GNU
// tar gives for the same layers: types, modes, owners, link targets, contents, hard-link groups,
// xattrs and every entry's mtime (directories and symlinks included). The layers lean on what
// earlier layers left: paths without their own directory entries, a directory replaced by a file,
// a hard link to a file from an earlier layer, a symlink replaced by a file, setgid directories.
// Runs on Bun (in this process) and on Deno (a child applying each layer file).
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import zlib from "node:zlib";
import { spawnSync } from "node:child_process";
import { applyLayer } from "../../src/fs/unpack.ts";
import { libcAvailable } from "../../src/runtime/libc.ts";
import { captureTree, diffTrees } from "./tree.ts";
import { tarOf, type TarEntrySpec as E } from "../hardening/tar-of.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-vs-tar-`);
fs.chmodSync(work, 0o755);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const DENO = `${import.meta.dir}/../../node_modules/.bin/deno`;
const DENO_FIXTURE = `${import.meta.dir}/../hardening/fixtures/apply-archive.ts`;
const T = 1_700_000_000;
const xattr = (v: string) => new Map([["user.kiln", new TextEncoder().encode(v)]]);

// Layer 1: a fresh rootfs. Setgid directories make new entries inherit their group (and, for
// directories, the setgid bit), so the chown/chmod skips must not apply there.
const layer1: E[] = [
  { name: "app/", type: "dir", mode: 0o755, mtime: T + 1 },
  { name: "app/shared/", type: "dir", mode: 0o2775, gid: 50, mtime: T + 2 },
  { name: "app/shared/f", mode: 0o640, uid: 1000, gid: 1000, body: "f1", mtime: T + 3 },
  { name: "app/shared/g", body: "g", mtime: T + 4 },
  { name: "app/shared/sub/", type: "dir", mode: 0o755, mtime: T + 5 },
  { name: "app/shared/ln", type: "symlink", linkname: "f", mtime: T + 6 },
  { name: "app/suid", mode: 0o4755, body: "#!/bin/sh\n", mtime: T + 7 },
  { name: "app/old", body: "old", uid: 7, gid: 8, mtime: T + 8 },
  { name: "app/gone/", type: "dir", mode: 0o700, mtime: T + 9 },
  { name: "app/gone/x", body: "x", mtime: T + 10 },
  { name: "app/attr", body: "a", xattrs: xattr("one"), mtime: T + 11 },
  { name: "app/sl", type: "symlink", linkname: "/etc/passwd", uid: 1000, gid: 1000, mtime: T + 12 },
  { name: "app/wide", mode: 0o666, body: "umask bits", mtime: T + 13 },
  { name: "app/ro/", type: "dir", mode: 0o555, mtime: T + 14 },
  { name: "app/ro/inside", body: "in a read-only dir", mtime: T + 15 },
  { name: "app/empty", body: "", mode: 0o600, uid: 3, mtime: T + 16 },
  { name: "big", body: new Uint8Array(300_000).map((_, i) => i * 7), mtime: T + 17 },
  { name: "top/deep/er/file", body: "parents made implicitly", mtime: T + 18 },
];

// Layer 2: everything leans on layer 1's paths.
const layer2: E[] = [
  { name: "app/shared/new", body: "no parent entries", mtime: T + 20 },
  { name: "app/", type: "dir", mode: 0o750, uid: 5, gid: 6, mtime: T + 21 },
  { name: "app/gone", body: "a file where a directory was", mtime: T + 22 },
  { name: "app/hl", type: "hardlink", linkname: "app/old", mtime: T + 23 },
  { name: "app/sl", body: "a file where a symlink was", mtime: T + 24 },
  { name: "app/shared/f", body: "f2", mode: 0o600, uid: 1000, gid: 1000, mtime: T + 25 },
  { name: "app/attr", body: "b", xattrs: xattr("two"), mtime: T + 26 },
  { name: "app/ro/", type: "dir", mode: 0o555, mtime: T + 27 },
  { name: "app/ro/second", body: "again", mtime: T + 28 },
  { name: "top/deep/", type: "dir", mode: 0o711, mtime: T + 29 },
];

// Layer 3: within one layer, a directory is replaced by a symlink (the directory-times pass must
// then re-resolve every path; GNU tar only replaces empty directories), and a file is written twice.
const layer3: E[] = [
  { name: "swap/", type: "dir", mode: 0o755, mtime: T + 30 },
  { name: "swap", type: "symlink", linkname: "app", mtime: T + 32 },
  { name: "twice", body: "first", mtime: T + 33 },
  { name: "twice", body: "second", mode: 0o604, mtime: T + 34 },
  { name: "app/shared/sub/", type: "dir", mode: 0o775, gid: 50, mtime: T + 35 },
];

const layers = [layer1, layer2, layer3];

function mtimes(root: string): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (rel: string) => {
    const st = fs.lstatSync(`${root}/${rel}`);
    out.set(rel, st.mtimeMs);
    if (st.isDirectory()) for (const c of fs.readdirSync(`${root}/${rel}`)) visit(rel ? `${rel}/${c}` : c);
  };
  for (const c of fs.readdirSync(root)) visit(c);
  return out;
}

async function layerFiles(): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    // gzipped like registry layers, so the small-layer gunzip is on the path too
    const f = `${work}/layer${i}.tar.gz`;
    if (!fs.existsSync(f)) fs.writeFileSync(f, zlib.gzipSync(await tarOf(layers[i]!)));
    files.push(f);
  }
  return files;
}

// GNU tar refuses to put a non-directory where a non-empty directory is (its --recursive-unlink
// would also empty directories that a directory entry merely updates), so the reference removes
// those directories first: what an OCI layer means, and what the unpacker does.
function gnuTar(files: string[], dir: string): void {
  fs.mkdirSync(dir);
  for (let i = 0; i < files.length; i++) {
    for (const e of layers[i]!) {
      const p = `${dir}/${e.name.replace(/\/$/, "")}`;
      if (e.type !== "dir" && fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) fs.rmSync(p, { recursive: true });
    }
    const r = spawnSync("tar", ["-xpf", files[i]!, "-C", dir, "--xattrs", "--xattrs-include=*", "--numeric-owner"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`GNU tar: ${r.stderr}`);
  }
}

async function kiln(rt: "bun" | "deno", files: string[], dir: string): Promise<void> {
  fs.mkdirSync(dir);
  for (const f of files) {
    if (rt === "deno") {
      const r = spawnSync(DENO, ["run", "-A", DENO_FIXTURE, "layer", dir, work, f], { encoding: "utf8", timeout: 60_000 });
      if (r.status !== 0) throw new Error(`deno fixture exited ${r.status}: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { error?: { message: string } };
      if (out.error) throw new Error(out.error.message);
      continue;
    }
    const warnings: string[] = [];
    await applyLayer(dir, fs.createReadStream(f), { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  }
}

describe("applyLayer gives GNU tar's tree", () => {
  for (const rt of ["bun", "deno"] as const) {
    test(`three layers over each other (${rt})`, async () => {
      if (process.getuid?.() !== 0) throw new Error("this test needs root (owners, setgid directories): run the suite as root");
      if (!libcAvailable()) throw new Error("this test needs libc through FFI (xattrs): run it on Bun");
      const start = Date.now() - 1000;
      const files = await layerFiles();
      const theirs = `${work}/${rt}-tar`;
      const ours = `${work}/${rt}-kiln`;
      gnuTar(files, theirs);
      await kiln(rt, files, ours);
      const a = captureTree(theirs);
      const b = captureTree(ours);
      a.delete(".");
      b.delete(".");
      expect(diffTrees(a, b)).toEqual([]);
      // Directories changed by a later layer without an entry of their own get "now" from the
      // kernel under both tools; every other mtime comes from the archive and must match.
      const want = mtimes(theirs);
      const now = (m: number | undefined) => m !== undefined && m >= start;
      expect([...mtimes(ours)].filter(([p, m]) => want.get(p) !== m && !(now(m) && now(want.get(p))))).toEqual([]);
      expect(mtimes(ours).size).toBe(want.size);
      // The cases the layers are about really happened.
      expect(b.get("app/gone")?.type).toBe("file");
      expect(b.get("app/hl")?.group).toBe(b.get("app/old")?.group);
      expect(b.get("app/hl")?.group).toBeDefined();
      expect(b.get("app/shared/g")?.gid).toBe(0);
      expect(b.get("app/shared/ln")?.gid).toBe(0);
      expect(b.get("app/attr")?.xattrs).toBe(`user.kiln=${Buffer.from("two").toString("hex")}`);
      expect(b.get("swap")?.type).toBe("symlink");
      expect(b.get("app")?.mode).toBe(0o750);
    });
  }
});
