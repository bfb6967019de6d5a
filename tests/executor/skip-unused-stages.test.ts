// --skip-unused-stages (issue 15): kiln's default builds only the stages the target needs (as
// BuildKit and buildah do); false builds every stage up to the target, as kaniko's default does.
// FROM scratch stages keep the test off the registry; the unused stage's work is seen through its
// failure, and the image is the same either way.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../src/executor/index.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { Logger } from "../../src/util/log.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-skip-unused-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function options(dockerfile: string, extra: Partial<BuildOptions>): BuildOptions {
  const context = mkdtempSync(join(tmp, "ctx-"));
  writeFileSync(join(context, "Dockerfile"), dockerfile);
  writeFileSync(join(context, "a.txt"), "A\n");
  return {
    context, dockerfile: "Dockerfile", destinations: [], noPush: true, buildArgs: {}, labels: {}, cache: false,
    cacheTtlMs: 0, noPushCache: false, cacheRunLayers: true, cacheCopyLayers: true, insecureRegistries: [],
    skipTlsVerify: false, skipTlsVerifyRegistries: [], registryCertificates: {}, reproducible: true, singleSnapshot: false,
    snapshotMode: "auto", compression: "gzip", ignorePaths: [], force: false, verbosity: "error", logFormat: "text",
    root: tmp, ...extra,
  };
}
const quiet = () => new Logger("error", "text");

describe("skipUnusedStages", () => {
  const broken = "FROM scratch AS unused\nCOPY missing.txt /m\nFROM scratch\nCOPY a.txt /a\n";

  test("default and true: an unused stage is not built, so its failure does not matter", async () => {
    expect((await build(options(broken, {}), quiet())).digest).toMatch(/^sha256:/);
    expect((await build(options(broken, { skipUnusedStages: true }), quiet())).digest).toMatch(/^sha256:/);
  });

  test("false: every stage before the target is built, as kaniko does", async () => {
    await expect(build(options(broken, { skipUnusedStages: false }), quiet())).rejects.toThrow(/Dockerfile:2: .*"missing.txt": not found/);
    // A stage after the target is still not built.
    const after = "FROM scratch AS app\nCOPY a.txt /a\nFROM scratch AS later\nCOPY missing.txt /m\n";
    expect((await build(options(after, { skipUnusedStages: false, target: "app" }), quiet())).digest).toMatch(/^sha256:/);
  });

  test("the image is the same either way", async () => {
    const text = "FROM scratch AS unused\nCOPY a.txt /u\nFROM scratch\nCOPY a.txt /a\n";
    const skip = await build(options(text, { skipUnusedStages: true }), quiet());
    const all = await build(options(text, { skipUnusedStages: false }), quiet());
    expect(all.digest).toBe(skip.digest);
  });
});
