// The Dockerfile front end: parse, dump, plan stages, expand instructions, .dockerignore.
export type { Dockerfile, EscapeToken, Heredoc, Instruction } from "./ast.ts";
export { parseDockerfile } from "./parser.ts";
export { dumpDockerfile, dumpInstruction } from "./dump.ts";
export { ShellLex, LexError, type EnvGetter, type LexOptions, type LexResult } from "./lexer.ts";
export { goQuote } from "./quote.ts";
