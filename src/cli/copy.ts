// `kiln copy` (stub; see the issue that owns it).
import { Command } from "@commander-js/extra-typings";
import { KilnError } from "../util/errors.ts";

export function copyCommand() {
  return new Command("copy").description("(not implemented yet)").action(() => {
    throw new KilnError("copy: not implemented yet");
  });
}
