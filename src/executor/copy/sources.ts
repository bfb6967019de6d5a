// Enumerating COPY/ADD sources, shared by copyInto and describeSources so the layer cache and the
// copy can never disagree about what a source is. Following BuildKit:
// - a source is relative to the source root; a leading "/" is the root and ".." is clamped at it
//   (`COPY ../x` copies the root's `x`, as BuildKit's path.Join("/", src) does);
// - symlinks on the way to a source, and a source that is itself a symlink, are followed with the
//   source root as "/" (BuildKit's fs.RootPath), so they can never leave it; symlinks found while
//   walking a directory are copied as symlinks;
// - wildcards are Go filepath.Match patterns per segment, expanded below the first wildcard
//   segment; a matched directory is not searched further;
// - a wildcard that matches nothing is no error as long as another source of the same COPY
//   gives something (Docker's classic builder and kaniko; BuildKit's AllowEmptyWildcard goes
//   further and accepts an instruction that copies nothing at all);
// - files excluded by .dockerignore do not exist (they never reach BuildKit's context).
import fs from "node:fs";
import type { IgnoreMatcher } from "../../dockerfile/dockerignore.ts";
import type { StageRef } from "../../dockerfile/plan.ts";
import { IgnoreMatcher as Matcher } from "../../dockerfile/dockerignore.ts";
import { resolveInRoot } from "../../run/root-path.ts";
import { KilnError } from "../../util/errors.ts";
import { compileGlob, hasWildcard, unescapeGlob } from "./glob.ts";
import type { CopySpec } from "./types.ts";

export interface Walked {
  /** Path below the match ("" for the match itself). */
  sub: string;
  host: string;
  st: fs.Stats;
  link?: string;
}

export interface Match {
  /** Lexical path relative to the source root as matched (top-level symlink not followed). */
  rel: string;
  /** For --parents: the part of `rel` kept under the destination. */
  keep: string;
  /** The match after following symlinks: host path and stat. */
  host: string;
  st: fs.Stats;
  /** Directory matches: the tree below, parents before children, names sorted. Files: []. */
  children: Walked[];
}

export interface SourceGroup {
  /** The source as written. */
  source: string;
  url?: string;
  wildcard: boolean;
  matches: Match[];
}

/** How errors name a COPY --from source (CopySpec.sourceName): `stage "builder"`, `image "alpine:3"`. */
export function fromSourceName(from: string, ref: StageRef): string {
  return `${"stage" in ref ? "stage" : "image"} ${JSON.stringify(from)}`;
}

export const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Split a path into clamped, clean segments (".." never climbs above the root). */
export function segments(src: string): string[] {
  const out: string[] = [];
  for (const c of src.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

export function enumerateSources(spec: CopySpec): SourceGroup[] {
  const root = fs.realpathSync(spec.sourceRoot);
  const exclude = spec.exclude && spec.exclude.length > 0 ? new Matcher(spec.exclude) : undefined;
  const cmd = spec.isAdd ? "ADD" : "COPY";
  const where = spec.sourceName ?? (spec.preserveOwner ? "the COPY --from source" : "the build context");
  const e = new Enumerator(root, spec.ignore, exclude, cmd, where);
  const groups = spec.sources.map((s) => e.group(s));
  const empty = groups.filter((g) => !g.url && g.matches.length === 0);
  if (empty.length === groups.length && empty.length > 0 && (spec.heredocs ?? []).length === 0) {
    const names = empty.map((g) => JSON.stringify(g.source)).join(", ");
    throw new KilnError(`${cmd} failed: no source files were specified: ${names} matched nothing in ${where}`);
  }
  return groups;
}

class Enumerator {
  constructor(
    private root: string,
    private ignore: IgnoreMatcher | undefined,
    private exclude: IgnoreMatcher | undefined,
    private cmd: string,
    private where: string,
  ) {}

  private ignored(rel: string): boolean {
    return rel !== "" && this.ignore !== undefined && this.ignore.matches(rel);
  }

  private notFound(src: string): KilnError {
    return new KilnError(`${this.cmd} failed: "${src}": not found in ${this.where}${this.ignore ? " (or excluded by .dockerignore)" : ""}`);
  }

  /** Follow symlinks inside the root; returns the real relative path. */
  private resolve(rel: string): string {
    const host = resolveInRoot(this.root, "/" + rel);
    return host === this.root ? "" : host.slice(this.root.length + 1);
  }

  group(source: string): SourceGroup {
    if (isUrl(source)) {
      if (this.cmd === "COPY") throw new KilnError(`COPY failed: source can't be a URL ("${source}"); use ADD`);
      return { source, url: source, wildcard: false, matches: [] };
    }
    // --parents: "a/./b/c" keeps only "b/c" (BuildKit's pivot).
    const pivot = source.indexOf("/./");
    const segs = segments(source);
    const pivotDepth = pivot < 0 ? 0 : segments(source.slice(0, pivot)).length;
    const w = segs.findIndex(hasWildcard);
    if (w < 0) {
      const rel = segs.map(unescapeGlob).join("/");
      return { source, wildcard: false, matches: [this.match(source, rel, pivotDepth)] };
    }
    const base = segs.slice(0, w).map(unescapeGlob);
    const pattern = segs.slice(w);
    const res = pattern.map((p) => compileGlob(p));
    const matches: Match[] = [];
    const baseReal = this.resolve(base.join("/"));
    const walk = (dirReal: string, depth: number, lex: string[]) => {
      let names: string[];
      try {
        names = fs.readdirSync(this.host(dirReal)).sort();
      } catch {
        return;
      }
      for (const name of names) {
        if (!res[depth]!.test(name)) continue;
        const real = dirReal === "" ? name : dirReal + "/" + name;
        if (this.ignored(real)) continue;
        const path = [...lex, name];
        if (depth === res.length - 1) {
          if (this.exclude?.matches(path.slice(base.length).join("/"))) continue;
          matches.push(this.match(source, path.join("/"), pivotDepth));
          continue;
        }
        let st: fs.Stats;
        try {
          st = fs.lstatSync(this.host(real));
        } catch {
          continue;
        }
        if (st.isDirectory()) walk(real, depth + 1, path);
      }
    };
    walk(baseReal, 0, base);
    return { source, wildcard: true, matches };
  }

  private host(real: string): string {
    return real === "" ? this.root : this.root + "/" + real;
  }

  private match(source: string, rel: string, pivotDepth: number): Match {
    if (this.ignored(rel)) throw this.notFound(source);
    const real = this.resolve(rel);
    if (this.ignored(real)) throw this.notFound(source);
    const host = this.host(real);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      throw this.notFound(source);
    }
    const keep = rel.split("/").slice(pivotDepth).join("/");
    const m: Match = { rel, keep, host, st, children: [] };
    if (st.isDirectory()) this.walk(real, "", m.children);
    return m;
  }

  /** Walk below a directory; returns whether anything was included (for re-included children). */
  private walk(dirReal: string, sub: string, out: Walked[]): boolean {
    let names: string[];
    try {
      names = fs.readdirSync(this.host(dirReal)).sort();
    } catch (e) {
      throw new KilnError(`${this.cmd} failed: cannot read directory "${dirReal || "."}": ${(e as Error).message}`);
    }
    let any = false;
    for (const name of names) {
      const real = dirReal === "" ? name : dirReal + "/" + name;
      const childSub = sub === "" ? name : sub + "/" + name;
      const host = this.host(real);
      const st = fs.lstatSync(host);
      const isDir = st.isDirectory();
      const excluded = this.exclude?.matches(childSub) ?? false;
      const ignored = this.ignored(real);
      if (excluded && (!isDir || this.exclude!.canSkipDir(childSub))) continue;
      if (ignored && (!isDir || this.ignore!.canSkipDir(real))) continue;
      const entry: Walked = { sub: childSub, host, st };
      if (st.isSymbolicLink()) entry.link = fs.readlinkSync(host);
      if (isDir) {
        const at = out.length;
        out.push(entry);
        const inner = this.walk(real, childSub, out);
        // An ignored directory exists only to hold re-included (`!pattern`) children.
        if ((ignored || excluded) && !inner) {
          out.length = at;
          continue;
        }
      } else out.push(entry);
      any = true;
    }
    return any;
  }
}
