// Per-instruction argument parsing, as BuildKit's parser does it before any expansion.
// The results are exactly what the AST dump prints.
import { NotStringArrayError, parseJSONArray } from "./json-args.ts";
import { isGoSpace, splitWhitespace, splitWhitespaceOnce } from "./whitespace.ts";

export class LineParseError extends Error {}

export interface ParsedArgs {
  args: string[];
  json: boolean;
}

/**
 * Split into words, keeping quotes and escapes (BuildKit's parseWords). Whitespace inside
 * quotes does not split; the escape character protects the next character.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let inWord = false;
  let quote = "";
  let word = "";
  let blankOK = false;
  const n = rest.length;
  for (let pos = 0; pos <= n; pos++) {
    if (!inWord) {
      if (pos === n) break;
      if (isGoSpace(rest.charCodeAt(pos))) continue;
      inWord = true;
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    let ch = rest[pos]!;
    if (quote) {
      if (ch === quote) quote = "";
      if (ch === escape && quote !== "'" && ch !== quote) {
        if (pos + 1 === n) {
          quote = "";
          continue;
        }
        pos++;
        word += ch;
        ch = rest[pos]!;
      }
      word += ch;
      continue;
    }
    if (isGoSpace(rest.charCodeAt(pos))) {
      inWord = false;
      if (blankOK || word.length > 0) words.push(word);
      word = "";
      blankOK = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOK = true;
    }
    if (ch === escape) {
      if (pos + 1 === n) continue;
      word += ch;
      pos++;
      ch = rest[pos]!;
    }
    word += ch;
  }
  return words;
}

function maybeJSON(rest: string): ParsedArgs | undefined {
  try {
    const arr = parseJSONArray(rest);
    return arr ? { args: arr, json: true } : undefined;
  } catch (e) {
    if (e instanceof NotStringArrayError) throw new LineParseError(e.message);
    throw e;
  }
}

/** ENV and LABEL: [key, value, sep] triples; sep is "=" (modern) or "" (legacy `KEY value`). */
function parseNameVal(rest: string, what: string, escape: string): string[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes("=")) {
    const parts = splitWhitespaceOnce(rest);
    if (parts.length < 2) throw new LineParseError(`${what} must have two arguments`);
    return [parts[0], parts[1]!, ""];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) throw new LineParseError(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    out.push(w.slice(0, eq), w.slice(eq + 1), "=");
  }
  return out;
}

/**
 * Arguments of one instruction from the text after its keyword and flags (already
 * trimmed). ONBUILD is handled by the caller, which parses its rest as an instruction.
 */
export function parseArgs(keyword: string, rest: string, escape: string): ParsedArgs {
  switch (keyword) {
    case "from":
    case "expose":
      return { args: splitWhitespace(rest), json: false };
    case "add":
    case "copy":
    case "volume":
      return maybeJSON(rest) ?? { args: splitWhitespace(rest), json: false };
    case "run":
    case "cmd":
    case "entrypoint":
    case "shell":
      if (rest === "") return { args: [], json: false };
      return maybeJSON(rest) ?? { args: [rest], json: false };
    case "maintainer":
    case "user":
    case "workdir":
    case "stopsignal":
      return { args: rest === "" ? [] : [rest], json: false };
    case "healthcheck": {
      let sep = 0;
      while (sep < rest.length && !isGoSpace(rest.charCodeAt(sep))) sep++;
      if (sep === 0) return { args: [], json: false };
      let next = sep;
      while (next < rest.length && isGoSpace(rest.charCodeAt(next))) next++;
      const cmd = parseArgs("cmd", rest.slice(next), escape);
      return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
    }
    case "env":
      return { args: parseNameVal(rest, "ENV", escape), json: false };
    case "label":
      return { args: parseNameVal(rest, "LABEL", escape), json: false };
    case "arg":
      return { args: parseWords(rest, escape), json: false };
    default:
      // Unknown instructions parse (BuildKit reports them later) with one empty argument.
      return { args: [""], json: false };
  }
}
