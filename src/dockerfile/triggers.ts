// ONBUILD triggers stored in a base image's config, parsed back into instructions.
import { DockerfileError } from "../util/errors.ts";
import type { Instruction } from "./ast.ts";
import { parseCommand } from "./commands.ts";
import { parseDockerfile } from "./parser.ts";

/**
 * Parse one trigger text (e.g. from config.OnBuild) as the instructions it holds. Like
 * BuildKit, triggers are parsed on their own, with the default escape character.
 */
export function parseInstructionLine(text: string, file = "ONBUILD trigger"): Instruction[] {
  const ast = parseDockerfile(text, file);
  for (const ins of ast.instructions) {
    const kw = ins.keyword.toUpperCase();
    if (kw === "ONBUILD" || kw === "FROM" || kw === "MAINTAINER") {
      throw new DockerfileError(`${kw} isn't allowed as an ONBUILD trigger`, ins.line, file);
    }
    parseCommand(ins);
  }
  return ast.instructions;
}

/** All triggers of a base image, in order. */
export function parseTriggers(triggers: string[], file = "ONBUILD trigger"): Instruction[] {
  return triggers.flatMap((t) => parseInstructionLine(t, file));
}
