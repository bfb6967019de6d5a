// ADD <git URL>[#ref[:subdir]] (BuildKit's git sources): which ADD sources are git (the rest are
// downloads or context paths), their commits for the cache key (ls-remote, no clone), and their
// checkouts for the copy. --checksum pins the commit (moby/buildkit#5975); --keep-git-dir keeps .git.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkoutGit, parseGitSource, resolveGitRef, shownUrl, type GitSource, type ResolvedRef } from "../git-source.ts";
import { KilnError } from "../../util/errors.ts";
import type { CopySpec } from "./types.ts";

export interface GitInput {
  /** The source as written. */
  source: string;
  git: GitSource;
  /** "ADD <url>", for messages. */
  what: string;
}

/** The git sources of an ADD (none for COPY: a URL there is refused elsewhere), and the spec without them. */
export function splitGitSources(spec: CopySpec): { gits: GitInput[]; rest: CopySpec } {
  if (!spec.isAdd) return { gits: [], rest: spec };
  const gits: GitInput[] = [];
  const sources: string[] = [];
  for (const s of spec.sources) {
    const git = parseGitSource(s);
    if (git) gits.push({ source: s, git, what: `ADD ${shownUrl(s)}` });
    else sources.push(s);
  }
  if (gits.length > 0 && spec.checksum !== undefined && sources.length > 0) {
    throw new KilnError(`ADD --checksum with a git source pins its commit: it cannot also apply to "${sources[0]}"`);
  }
  return { gits, rest: { ...spec, sources } };
}

/** Resolve a git source's ref to its commit, checking --checksum (a full commit id). */
export async function resolveGitInput(g: GitInput, checksum: string | undefined, pinned?: string): Promise<ResolvedRef> {
  if (checksum !== undefined && !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(checksum)) {
    throw new KilnError(`${g.what}: --checksum=${checksum}: for a git source, give the full commit id (40 or 64 hex digits)`);
  }
  const r = await resolveGitRef(g.git, g.what);
  if (checksum !== undefined && r.commit !== checksum) throw new KilnError(`${g.what}: checksum mismatch: expected commit ${checksum}, ${g.git.ref ?? "HEAD"} is ${r.commit}`);
  // The layer must hold the commit its cache key names.
  if (pinned !== undefined && r.commit !== pinned) throw new KilnError(`${g.what}: ${g.git.ref ?? "HEAD"} moved from ${pinned} to ${r.commit} during the build; build again`);
  return r;
}

/** A checkout of a git source in a new temp dir under tmpDir; `root` is what to copy, `dispose` removes it. */
export async function checkoutGitInput(g: GitInput, r: ResolvedRef, tmpDir: string | undefined, keepGitDir: boolean): Promise<{ root: string; dispose(): void }> {
  const dir = fs.mkdtempSync(path.join(tmpDir ?? os.tmpdir(), "kiln-git-"));
  const dispose = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    return { root: await checkoutGit(g.git, r, path.join(dir, "repo"), { what: g.what, keepGitDir }), dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
