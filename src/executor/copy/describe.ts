// What a COPY/ADD would read, for the layer cache key: the same enumeration copyInto uses, listed
// in sorted order with content digests, without touching the rootfs. URL sources are not fetched:
// they are listed with their --checksum (if any), and the cache decides what an unpinned URL means.
import fs from "node:fs";
import { createHash } from "node:crypto";
import { KilnError } from "../../util/errors.ts";
import { resolveGitInput, splitGitSources } from "./git.ts";
import { parseChecksum } from "./remote.ts";
import { enumerateSources } from "./sources.ts";
import type { CopySpec, SourceEntry } from "./types.ts";

function digestFile(path: string, name: string, cmd: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  let fd: number;
  try {
    fd = fs.openSync(path, "r");
  } catch (e) {
    throw new KilnError(`${cmd} failed: cannot read "${name}": ${(e as Error).message}`);
  }
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return "sha256:" + hash.digest("hex");
}

export async function describeSources(spec: CopySpec): Promise<SourceEntry[]> {
  // A git source is keyed on the commit its ref resolves to now (ls-remote: no clone for a hit).
  const { gits, rest } = splitGitSources(spec);
  const git: SourceEntry[] = [];
  for (const g of gits) {
    const r = await resolveGitInput(g, spec.checksum);
    git.push({ path: g.source, type: "git", mode: 0, uid: 0, gid: 0, size: 0, digest: "git:" + r.commit });
  }
  if (gits.length > 0) return [...git, ...(await describeSources({ ...rest, checksum: undefined }))].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  try {
    return describeUnchecked(spec);
  } catch (e) {
    // As in copyInto: an errno (a file vanished, EACCES as non-root) names its path.
    if (e instanceof KilnError || typeof (e as NodeJS.ErrnoException)?.code !== "string") throw e;
    throw new KilnError(`${spec.isAdd ? "ADD" : "COPY"} failed: ${(e as Error).message}`);
  }
}

function describeUnchecked(spec: CopySpec): SourceEntry[] {
  const out: SourceEntry[] = [];
  const cmd = spec.isAdd ? "ADD" : "COPY";
  const owner = (st: fs.Stats) => (spec.preserveOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  // copyInto links a file to the first copied path with the same inode: the key must see that.
  const inodes = new Map<string, string>();
  const add = (path: string, host: string, st: fs.Stats, link?: string) => {
    const base = { path, mode: st.mode & 0o7777, ...owner(st), mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) out.push({ ...base, type: "dir", size: 0 });
    else if (st.isSymbolicLink()) out.push({ ...base, type: "symlink", size: 0, link: link ?? fs.readlinkSync(host) });
    // Opening a FIFO would block forever; copyInto refuses these with the same message.
    else if (!st.isFile()) throw new KilnError(`${cmd}: "${path}" is a special file (device, fifo or socket); only files, directories and symlinks can be copied`);
    else {
      const ino = st.nlink > 1 ? `${st.dev}:${st.ino}` : "";
      const first = ino ? inodes.get(ino) : undefined;
      if (ino && first === undefined) inodes.set(ino, path);
      out.push({ ...base, type: "file", size: st.size, digest: digestFile(host, path, cmd), ...(first !== undefined ? { hardlink: first } : {}) });
    }
  };
  for (const g of enumerateSources(spec)) {
    if (g.url) {
      const c = spec.checksum === undefined ? undefined : parseChecksum(spec.checksum);
      out.push({ path: g.url, type: "url", mode: 0o600, uid: 0, gid: 0, size: 0, digest: c && `${c.algo}:${c.hex}` });
      continue;
    }
    for (const m of g.matches) {
      const top = m.rel === "" ? "." : m.rel;
      add(top, m.host, m.st);
      for (const e of m.children) add(top === "." ? e.sub : top + "/" + e.sub, e.host, e.st, e.link);
    }
  }
  for (const h of spec.heredocs ?? []) {
    const data = Buffer.from(h.content);
    out.push({ path: "<<" + h.name, type: "heredoc", mode: 0o644, uid: 0, gid: 0, size: data.length, digest: "sha256:" + createHash("sha256").update(data).digest("hex") });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
