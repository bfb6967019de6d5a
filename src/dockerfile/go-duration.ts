// Go's time.ParseDuration, in nanoseconds: HEALTHCHECK options are stored that way in
// the image config, exactly as Docker stores them.

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const TERM = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parse "30s", "1m30s", "1.5h", "0"; throws with Go's message on anything else. */
export function parseGoDuration(text: string): number {
  const bad = () => new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad();
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(s);
    if (!m) throw bad();
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    pos = TERM.lastIndex;
  }
  return sign * Math.round(total);
}
