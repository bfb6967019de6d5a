// Entry point of the executor. Filled in by the executor issue; the CLI already validates flags.
import type { BuildOptions } from "./options.ts";
import { KilnError } from "../util/errors.ts";

export async function build(opts: BuildOptions): Promise<void> {
  void opts;
  throw new KilnError("build: the executor is not implemented yet");
}
