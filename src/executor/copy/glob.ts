// Go's filepath.Match, which BuildKit uses for COPY/ADD wildcards: `*` and `?` never match `/`,
// `[...]` classes with ranges and `^` negation, `\` escapes. Compiled to a RegExp once per pattern.
import { KilnError } from "../../util/errors.ts";

/** Whether a path segment (or path) contains an unescaped wildcard (fsutil's containsWildcards). */
export function hasWildcard(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/** Remove `\` escapes from a segment without wildcards, so `a\*b` names the file `a*b`. */
export function unescapeGlob(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

// With the "u" flag an escaped "-" is legal only inside a class, so it is escaped only there.
const reEscape = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
const classEscape = (c: string) => (c === "-" ? "\\-" : reEscape(c));

/** Compile a Go filepath.Match pattern; a malformed pattern is an error naming it. */
export function compileGlob(pattern: string): RegExp {
  const bad = () => new KilnError(`syntax error in pattern ${JSON.stringify(pattern)}`);
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      if (++i >= pattern.length) throw bad();
      re += reEscape(pattern[i]!);
    } else if (c === "[") {
      i++;
      let cls = "[";
      if (pattern[i] === "^") {
        cls += "^";
        i++;
      }
      let first = true;
      for (;;) {
        if (i >= pattern.length) throw bad();
        if (pattern[i] === "]" && !first) break;
        first = false;
        let lo = pattern[i]!;
        if (lo === "\\") {
          if (++i >= pattern.length) throw bad();
          lo = pattern[i]!;
        } else if (lo === "-") throw bad();
        i++;
        cls += classEscape(lo);
        if (pattern[i] === "-" && pattern[i + 1] !== "]") {
          i++;
          let hi = pattern[i];
          if (hi === "\\") hi = pattern[++i];
          if (hi === undefined) throw bad();
          if (hi < lo) throw bad();
          i++;
          cls += "-" + classEscape(hi);
        }
      }
      // Go's negated classes never match "/" either.
      re += cls.startsWith("[^") ? cls + "/]" : cls + "]";
    } else re += reEscape(c);
  }
  try {
    return new RegExp(re + "$", "su");
  } catch {
    throw bad();
  }
}
