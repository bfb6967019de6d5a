// Where BuildKit's parser and lexer test data is (see conformance.test.ts for the layouts it takes).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SHARED = fileURLToPath(new URL("../../../shared/conformance/buildkit/", import.meta.url));

/** The folder holding parser/ and shell/, or why there is none. */
export function findData(): { root: string } | { why: string } {
  const given = process.env.KILN_CONFORMANCE_DIR;
  const candidates = given ? [resolve(given, "frontend/dockerfile"), resolve(given)] : [SHARED];
  for (const dir of candidates) {
    if (existsSync(join(dir, "parser/testfiles")) && existsSync(join(dir, "shell/envVarTest"))) return { root: dir + "/" };
  }
  return {
    why: given
      ? `KILN_CONFORMANCE_DIR=${given} holds neither frontend/dockerfile/{parser,shell} (a BuildKit checkout) nor parser/ and shell/`
      : `BuildKit conformance data not found at ${SHARED}; set KILN_CONFORMANCE_DIR to a BuildKit checkout (git clone https://github.com/moby/buildkit)`,
  };
}

