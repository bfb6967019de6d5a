// .dockerignore with moby/patternmatcher semantics: patterns are cleaned paths relative to
// the context, `**` crosses directories, `!` re-includes, the last matching rule wins, and
// a pattern that matches a directory matches everything under it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = (rooted ? "/" : "") + out.join("/");
  return joined === "" ? "." : joined;
}

/** Patterns from .dockerignore text (moby's ignorefile.ReadAll). */
export function parseDockerignore(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const patterns: string[] = [];
  for (const raw of text.split("\n")) {
    if (raw.startsWith("#")) continue;
    let p = raw.trim();
    if (p === "") continue;
    const invert = p.startsWith("!");
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
    }
    patterns.push(invert ? "!" + p : p);
  }
  return patterns;
}

type MatchType = "exact" | "prefix" | "suffix" | "regexp";
const SHOULD_ESCAPE = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

class Pattern {
  readonly matchType: MatchType;
  private re?: RegExp;

  constructor(
    readonly text: string,
    readonly exclusion: boolean,
  ) {
    checkGlobSyntax(text);
    let re = "^";
    let type: MatchType = "exact";
    const cps = Array.from(text);
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i]!;
      if (ch === "*") {
        if (cps[i + 1] === "*") {
          const atStart = i === 0;
          i++;
          if (cps[i + 1] === "/") i++; // `**/` is `**`
          if (i + 1 >= cps.length) {
            if (type === "exact") type = "prefix";
            else {
              re += "[^\\n]*";
              type = "regexp";
            }
          } else {
            re += "(?:[^\\n]*/)?";
            type = "regexp";
          }
          if (atStart) type = "suffix";
        } else {
          re += "[^/]*";
          type = "regexp";
        }
      } else if (ch === "?") {
        re += "[^/]";
        type = "regexp";
      } else if (SHOULD_ESCAPE.has(ch)) re += "\\" + ch;
      else if (ch === "\\") {
        if (i + 1 < cps.length) {
          re += "\\" + cps[++i];
          type = "regexp";
        } else re += "\\\\";
      } else if (ch === "[" || ch === "]") {
        re += ch;
        type = "regexp";
      } else re += ch;
    }
    this.matchType = type;
    if (type === "regexp") this.re = compile(re + "$", text);
  }

  match(path: string): boolean {
    switch (this.matchType) {
      case "exact":
        return path === this.text;
      case "prefix":
        return path.startsWith(this.text.slice(0, -2));
      case "suffix": {
        const suffix = this.text.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith("/") && path === suffix.slice(1);
      }
      case "regexp":
        return this.re!.test(path);
    }
  }
}

function compile(source: string, pattern: string): RegExp {
  for (const flags of ["u", ""]) {
    try {
      return new RegExp(source, flags);
    } catch {
      // retry without the unicode flag, which rejects some escapes Go accepts
    }
  }
  throw new KilnError(`.dockerignore: bad pattern ${JSON.stringify(pattern)}`);
}

/** The checks of Go's filepath.Match: a trailing `\` or an unclosed `[` is an error. */
function checkGlobSyntax(p: string): void {
  const bad = () => new KilnError(`.dockerignore: syntax error in pattern ${JSON.stringify(p)}`);
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      if (++i >= p.length) throw bad();
    } else if (c === "[") {
      i++;
      if (p[i] === "^") i++;
      let first = true;
      for (;;) {
        if (i >= p.length) throw bad();
        if (p[i] === "]" && !first) break;
        if (p[i] === "\\") i++;
        i++;
        first = false;
      }
    }
  }
}

/** A compiled .dockerignore. Paths are relative to the context root, with `/`. */
export class IgnoreMatcher {
  private compiled: Pattern[];
  /** Whether any pattern starts with `!`. */
  readonly hasExclusions: boolean;

  constructor(
    readonly patterns: string[],
    /** The file the patterns came from, if any. */
    readonly source?: string,
  ) {
    this.compiled = [];
    for (let p of patterns) {
      p = p.trim();
      if (p === "") continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith("!")) {
        if (p.length === 1) throw new KilnError('.dockerignore: illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      this.compiled.push(new Pattern(p, exclusion));
    }
    this.hasExclusions = this.compiled.some((p) => p.exclusion);
  }

  static fromText(text: string, source?: string): IgnoreMatcher {
    return new IgnoreMatcher(parseDockerignore(text), source);
  }

  /** True if the path is excluded from the context (moby's MatchesOrParentMatches). */
  matches(relPath: string): boolean {
    const file = cleanPath(relPath.replace(/^\/+/, ""));
    const slash = file.lastIndexOf("/");
    const parents = slash < 0 ? [] : file.slice(0, slash).split("/");
    let matched = false;
    for (const p of this.compiled) {
      // Only a rule that could flip the current answer needs evaluating.
      if (p.exclusion !== matched) continue;
      let m = p.match(file);
      for (let i = 0; !m && i < parents.length; i++) m = p.match(parents.slice(0, i + 1).join("/"));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * True if the directory is excluded and no `!` rule could re-include anything under
   * it, so a walk need not descend into it.
   */
  canSkipDir(relDir: string): boolean {
    if (!this.matches(relDir)) return false;
    if (!this.hasExclusions) return true;
    const dir = cleanPath(relDir.replace(/^\/+/, "")).split("/");
    return !this.compiled.some((p) => p.exclusion && mayMatchUnder(p.text, dir));
  }
}

/** Could a pattern match some path below `dir`? Conservative: `**` always could. */
function mayMatchUnder(pattern: string, dir: string[]): boolean {
  const segs = pattern.split("/");
  for (let i = 0; i < dir.length; i++) {
    if (i >= segs.length) return true;
    const seg = segs[i]!;
    if (seg.includes("**")) return true;
    if (!new Pattern(seg, false).match(dir[i]!)) return false;
  }
  return true;
}

/**
 * Load the ignore rules for a build: `<Dockerfile>.dockerignore` next to the Dockerfile
 * wins over `.dockerignore` at the context root. No file means nothing is ignored.
 */
export async function loadDockerignore(contextDir: string, dockerfilePath?: string, resolve: (path: string) => string = (p) => p): Promise<IgnoreMatcher> {
  const candidates = dockerfilePath ? [`${dockerfilePath}.dockerignore`] : [];
  candidates.push(join(contextDir, ".dockerignore"));
  for (const path of candidates) {
    let text: string;
    try {
      text = await readFile(resolve(path), "utf8"); // resolve: where the context's symlinks lead, inside it
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw new KilnError(`cannot read ${path}: ${(e as Error).message}`);
    }
    return IgnoreMatcher.fromText(text, path);
  }
  return new IgnoreMatcher([]);
}
