// The test corpus: a crafted tree with every awkward tar case, plus a slice of a real Debian
// rootfs (the debootstrapped one under .cache/ when present, else this Debian host), and the
// archives GNU tar and Python's tarfile make of it. Built once per test process.
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { python, requireTool, run } from "./peers.ts";
import { processTempDir } from "../process-dirs.ts";

export interface Corpus {
  dir: string;
  /** Root that holds `crafted/` and `debian/`. */
  tree: string;
  /** Top-level paths under `tree` that the archives contain. */
  top: string[];
  debianSource: string;
  archives: Record<"gnu" | "pax" | "ustar" | "v7" | "pyPax" | "pyGnu", string>;
}

const DEBIAN_DIRS = [
  "etc",
  "usr/sbin",
  "usr/share/zoneinfo",
  "usr/lib/x86_64-linux-gnu/perl-base",
  "usr/lib/x86_64-linux-gnu/gconv",
];

const CRAFT = String.raw`
import os, sys, random
root = sys.argv[1]
def p(*a): return os.path.join(root, *a)
def mk(rel, data=b"", mode=0o644):
    path = p(rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f: f.write(data)
    os.chmod(path, mode)
    return path
def times(rel, ns, follow=True):
    os.utime(p(rel), ns=(ns, ns), follow_symlinks=follow)

# ---- basic: everything ustar can represent ----
os.makedirs(p("basic/sub"))
mk("basic/plain.txt", b"hello\n")
mk("basic/empty", b"", 0o000)
mk("basic/setuid", b"#!/bin/sh\n", 0o4755)
mk("basic/setgid", b"#!/bin/sh\n", 0o2755)
os.makedirs(p("basic/sticky")); os.chmod(p("basic/sticky"), 0o1777)
mk("basic/sticky/inside", b"x")
os.mkfifo(p("basic/fifo"), 0o640)
os.mknod(p("basic/null"), 0o20666, os.makedev(1, 3))
os.mknod(p("basic/bigdev"), 0o20600, os.makedev(4095, 1048575))
os.mknod(p("basic/sda1"), 0o60660, os.makedev(8, 1))
for n, m in (("fifo", 0o640), ("null", 0o666), ("bigdev", 0o600), ("sda1", 0o660)): os.chmod(p("basic", n), m)
os.link(p("basic/plain.txt"), p("basic/hard-a"))
os.link(p("basic/plain.txt"), p("basic/sub/hard-b"))
os.symlink("plain.txt", p("basic/link-rel"))
os.symlink("/etc/passwd", p("basic/link-abs"))
os.symlink("nowhere/x", p("basic/link-dangling"))
os.symlink("sub", p("basic/link-dir"))
mk("basic/long/" + "d" * 60 + "/" + "n" * 80, b"splittable name")
mk("basic/h\u00e9llo-\u00fcn\u00efc\u00f8d\u00e9-\u65e5\u672c\u8a9e.txt", "caf\u00e9\n".encode())
os.makedirs(p("basic/r\u00e9pertoire"))
mk("basic/owned", b"owned", 0o640); os.chown(p("basic/owned"), 1234, 5678)
rnd = random.Random(1)
mk("basic/random.bin", bytes(rnd.getrandbits(8) for _ in range(100_000)))
for n in (511, 512, 513, 1024): mk("basic/size-%d" % n, bytes([n % 251]) * n)
with open(p("basic/sparse"), "wb") as f:
    f.write(b"start"); f.truncate(8 << 20); f.seek((8 << 20) - 3); f.write(b"end")
times("basic/plain.txt", 1700000000_123456789)
times("basic/link-rel", 1700000001_500000000, follow=False)
times("basic/sub", 1600000000_000000001)

# ---- extended: needs PAX or GNU extensions ----
os.makedirs(p("extended"))
mk("extended/" + "x" * 200 + "/" + "y" * 200, b"very long path")
mk("extended/" + "z" * 250, b"long single component")
os.link(p("extended/" + "z" * 250), p("extended/hl"))
os.link(p("extended/hl"), p("extended/" + "w" * 120))
os.symlink("t" * 300, p("extended/link-300"))
os.symlink("/" + "u" * 149, p("extended/link-150"))
mk("extended/bigids", b"big ids"); os.chown(p("extended/bigids"), 3000000000, 3000000001)
mk("extended/caps", b"\x7fELF pretend", 0o755)
# security.capability v2: cap_net_bind_service+ep, binary with NULs and high bytes.
os.setxattr(p("extended/caps"), "security.capability", bytes.fromhex("0100000200040000000000000000000000000000"))
os.setxattr(p("extended/caps"), "user.comment", "h\u00e9llo =\n".encode())
os.setxattr(p("extended/caps"), "user.binary", b"\xff\xfe\x00\x01\x80")
os.makedirs(p("extended/xdir"))
os.setxattr(p("extended/xdir"), "user.dir", b"on a directory")
mk("extended/old", b"1969"); times("extended/old", -86400 * 365 * 1_000_000_000)
mk("extended/future", b"2255"); times("extended/future", 9_000_000_000_000_000_000)
mk("extended/subsec", b"ns"); times("extended/subsec", 1700000000_000000500)
times("extended/xdir", 1700000002_250000000)

# ---- v7: short names, the types v7 knows ----
os.makedirs(p("v7/d"))
mk("v7/d/f", b"v7 file\n")
os.link(p("v7/d/f"), p("v7/hl"))
os.symlink("d/f", p("v7/sl"))
`;

let cached: Corpus | null = null;

/** Finds a debootstrapped rootfs another part of the project may have left under .cache/. */
function findRootfs(): string | null {
  const base = new URL("../../.cache", import.meta.url).pathname;
  const walk = (d: string, depth: number): string | null => {
    if (depth > 4 || !existsSync(d)) return null;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const full = join(d, e.name);
      if (e.name === "rootfs" && existsSync(join(full, "etc/debian_version"))) return full;
      const r = walk(full, depth + 1);
      if (r) return r;
    }
    return null;
  };
  return walk(base, 0);
}

let craftedCache: { dir: string; tree: string } | null = null;

/**
 * The crafted tree alone, without the Debian slice: `<tree>/crafted`. Built once per test process
 * (the fuzz seeds need only this); corpus() adds the Debian slice and the archives to it.
 */
export function craftedTree(): { dir: string; tree: string } {
  if (craftedCache) return craftedCache;
  for (const t of ["tar", "python3", "mknod"]) requireTool(t);
  if (process.getuid?.() !== 0) throw new Error("tar corpus needs root (device nodes, chown to large uids)");
  const dir = processTempDir("kiln-tar");
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "crafted"), { recursive: true });
  python(CRAFT, [join(tree, "crafted")]);
  craftedCache = { dir, tree };
  return craftedCache;
}

export function corpus(): Corpus {
  if (cached) return cached;
  const { dir, tree } = craftedTree();

  const debianSource = findRootfs() ?? "/";
  for (const rel of DEBIAN_DIRS) {
    const from = join(debianSource, rel);
    if (!existsSync(from) || !statSync(from).isDirectory()) continue;
    mkdirSync(dirname(join(tree, "debian", rel)), { recursive: true });
    // A private snapshot, so the host changing under us cannot make the peers disagree.
    run("cp", ["-a", "--no-target-directory", from, join(tree, "debian", rel)]);
  }
  const top = ["crafted", "debian"];
  const a = (n: string) => join(dir, n);
  const archives: Corpus["archives"] = {
    gnu: a("gnu.tar"),
    pax: a("pax.tar"),
    ustar: a("ustar.tar"),
    v7: a("v7.tar"),
    pyPax: a("py-pax.tar"),
    pyGnu: a("py-gnu.tar"),
  };
  run("tar", ["--format=gnu", "-cf", archives.gnu, "-C", tree, ...top]);
  run("tar", ["--format=pax", "--xattrs", "--xattrs-include=*", "-cf", archives.pax, "-C", tree, ...top]);
  run("tar", ["--format=ustar", "-cf", archives.ustar, "-C", tree, "crafted/basic", "debian"]);
  run("tar", ["--format=v7", "-cf", archives.v7, "-C", tree, "crafted/v7"]);
  python(
    `
import sys, tarfile, os
fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}[sys.argv[2]]
kw = {"pax_headers": {"comment": "kiln global header"}} if sys.argv[2] == "pax" else {}
os.chdir(sys.argv[3])
with tarfile.open(sys.argv[1], "w", format=fmt, **kw) as tf:
    for top in sys.argv[4:]: tf.add(top)
`,
    [archives.pyPax, "pax", tree, ...top],
  );
  python(
    `
import sys, tarfile, os
os.chdir(sys.argv[2])
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as tf:
    for top in sys.argv[3:]: tf.add(top)
`,
    [archives.pyGnu, tree, ...top],
  );
  cached = { dir, tree, top, debianSource, archives };
  return cached;
}
