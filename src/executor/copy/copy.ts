// COPY and ADD into a rootfs, following BuildKit (tonistiigi/fsutil's copy):
// - dest: relative to WORKDIR; symlinks on the way (the final one too) are followed with the rootfs
//   as "/" (BuildKit's fs.RootPath), so `/bin -> usr/bin` works and `/evil -> /etc` lands in
//   <rootfs>/etc, never the host's; missing parents are created 0755, owned by --chown if given;
// - a directory source copies its contents; the destination directory itself keeps its metadata;
//   existing child directories take the source's mode/owner/mtime (fsutil overwrites them); a child
//   directory that exists as a symlink to a directory inside the rootfs is followed (Docker's
//   classic builder and kaniko do; fsutil refuses);
// - a file source goes to dest/basename when dest ends with "/" or is a directory, else to dest;
//   an existing file (or symlink) there is replaced, an existing directory is an error;
// - metadata: source mode (or --chmod, on every copied file and directory, not on created parents),
//   source mtime, owner 0:0 for the context (or the source's own for --from with preserveOwner),
//   or --chown for everything written including created parents; xattrs are not copied;
//   hardlinked files within one COPY stay hardlinked.
// - with several sources, or a wildcard matching several, dest must end with "/" (Docker/kaniko;
//   a wildcard matching exactly one file may name a file destination).
import { KilnError } from "../../util/errors.ts";
import { parseChmod } from "./chmod.ts";
import { checkoutGitInput, resolveGitInput, splitGitSources } from "./git.ts";
import { discard, download, parseChecksum, type Download } from "./remote.ts";
import { enumerateSources, isUrl, segments } from "./sources.ts";
import { Writer } from "./writer.ts";
import type { CopyResult, CopySpec } from "./types.ts";

export async function copyInto(spec: CopySpec): Promise<CopyResult> {
  try {
    return await copyIntoUnchecked(spec);
  } catch (e) {
    // An errno from the file system (a file vanished, EACCES as non-root, ENOSPC) is the user's
    // to act on; the message carries the paths.
    if (e instanceof KilnError || typeof (e as NodeJS.ErrnoException)?.code !== "string") throw e;
    throw new KilnError(`${spec.isAdd ? "ADD" : "COPY"} failed: ${(e as Error).message}`);
  }
}

async function copyIntoUnchecked(spec: CopySpec): Promise<CopyResult> {
  const cmd = spec.isAdd ? "ADD" : "COPY";
  const heredocs = spec.heredocs ?? [];
  if (spec.sources.length === 0 && heredocs.length === 0) throw new KilnError(`${cmd} needs at least one source`);
  const { gits, rest } = splitGitSources(spec);
  if (spec.checksum !== undefined && gits.length === 0) {
    if (!spec.isAdd) throw new KilnError(`COPY does not support --checksum; use ADD`);
    const local = spec.sources.find((s) => !isUrl(s));
    if (local !== undefined) throw new KilnError(`ADD --checksum works only with http(s) URL or git sources, not "${local}"`);
    parseChecksum(spec.checksum);
  }
  const chmod = spec.chmod === undefined || spec.chmod === "" ? undefined : parseChmod(spec.chmod);
  const groups = enumerateSources(rest);
  const workdir = spec.workdir.startsWith("/") ? spec.workdir : "/" + spec.workdir;
  const destAbs = "/" + segments(spec.dest.startsWith("/") ? spec.dest : workdir + "/" + spec.dest).join("/");
  const destIsDir = spec.dest.endsWith("/") || /(^|\/)\.$/.test(spec.dest) || destAbs === "/" || spec.parents === true;
  const total = groups.reduce((n, g) => n + (g.url ? 1 : g.matches.length), 0) + heredocs.length + gits.length;
  if (total > 1 && !destIsDir) {
    throw new KilnError(`When using ${cmd} with more than one source file, the destination must be a directory and end with a / ("${spec.dest}")`);
  }
  const w = new Writer(spec, cmd, chmod);
  const downloads = new Map<string, Download>();
  const checkouts: { root: string; dispose(): void }[] = [];
  try {
    // Everything is fetched (and checksummed) before the first write into the rootfs.
    for (const g of groups) if (g.url && !downloads.has(g.url)) downloads.set(g.url, await download(g.url, spec.tmpDir, spec.checksum));
    for (const g of gits) checkouts.push(await checkoutGitInput(g, await resolveGitInput(g, spec.checksum, spec.gitCommits?.[g.source]), spec.tmpDir, spec.keepGitDir === true));
    // A git source is a directory: its contents go below dest (context rules: owner 0:0 unless --chown).
    for (const c of checkouts) {
      for (const g of enumerateSources({ ...spec, sources: ["."], sourceRoot: c.root, ignore: undefined, heredocs: [], preserveOwner: false })) {
        for (const m of g.matches) await w.match(m, destAbs, true);
      }
    }
    for (const g of groups) {
      if (g.url) w.url(downloads.get(g.url)!, destAbs, destIsDir);
      else for (const m of g.matches) await w.match(m, destAbs, destIsDir);
    }
    for (const h of heredocs) w.heredoc(h.name, h.content, destAbs, destIsDir);
  } finally {
    for (const d of downloads.values()) discard(d);
    for (const c of checkouts) c.dispose();
  }
  w.finish();
  return { paths: w.paths() };
}
