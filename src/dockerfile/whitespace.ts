// Go's notion of whitespace. BuildKit trims and splits with unicode.IsSpace and with
// the regexp [\t\v\f\r ]+, which differ from JavaScript's \s and String.trim().

/** Go's unicode.IsSpace for one UTF-16 code unit (every Go space is in the BMP). */
export function isGoSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return (
    c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000
  );
}

export function trimLeftGo(s: string): string {
  let i = 0;
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i === 0 ? s : s.slice(i);
}

export function trimRightGo(s: string): string {
  let j = s.length;
  while (j > 0 && isGoSpace(s.charCodeAt(j - 1))) j--;
  return j === s.length ? s : s.slice(0, j);
}

/** strings.TrimSpace */
export function trimGo(s: string): string {
  return trimRightGo(trimLeftGo(s));
}

/** The parser's token separator: regexp `[\t\v\f\r ]+`. */
export const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** regexp.Split(s, -1) with WHITESPACE_RUN, as used for FROM/EXPOSE/COPY args. */
export function splitWhitespace(s: string): string[] {
  if (s === "") return [];
  return s.split(WHITESPACE_RUN);
}

/** regexp.Split(s, 2): at most two parts, split at the first whitespace run. */
export function splitWhitespaceOnce(s: string): [string] | [string, string] {
  const m = WHITESPACE_RUN.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}
