// BuildKit's AST dump (`Node.Dump()`), the format of its parser test `result` files.
import type { Dockerfile, Instruction } from "./ast.ts";
import { goQuote } from "./quote.ts";

/** One instruction: `keyword ["--flag" ...] "arg" ...`, ONBUILD's trigger nested in parens. */
export function dumpInstruction(ins: Instruction): string {
  let s = ins.keyword;
  if (ins.flags.length > 0) s += ` [${ins.flags.map(goQuote).join(" ")}]`;
  if (ins.sub) s += ` (${dumpInstruction(ins.sub)})`;
  for (const a of ins.args) s += " " + goQuote(a);
  return s;
}

/** The whole file, one `(…)` line per instruction; identical to BuildKit's `result` files. */
export function dumpDockerfile(ast: Dockerfile): string {
  let out = "";
  for (const ins of ast.instructions) out += `(${dumpInstruction(ins)})\n`;
  return out;
}
