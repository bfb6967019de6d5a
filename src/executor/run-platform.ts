// Before a stage runs its first RUN for another architecture: can this kernel execute that
// architecture's binaries (binfmt_misc + QEMU with the F flag)? One line naming the Dockerfile
// line and how to register a handler otherwise. kiln only reads binfmt_misc, never changes it.
import type { Instruction, PlannedStage, BuildPlan } from "../dockerfile/index.ts";
import { ociPlatform } from "../dockerfile/platform.ts";
import { BINFMT_DIR, requireEmulation } from "../run/binfmt.ts";

/**
 * Throws when `stage` is for a foreign platform that cannot RUN here. KILN_BINFMT_MISC_DIR names
 * another binfmt_misc directory to read (tests point it at a fake one).
 */
export function requireRunPlatform(plan: BuildPlan, stage: PlannedStage, ins: Instruction, env: Record<string, string | undefined> = process.env): void {
  // A stage built on another stage runs on that stage's platform (FROM --platform there).
  let from = stage;
  while (!from.platform && from.baseStage !== undefined) from = plan.stages[from.baseStage]!;
  const platform = ociPlatform(from.platform ?? plan.targetPlatform);
  requireEmulation(platform, `${ins.file}:${ins.line}`, { dir: env.KILN_BINFMT_MISC_DIR || BINFMT_DIR });
}
