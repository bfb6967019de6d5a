// The check before a RUN of a foreign-architecture stage (src/executor/run-platform.ts), against a
// fake binfmt_misc directory: which platform a stage runs on, and the one-line error.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDockerfile, planBuild } from "../../src/dockerfile/index.ts";
import { requireRunPlatform } from "../../src/executor/run-platform.ts";
import { hostPlatform } from "../../src/image/platform.ts";

const dir = mkdtempSync(join(tmpdir(), "kiln-run-platform-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "status"), "enabled\n"); // mounted, switched on, no handler at all
const env = { KILN_BINFMT_MISC_DIR: dir };
const host = hostPlatform().architecture;
const foreign = host === "arm64" ? "amd64" : "arm64";

function plan(text: string, platform?: string) {
  const p = planBuild(parseDockerfile(text), { platform: platform ? { os: "linux", arch: platform } : undefined });
  const run = (i: number) => () => requireRunPlatform(p, p.stages[i]!, p.stages[i]!.instructions.find((x) => x.keyword === "run")!, env);
  return { p, run };
}

describe("requireRunPlatform", () => {
  test("a stage of the host's platform needs nothing", () => {
    expect(plan("FROM busybox\nRUN true\n").run(0)).not.toThrow();
  });
  test("the target platform of the build: one line naming the RUN and how to register QEMU", () => {
    expect(plan("FROM busybox\nRUN true\n", foreign).run(0)).toThrow(`Dockerfile:2: RUN for linux/${foreign} needs QEMU user emulation and no binfmt_misc handler is registered for it`);
  });
  test("FROM --platform of the stage, and of the stage it is built on", () => {
    const { run } = plan(`FROM --platform=linux/${foreign} busybox AS a\nRUN true\nFROM a\nRUN true\nFROM --platform=$BUILDPLATFORM busybox\nRUN true\n`, foreign);
    expect(run(0)).toThrow("Dockerfile:2: RUN for");
    expect(run(1)).toThrow("Dockerfile:4: RUN for");
    expect(run(2)).not.toThrow(); // $BUILDPLATFORM: this machine
  });
});
