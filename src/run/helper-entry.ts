// Entry file for the run helper when kiln runs from source (compiled kiln re-executes itself and
// src/cli/entry.ts dispatches on KILN_RUN_HELPER instead).
import { runHelper } from "./helper.ts";

runHelper();
