// Dockerfile text to syntax tree, following BuildKit's parser line for line: directives,
// comments, continuations, flags, JSON vs shell form and heredoc bodies.
import { Buffer } from "node:buffer";
import { DockerfileError } from "../util/errors.ts";
import type { Dockerfile, EscapeToken, Heredoc, Instruction } from "./ast.ts";
import { extractFlags } from "./flags.ts";
import { heredocsFromLine } from "./heredoc.ts";
import { parseArgs } from "./line-parsers.ts";
import { splitWhitespaceOnce, trimGo, trimLeftGo } from "./whitespace.ts";

const MAX_LINE_BYTES = 65536;
// Go's \s is [\t\n\f\r ]; `.` matches anything but \n.
const RE_DIRECTIVE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const HEREDOC_KEYWORDS = new Set(["run", "copy", "add"]);

class Directives {
  escape: EscapeToken = "\\";
  done = false;
  values: Record<string, string> = {};

  /** Look at a line while still in the directive section; throws on a bad directive. */
  check(line: string): void {
    if (this.done) return;
    const m = RE_DIRECTIVE.exec(line);
    const key = m?.[1]?.toLowerCase();
    if (!m || key === undefined || !KNOWN_DIRECTIVES.has(key)) {
      this.done = true;
      return;
    }
    if (key in this.values) throw new Error(`only one ${key} parser directive can be used`);
    const value = m[2]!;
    if (key === "escape") {
      if (value !== "`" && value !== "\\") throw new Error(`invalid escape token '${value}' does not match \` or \\`);
      this.escape = value;
    }
    this.values[key] = value;
  }
}

/** Remove trailing \r and \n. */
function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0) {
    const c = s.charCodeAt(j - 1);
    if (c !== 0x0a && c !== 0x0d) break;
    j--;
  }
  return j === s.length ? s : s.slice(0, j);
}

/**
 * The continuation test: a line continues if it ends with the escape character (then
 * optional blanks) that is not itself escaped. Returns the line without that character.
 */
function trimContinuation(line: string, esc: string): [string, boolean] {
  let j = line.length;
  while (j > 0) {
    const c = line.charCodeAt(j - 1);
    if (c !== 0x20 && c !== 0x09) break;
    j--;
  }
  if (j === 0 || line[j - 1] !== esc) return [line, true];
  if (j >= 2 && line[j - 2] === esc) return [line, true];
  return [line.slice(0, j - 1), false];
}

/** Build one instruction node from a logical line (BuildKit's newNodeFromLine). */
export function parseLogicalLine(line: string, esc: string, file: string, start: number, end: number): Instruction {
  const parts = splitWhitespaceOnce(trimGo(line));
  const rawKeyword = parts[0];
  const keyword = rawKeyword.toLowerCase();
  let flags: string[] = [];
  let rest = "";
  if (parts.length === 2) ({ rest, flags } = extractFlags(parts[1], esc));
  rest = trimGo(rest);
  const ins: Instruction = {
    keyword, rawKeyword, flags, args: [], json: false, heredocs: [], line: start, endLine: end, original: line, file,
  };
  if (keyword === "onbuild") {
    if (rest !== "") ins.sub = parseLogicalLine(rest, esc, file, start, end);
  } else {
    const { args, json } = parseArgs(keyword, rest, esc);
    ins.args = args;
    ins.json = json;
  }
  return ins;
}

function canContainHeredoc(ins: Instruction): boolean {
  const target = ins.keyword === "onbuild" && ins.sub ? ins.sub : ins;
  return HEREDOC_KEYWORDS.has(target.keyword) && !target.json;
}

function splitPhysicalLines(text: string): string[] {
  const lines: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    const end = nl < 0 ? text.length : nl + 1;
    lines.push(text.slice(pos, end));
    pos = end;
  }
  return lines;
}

/**
 * Parse Dockerfile text into its syntax tree. Throws DockerfileError (`FILE:LINE: message`)
 * for anything BuildKit's parser rejects.
 */
export function parseDockerfile(text: string, file = "Dockerfile"): Dockerfile {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = splitPhysicalLines(text);
  const d = new Directives();
  const instructions: Instruction[] = [];
  const warnings: string[] = [];
  let i = 0; // lines consumed, which is also the 1-based number of the last line read

  const fail = (e: unknown, line: number): never => {
    if (e instanceof DockerfileError) throw e;
    throw new DockerfileError((e as Error).message, line, file);
  };
  const nextLine = (): string => {
    const raw = lines[i++]!;
    if (raw.length * 3 >= MAX_LINE_BYTES && Buffer.byteLength(trimNewline(raw)) >= MAX_LINE_BYTES) {
      throw new DockerfileError(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, i, file);
    }
    return raw;
  };

  while (i < lines.length) {
    let token = trimLeftGo(trimNewline(nextLine()));
    try {
      d.check(token);
    } catch (e) {
      fail(e, i);
    }
    if (token.startsWith("#")) token = "";
    const startLine = i;
    const esc = d.escape;
    let [line, isEnd] = trimContinuation(token, esc);
    if (isEnd && line === "") continue;

    let emptyContinuation = false;
    while (!isEnd && i < lines.length) {
      const c = trimNewline(nextLine());
      try {
        d.check(c);
      } catch (e) {
        fail(e, i);
      }
      const left = trimLeftGo(c);
      if (left.startsWith("#")) continue;
      if (left === "") {
        emptyContinuation = true;
        continue;
      }
      let more: string;
      [more, isEnd] = trimContinuation(c, esc);
      line += more;
    }
    if (emptyContinuation) warnings.push(`${file}:${startLine}: empty continuation line found in: ${line}`);

    let ins: Instruction;
    try {
      ins = parseLogicalLine(line, esc, file, startLine, i);
    } catch (e) {
      return fail(e, startLine);
    }

    if (canContainHeredoc(ins)) {
      let specs;
      try {
        specs = heredocsFromLine(line);
      } catch (e) {
        return fail(e, startLine);
      }
      for (const spec of specs) {
        let content = "";
        let terminated = false;
        while (i < lines.length) {
          const raw = nextLine();
          let candidate = trimNewline(raw);
          if (spec.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === spec.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) throw new DockerfileError(`unterminated heredoc <<${spec.name}`, startLine, file);
        const h: Heredoc = { ...spec, content };
        ins.heredocs.push(h);
      }
      ins.endLine = i;
      if (ins.sub) ins.sub.endLine = i;
    }
    instructions.push(ins);
  }

  if (instructions.length === 0) throw new DockerfileError("file with no instructions", Math.max(i, 1), file);
  return {
    file,
    escapeToken: d.escape,
    directives: d.values,
    instructions,
    startLine: instructions[0]!.line,
    endLine: instructions[instructions.length - 1]!.endLine,
    warnings,
  };
}
