// The Dockerfile front end: parse, dump, plan stages, expand instructions, .dockerignore.
export type { Dockerfile, EscapeToken, Heredoc, Instruction } from "./ast.ts";
export { parseDockerfile } from "./parser.ts";
export { dumpDockerfile, dumpInstruction } from "./dump.ts";
export { ShellLex, LexError, type EnvGetter, type LexOptions, type LexResult } from "./lexer.ts";
export { goQuote } from "./quote.ts";
export { parseCommand, onbuildExpression, type Command, type CommandKind, type ArgDecl, type HealthcheckConfig } from "./commands.ts";
export {
  planBuild, resolveStageRef, type BuildPlan, type PlannedStage, type PlanOptions, type StageRef,
} from "./plan.ts";
export { StageScope, DEFAULT_PATH, DEFAULT_SHELL, type BaseConfig } from "./scope.ts";
export type { Expanded, ExpandedKind, ExpandedRun, ExpandedCopy, InlineFile, HeredocSource } from "./expanded.ts";
export { parseInstructionLine, parseTriggers } from "./triggers.ts";
export { formatPlatform, hostPlatform, ociPlatform, platformSpec, type PlatformSpec } from "./platform.ts";
export { parseGoDuration } from "./go-duration.ts";
export { IgnoreMatcher, loadDockerignore, parseDockerignore, cleanPath } from "./dockerignore.ts";
export { formatExpanded } from "./describe.ts";
