// The Dockerfile syntax tree: one node per instruction, with its physical line span.

export type EscapeToken = "\\" | "`";

/** A here-document attached to a RUN/COPY/ADD line (body kept raw, as read). */
export interface Heredoc {
  /** Delimiter word with quotes removed (also the file name for COPY <<NAME). */
  name: string;
  /** File descriptor written before `<<` (`3<<EOF`), 0 if none. */
  fd: number;
  /** False when any part of the delimiter was quoted: the body is not expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body and the terminator. */
  chomp: boolean;
  /** The body lines, each with its newline, without the terminator line. */
  content: string;
}

export interface Instruction {
  /** Instruction word, lower-cased ("run"). */
  keyword: string;
  /** Instruction word as written ("Run"). */
  rawKeyword: string;
  /** Flag words as written, quotes and escapes removed: ["--from=build", "--link"]. */
  flags: string[];
  /** Arguments as BuildKit's parser produces them (see dumpDockerfile). */
  args: string[];
  /** True for the JSON (exec) form. */
  json: boolean;
  heredocs: Heredoc[];
  /** First physical line (1-based). */
  line: number;
  /** Last physical line consumed, including continuation, comments and heredoc bodies. */
  endLine: number;
  /** The logical line after joining continuations. */
  original: string;
  /** ONBUILD's trigger instruction. */
  sub?: Instruction;
  /** File name used in error messages. */
  file: string;
}

export interface Dockerfile {
  file: string;
  escapeToken: EscapeToken;
  /** Parser directives by lower-cased name: syntax, escape, check. */
  directives: Record<string, string>;
  instructions: Instruction[];
  startLine: number;
  endLine: number;
  /** Non-fatal findings, e.g. empty continuation lines. */
  warnings: string[];
}
