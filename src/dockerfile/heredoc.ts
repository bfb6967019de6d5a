// Recognising heredoc openers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) the way BuildKit
// does: the line is split into shell words and each word is matched separately.
import { ShellLex } from "./lexer.ts";

export interface HeredocSpec {
  name: string;
  fd: number;
  expand: boolean;
  chomp: boolean;
}

const NO_ENV = new Map<string, string>();
// Go's \s is [\t\n\f\r ].
const RE_HEREDOC = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const nameLex = new ShellLex("\\", { skipUnsetEnv: true });
const rawNameLex = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true });
const lineLex = new ShellLex("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });

const countQuotes = (s: string) => s.split("'").length + s.split('"').length - 2;

/** The heredoc a single word opens, if any (BuildKit's ParseHeredoc). */
export function parseHeredocWord(word: string): HeredocSpec | undefined {
  const m = RE_HEREDOC.exec(word);
  if (!m || m[3] === "") return undefined;
  const rest = m[3]!;
  const words = nameLex.processWords(rest, NO_ENV);
  if (words.length !== 1) return undefined;
  const raw = rawNameLex.processWords(rest, NO_ENV);
  if (raw.length !== words.length) throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  return {
    name: words[0]!,
    fd: m[1] ? Number(m[1]) : 0,
    chomp: m[2] === "-",
    // Quotes anywhere in the delimiter turn expansion off.
    expand: countQuotes(words[0]!) === countQuotes(raw[0]!),
  };
}

/** All heredocs a logical line opens, in order. */
export function heredocsFromLine(line: string): HeredocSpec[] {
  if (!line.includes("<<")) return [];
  let words: string[];
  try {
    words = lineLex.processWords(line, NO_ENV);
  } catch {
    return [];
  }
  const out: HeredocSpec[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-` bodies lose the leading tabs of every line. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, "");
}
