// `kiln parse` (stub; see the issue that owns it).
import { Command } from "@commander-js/extra-typings";
import { KilnError } from "../util/errors.ts";

export function parseCommand() {
  return new Command("parse").description("(not implemented yet)").action(() => {
    throw new KilnError("parse: not implemented yet");
  });
}
