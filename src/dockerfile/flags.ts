// Instruction flags (`--from=x`, `--link`): splitting them off the line the way BuildKit's
// extractBuilderFlags does, and checking them per instruction like its BFlags.
import { isGoSpace } from "./whitespace.ts";

/**
 * Read leading `--flag` words from the text after the keyword. Quotes are removed, the
 * escape character takes the next character literally, and a bare `--` ends the flags.
 * Returns the remaining text and the flag words.
 */
export function extractFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let inWord = false;
  let quote = "";
  let word = "";
  let blankOK = false;
  const n = line.length;
  for (let pos = 0; pos <= n; pos++) {
    const ch = pos < n ? line[pos]! : "";
    if (!inWord && !quote) {
      if (pos === n) break;
      if (isGoSpace(line.charCodeAt(pos))) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return { rest: line.slice(pos), flags };
      inWord = true;
    }
    if (pos === n) {
      if (word !== "--" && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (quote) {
      if (ch === quote) {
        quote = "";
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === n) {
          quote = "";
          continue;
        }
        pos++;
      }
      word += line[pos];
      continue;
    }
    if (isGoSpace(line.charCodeAt(pos))) {
      inWord = false;
      if (word === "--") return { rest: line.slice(pos), flags };
      if (blankOK || word.length > 0) flags.push(word);
      word = "";
      blankOK = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOK = true;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === n) continue;
      pos++;
    }
    word += line[pos];
  }
  return { rest: "", flags };
}

export type FlagKind = "string" | "bool" | "strings";
export type FlagSpec = Record<string, FlagKind>;
export type FlagValues = Record<string, string | boolean | string[]>;

/** Flags each instruction accepts; anything else is an error, as in BuildKit. */
export const INSTRUCTION_FLAGS: Record<string, FlagSpec> = {
  from: { platform: "string" },
  run: { mount: "strings", network: "string", security: "string", device: "strings" },
  copy: { from: "string", chown: "string", chmod: "string", link: "bool", parents: "bool", exclude: "strings" },
  add: {
    chown: "string", chmod: "string", link: "bool", "keep-git-dir": "bool", checksum: "string",
    exclude: "strings", unpack: "bool",
  },
  healthcheck: {
    interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string",
  },
};

/** Parse flag words against a spec; throws Error with BuildKit-like messages. */
export function parseFlags(words: string[], spec: FlagSpec): FlagValues {
  const out: FlagValues = {};
  for (const w of words) {
    if (!w.startsWith("--")) throw new Error(`arguments must begin with '--': ${w}`);
    const body = w.slice(2);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = spec[name];
    if (!kind) throw new Error(`unknown flag: ${name}`);
    if (kind === "bool") {
      if (value === undefined || value.toLowerCase() === "true") out[name] = true;
      else if (value.toLowerCase() === "false") out[name] = false;
      else throw new Error(`expecting boolean value for flag ${name}, not: ${value}`);
      continue;
    }
    if (value === undefined) throw new Error(`missing a value on flag: ${name}`);
    if (kind === "strings") {
      ((out[name] ??= []) as string[]).push(value);
      continue;
    }
    if (name in out) throw new Error(`duplicate flag specified: ${name}`);
    out[name] = value;
  }
  return out;
}
