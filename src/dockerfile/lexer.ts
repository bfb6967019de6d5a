// BuildKit's shell-word lexer (frontend/dockerfile/shell): $VAR and ${VAR...} expansion,
// quote removal, escapes and word splitting. It is not a shell: no globbing, no commands.
import { PatternError, replacePattern, trimPrefixPattern, trimSuffixPattern } from "./shell-pattern.ts";
import { isGoSpace } from "./whitespace.ts";

/** Anything with a `get`, e.g. a Map of variable name to value. Unset names return undefined. */
export interface EnvGetter {
  get(name: string): string | undefined;
}

export interface LexOptions {
  /** Keep quote characters in the result (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies). */
  skipProcessQuotes?: boolean;
}

export class LexError extends Error {
  override name = "LexError";
}

export interface LexResult {
  result: string;
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

const EOF = "";
const ASCII_LETTER_DIGIT = /^[A-Za-z0-9_]$/;
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const isDigit = (ch: string) => (ch >= "0" && ch <= "9") || (ch > "\x7f" && DIGIT.test(ch));
const isNameChar = (ch: string) => ASCII_LETTER_DIGIT.test(ch) || (ch > "\x7f" && (LETTER.test(ch) || DIGIT.test(ch)));
const isSpecialParam = (ch: string) => "@*#?-$!0".includes(ch) && ch !== "";
const isSpace = (ch: string) => ch !== EOF && isGoSpace(ch.charCodeAt(0));

export class ShellLex {
  constructor(
    readonly escapeToken = "\\",
    readonly options: LexOptions = {},
  ) {}

  /** Expand one word (ProcessWord): quotes removed, no splitting. */
  processWord(word: string, env: EnvGetter): string {
    return this.process(word, env).result;
  }

  /** Expand and split into words after expansion (ProcessWords). */
  processWords(word: string, env: EnvGetter): string[] {
    return this.process(word, env).words;
  }

  process(word: string, env: EnvGetter): LexResult {
    const sw = new ShellWord(this, word, env);
    try {
      const [result, words] = sw.processStopOn(EOF, this.options.rawEscapes ?? false);
      return { result, words, matched: sw.matched, unmatched: sw.unmatched };
    } catch (e) {
      if (e instanceof LexError || e instanceof PatternError) {
        throw new LexError(`failed to process ${JSON.stringify(word)}: ${e.message}`);
      }
      throw e;
    }
  }
}

class Words {
  words: string[] = [];
  word = "";
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (!this.inWord) return;
      // `<<` and the blanks after it stay one word, so `<< EOF` still names a heredoc.
      if (/<<\s*$/.test(this.word)) {
        this.word += ch;
        return;
      }
      if (this.word.length !== 0) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else this.addRawChar(ch);
  }
  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  get(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  matched = new Set<string>();
  unmatched = new Set<string>();

  constructor(
    private lex: ShellLex,
    word: string,
    private env: EnvGetter,
  ) {
    this.chars = Array.from(word);
    this.rawEscapes = lex.options.rawEscapes ?? false;
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }
  private next(): string {
    const ch = this.chars[this.pos] ?? EOF;
    if (ch !== EOF) this.pos++;
    return ch;
  }

  processStopOn(stopChar: string, rawEscapes: boolean): [string, string[]] {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.stopOn(stopChar);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private stopOn(stopChar: string): [string, string[]] {
    const esc = this.lex.escapeToken;
    const quotes = !this.lex.options.skipProcessQuotes;
    let result = "";
    const words = new Words();
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stopChar !== EOF && ch === stopChar) {
        this.next();
        return [result, words.get()];
      }
      if (ch === "$") {
        const tmp = this.processDollar();
        result += tmp;
        words.addString(tmp);
      } else if (quotes && (ch === "'" || ch === '"')) {
        const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        result += tmp;
        words.addRawString(tmp);
      } else {
        let c = this.next();
        if (c === esc) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          c = this.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stopChar !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stopChar}`);
    return [result, words.get()];
  }

  private processSingleQuote(): string {
    const raw = this.lex.options.rawQuotes;
    let result = "";
    const q = this.next();
    if (raw) result += q;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new LexError("unexpected end of statement while looking for matching single-quote");
      if (ch === "'") {
        if (raw) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    const raw = this.lex.options.rawQuotes;
    const esc = this.lex.escapeToken;
    let result = "";
    const q = this.next();
    if (raw) result += q;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError("unexpected end of statement while looking for matching double-quote");
      if (p === '"') {
        this.next();
        if (raw) result += p;
        return result;
      }
      if (p === "$") {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === esc) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === EOF) continue; // a trailing escape is dropped
        // Only ", $ and the escape itself can be escaped; any other escape stays literal.
        if (after === '"' || after === "$" || after === esc) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  private processName(): string {
    let name = "";
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === "" && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === "" && isSpecialParam(ch)) return this.next();
      if (!isNameChar(ch)) break;
      name += this.next();
    }
    return name;
  }

  private processDollar(): string {
    const skipUnset = this.lex.options.skipUnsetEnv;
    this.next(); // $
    if (this.peek() !== "{") {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return "$" + name;
      return value ?? "";
    }
    this.next(); // {
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new LexError("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.next();
    let chs = ch;
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    if (ch === "}") {
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return "${" + name + "}";
      return value ?? "";
    }
    if (ch === "/") return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ":") {
      nullIsUnset = true;
      ch = this.next();
      chs += ch;
    } else if (!"+-?#%".includes(ch)) {
      throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
    const patternMode = ch === "#" || ch === "%";
    if (nullIsUnset && patternMode) throw new LexError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      [word] = this.processStopOn("}", patternMode);
    } catch (e) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && skipUnset) return "${" + name + chs + word + "}";
    const unsetOrNull = value === undefined || (nullIsUnset && value === "");
    switch (ch) {
      case "-":
        return unsetOrNull ? word : value!;
      case "+":
        return unsetOrNull ? "" : word;
      case "?":
        if (value === undefined) throw new LexError(`${name}: ${word || "is not allowed to be unset"}`);
        if (unsetOrNull) throw new LexError(`${name}: ${word || "is not allowed to be empty"}`);
        return value;
      case "#":
      case "%": {
        const greedy = word.startsWith(ch);
        const pattern = greedy ? word.slice(1) : word;
        return ch === "%" ? trimSuffixPattern(pattern, value ?? "", greedy) : trimPrefixPattern(pattern, value ?? "", greedy);
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === "/";
    if (all) this.next();
    let pattern: string;
    let replacement: string;
    try {
      [pattern] = this.processStopOn("/", true);
    } catch (e) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
      throw e;
    }
    try {
      [replacement] = this.processStopOn("}", true);
    } catch (e) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.lex.options.skipUnsetEnv) return "${" + name + "/" + pattern + "/" + replacement + "}";
    try {
      return replacePattern(pattern, replacement, value ?? "", all);
    } catch (e) {
      if (e instanceof PatternError) throw new LexError(`invalid pattern (${pattern}) in substitution: ${e.message}`);
      throw e;
    }
  }
}
