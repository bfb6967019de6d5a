// WWW-Authenticate parsing (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.

export interface Challenge {
  scheme: string; // lowercase: "bearer", "basic"
  params: Record<string, string>;
}

export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?:\s+|$)/y;
  let pos = 0;
  while (pos < header.length) {
    re.lastIndex = pos;
    const m = re.exec(header);
    if (!m) break;
    const ch: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
    pos = re.lastIndex;
    // auth-params: key=value or key="quoted", separated by commas, until the next scheme.
    const param = /\s*([\w!#$%&'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
    for (;;) {
      param.lastIndex = pos;
      const p = param.exec(header);
      if (!p) break;
      ch.params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
      pos = param.lastIndex;
    }
    out.push(ch);
    while (pos < header.length && /[\s,]/.test(header[pos]!)) pos++;
  }
  return out;
}
