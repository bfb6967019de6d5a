// Real peers for the tar tests: GNU tar and Python's tarfile, driven as subprocesses.
// Every listing is normalised to one JSON shape so our reader can be compared field by field.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readTar, type TarEntry } from "../../src/tar/reader.ts";
import { TarWriter, type TarWriterOptions } from "../../src/tar/writer.ts";

export interface Listed {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  atime?: number;
  ctime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs: Record<string, string>;
  pax: Record<string, string>;
  sha256?: string;
}

const HINTS: Record<string, string> = {
  tar: "apt-get install -y tar",
  python3: "apt-get install -y python3",
  setcap: "apt-get install -y libcap2-bin",
  mknod: "apt-get install -y coreutils",
};

/** Fails loudly (never skips) when a peer tool is missing. */
export function requireTool(name: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar tests need \`${name}\` on PATH; install it with: ${HINTS[name] ?? name}`);
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string | Uint8Array; okStatus?: number[] } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (!(opts.okStatus ?? [0]).includes(r.status ?? -1)) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  }
  return r.stdout;
}

export function python(script: string, args: string[], input?: string): string {
  return run("python3", ["-c", script, ...args], { input });
}

// Fields the reader folds into TarHeader, mirrored on the Python side.
const CONSUMED = [
  "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime",
  "hdrcharset", "SCHILY.devmajor", "SCHILY.devminor",
];

const PY_LIST = `
import sys, json, tarfile, hashlib
CONSUMED = set(${JSON.stringify(CONSUMED)})
TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
         tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block", tarfile.DIRTYPE: "dir", tarfile.FIFOTYPE: "fifo"}
out = []
with tarfile.open(sys.argv[1]) as tf:
    for m in tf:
        t = TYPES.get(m.type, "file")
        e = {"name": m.name, "type": t, "mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid,
             "uname": m.uname, "gname": m.gname, "size": m.size if t == "file" else 0, "mtime": m.mtime,
             "xattrs": {}, "pax": {}}
        ph = m.pax_headers
        for k in ("atime", "ctime"):
            if k in ph: e[k] = float(ph[k]) if "." in ph[k] else int(ph[k])
        if t in ("symlink", "hardlink"): e["linkname"] = m.linkname
        if t in ("char", "block"): e["devmajor"] = m.devmajor; e["devminor"] = m.devminor
        for k, v in ph.items():
            if k.startswith("SCHILY.xattr."):
                e["xattrs"][k[13:]] = v.encode("utf-8", "surrogateescape").hex()
            elif k not in CONSUMED:
                e["pax"][k] = v
        if t == "file":
            h = hashlib.sha256()
            f = tf.extractfile(m)
            while True:
                b = f.read(1 << 20)
                if not b: break
                h.update(b)
            e["sha256"] = h.hexdigest()
        out.append(e)
json.dump(out, sys.stdout)
`;

export function pythonList(archive: string): Listed[] {
  return JSON.parse(python(PY_LIST, [archive])) as Listed[];
}

/** Our reader's view in the same shape (directory names without the trailing slash, as Python). */
export async function ourList(source: AsyncIterable<Uint8Array>): Promise<Listed[]> {
  const out: Listed[] = [];
  for await (const e of readTar(source)) out.push(await listed(e));
  return out;
}

export async function listed(e: TarEntry): Promise<Listed> {
  const h = e.header;
  const l: Listed = {
    name: h.type === "dir" ? h.name.replace(/\/+$/, "") : h.name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname ?? "",
    gname: h.gname ?? "",
    size: h.size,
    mtime: h.mtime,
    xattrs: {},
    pax: {},
  };
  if (h.atime !== undefined) l.atime = h.atime;
  if (h.ctime !== undefined) l.ctime = h.ctime;
  if (h.linkname !== undefined) l.linkname = h.linkname;
  if (h.devmajor !== undefined) l.devmajor = h.devmajor;
  if (h.devminor !== undefined) l.devminor = h.devminor;
  for (const [k, v] of h.xattrs ?? []) l.xattrs[k] = Buffer.from(v).toString("hex");
  for (const [k, v] of h.pax ?? []) l.pax[k] = v;
  if (h.type === "file") {
    const hash = createHash("sha256");
    let n = 0;
    for await (const c of e.body) {
      hash.update(c);
      n += c.length;
    }
    if (n !== h.size) throw new Error(`body of ${h.name} had ${n} bytes, header says ${h.size}`);
    l.sha256 = hash.digest("hex");
  }
  return l;
}

/** Feeds a file to the reader in chunks of `size` bytes (odd sizes exercise block straddling). */
export async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export function fileChunks(path: string, size = 65536): AsyncGenerator<Uint8Array> {
  return chunks(readFileSync(path), size);
}

const PY_TREE = `
import os, sys, json, hashlib, stat
root = sys.argv[1]
out = []
inodes = {}
def visit(rel):
    p = os.path.join(root, rel)
    st = os.lstat(p)
    e = {"path": rel, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
         "mtime_ns": str(st.st_mtime_ns), "xattrs": {}}
    m = st.st_mode
    if stat.S_ISREG(m):
        e["type"] = "file"; e["size"] = st.st_size
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
        e["sha256"] = h.hexdigest()
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            e["linkgroup"] = inodes.setdefault(key, rel)
    elif stat.S_ISDIR(m): e["type"] = "dir"
    elif stat.S_ISLNK(m): e["type"] = "symlink"; e["target"] = os.readlink(p)
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
        e["type"] = "char" if stat.S_ISCHR(m) else "block"
        e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    elif stat.S_ISFIFO(m): e["type"] = "fifo"
    else: e["type"] = "other"
    for k in sorted(os.listxattr(p, follow_symlinks=False)):
        e["xattrs"][k] = os.getxattr(p, k, follow_symlinks=False).hex()
    out.append(e)
    if stat.S_ISDIR(m):
        for name in sorted(os.listdir(p)):
            visit(os.path.join(rel, name))
for rel in sys.argv[2:]:
    visit(rel)
json.dump(out, sys.stdout)
`;

export interface TreeEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime_ns: string;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: [number, number];
  linkgroup?: string;
  xattrs: Record<string, string>;
}

/** Python's view of a directory tree (lstat, xattrs, content hashes, hardlink groups). */
export function dumpTree(root: string, rels: string[]): TreeEntry[] {
  return JSON.parse(python(PY_TREE, [root, ...rels])) as TreeEntry[];
}

/** Reads an archive with our reader and writes it back with our writer, streaming bodies through. */
export async function reencode(
  source: AsyncIterable<Uint8Array>,
  options: TarWriterOptions = {},
): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const w = new TarWriter((c) => {
    out.push(c);
  }, options);
  for await (const e of readTar(source)) await w.add(e.header, e.body);
  await w.finish();
  return Buffer.concat(out);
}
