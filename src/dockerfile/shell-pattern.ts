// The `#`, `%` and `/` modifiers of ${VAR...}: shell wildcards (* and ?, no brackets)
// turned into regular expressions, with Go's regexp semantics where they differ from JS.

export class PatternError extends Error {}

/** BuildKit's convertShellPatternToRegex; `.` is written [^\n] because Go's `.` only excludes \n. */
export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const cps = Array.from(pattern);
  let out = anchored ? "^" : "";
  const star = greedy ? "[^\\n]*" : "[^\\n]*?";
  for (let i = 0; i < cps.length; i++) {
    let tok = cps[i]!;
    switch (tok) {
      case "*":
        out += star;
        continue;
      case "?":
        out += "[^\\n]";
        continue;
      case "\\": {
        // `\}` and `\/` only protect the ${} syntax; the backslash is not part of the pattern.
        const peek = cps[i + 1];
        if (peek === "}" || peek === "/") continue;
        out += "\\";
        i++;
        tok = cps[i] ?? "";
        if (tok !== "*" && tok !== "?" && tok !== "\\") throw new PatternError(`invalid escape '\\${tok}'`);
        break;
      }
      case "[": case "]": case "{": case "}": case ".": case "+": case "(": case ")": case "|": case "^": case "$":
        out += "\\";
        break;
    }
    out += tok;
  }
  return new RegExp(out, global ? "gu" : "u");
}

export function trimPrefixPattern(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverse a pattern by code points, keeping each `\x` escape pair in order. */
function reversePattern(pattern: string): string {
  const cps = Array.from(pattern);
  const out: string[] = new Array(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = cps[i]!;
    const o = last - i;
    if (tok === "\\" && i !== last) {
      out[o - 1] = tok;
      out[o] = cps[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join("");
}

const reverse = (s: string) => Array.from(s).reverse().join("");

/** Shortest/longest suffix removal, done as a prefix match on the reversed strings. */
export function trimSuffixPattern(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefixPattern(reversePattern(pattern), reverse(value), greedy));
}

/** ${VAR/p/r} (first match, literal replacement) and ${VAR//p/r} (Go's ReplaceAllString). */
export function replacePattern(pattern: string, replacement: string, value: string, all: boolean): string {
  if (!all) {
    const m = shellPatternToRegExp(pattern, true, false).exec(value);
    if (!m) return value;
    return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
  const re = shellPatternToRegExp(pattern, true, false, true);
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (!m) break;
    const a0 = m.index;
    const a1 = a0 + m[0].length;
    out += value.slice(lastMatchEnd, a0);
    // Go skips an empty match that abuts the previous match.
    if (a1 > lastMatchEnd || a0 === 0) out += expandTemplate(replacement, m[0]);
    lastMatchEnd = a1;
    const cp = value.codePointAt(searchPos);
    const width = cp === undefined ? 1 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > a1) searchPos += width;
    else if (searchPos + 1 > a1) searchPos++;
    else searchPos = a1;
  }
  return out + value.slice(lastMatchEnd);
}

/** Go's Regexp.Expand for a pattern without groups: $0/${0} is the match, $$ is $, other names are empty. */
function expandTemplate(template: string, match: string): string {
  if (!template.includes("$")) return template;
  let out = "";
  let t = template;
  while (t.length > 0) {
    const i = t.indexOf("$");
    if (i < 0) break;
    out += t.slice(0, i);
    t = t.slice(i);
    if (t.length > 1 && t[1] === "$") {
      out += "$";
      t = t.slice(2);
      continue;
    }
    const m = t[1] === "{" ? /^\$\{([\p{L}\p{Nd}_]+)\}/u.exec(t) : /^\$([\p{L}\p{Nd}_]+)/u.exec(t);
    if (!m) {
      out += "$";
      t = t.slice(1);
      continue;
    }
    t = t.slice(m[0].length);
    if (m[1] === "0") out += match;
  }
  return out + t;
}
