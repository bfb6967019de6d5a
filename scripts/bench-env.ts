// Issue 18 item 4: metadata-heavy Dockerfiles must build in linear time and bounded memory.
// Builds `FROM scratch` + N ENV lines (default 10,000) + LABELs + one COPY in-process, without
// a registry, and prints time and peak RSS against the target. Run: bun scripts/bench-env.ts [N]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../src/executor/index.ts";
import type { BuildOptions } from "../src/executor/options.ts";
import { Logger } from "../src/util/log.ts";

const n = Number(process.argv[2] ?? 10_000);
const TARGET_SECONDS = 1;
const TARGET_RSS_MB = 300;

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-env-"));
try {
  const lines = ["FROM scratch"];
  for (let i = 0; i < n; i++) lines.push(`ENV VAR_${i}=value_${i} PATH_${i}=$PATH`);
  for (let i = 0; i < n / 10; i++) lines.push(`LABEL label_${i}=x${i}`);
  lines.push("COPY f.txt /f.txt");
  writeFileSync(join(dir, "Dockerfile"), lines.join("\n") + "\n");
  writeFileSync(join(dir, "f.txt"), "f\n");
  const opts: BuildOptions = {
    context: dir, dockerfile: "Dockerfile", destinations: [], noPush: true, buildArgs: {}, labels: {},
    cache: false, cacheTtlMs: 0, noPushCache: false, cacheRunLayers: true, cacheCopyLayers: true,
    insecureRegistries: [], skipTlsVerify: false, skipTlsVerifyRegistries: [], registryCertificates: {},
    reproducible: true, singleSnapshot: false, snapshotMode: "auto", compression: "gzip", ignorePaths: [],
    force: false, verbosity: "error", logFormat: "text",
  };
  const t0 = performance.now();
  const r = await build(opts, new Logger("error", "text", () => {}));
  const secs = (performance.now() - t0) / 1000;
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const env = r.image.config.config?.Env?.length ?? 0;
  if (env < n) throw new Error(`the image has ${env} Env entries, expected at least ${n}`);
  const met = secs < TARGET_SECONDS && rssMb < TARGET_RSS_MB;
  console.log(`bench-env: ${n} ENV + ${n / 10} LABEL lines: ${secs.toFixed(2)} s, peak RSS ${rssMb.toFixed(0)} MB (target < ${TARGET_SECONDS} s and < ${TARGET_RSS_MB} MB: ${met ? "met" : "missed"}; load average ${loadavg()[0]!.toFixed(1)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
