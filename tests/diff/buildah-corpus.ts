// Builds every case (or the named ones) with buildah only: proves the corpus is buildable by the
// reference builder and measures it. Not a test file; run by hand:
//   node_modules/.bin/bun tests/diff/buildah-corpus.ts [--dump DIR] [case ...]
// --dump writes each case's captured tree and config as JSON, to see what the reference image holds.
import fs from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { buildWithBuildah, diffEnv, limiter, loadCases } from "./harness.ts";

const argv = process.argv.slice(2);
const dumpAt = argv.indexOf("--dump");
const dump = dumpAt >= 0 ? argv.splice(dumpAt, 2)[1] : undefined;
const cases = loadCases().filter((c) => argv.length === 0 || argv.includes(c.name));
const limit = limiter(Number(process.env.KILN_DIFF_JOBS ?? 2));
const t0 = Date.now();
let failed = 0;
await Promise.all(
  cases.map((c) =>
    limit(async () => {
      const work = fs.mkdtempSync(join(os.tmpdir(), `kiln-diff-buildah-${c.name}-`));
      try {
        const env = await diffEnv(c.base === "debian");
        const b = await buildWithBuildah(c, env, work);
        console.log(`ok   ${c.name.padEnd(26)} ${(b.ms / 1000).toFixed(1)}s  ${b.tree.size} paths`);
        if (dump) {
          fs.mkdirSync(dump, { recursive: true });
          fs.writeFileSync(join(dump, `${c.name}.json`), JSON.stringify({ config: b.config, tree: Object.fromEntries(b.tree) }, null, 1));
        }
      } catch (e) {
        failed++;
        console.log(`FAIL ${c.name}: ${(e as Error).message}`);
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    }),
  ),
);
console.log(`${cases.length - failed}/${cases.length} cases built by buildah in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
process.exit(failed ? 1 : 0);
