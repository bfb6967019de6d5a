// The final image's layers go to the destinations while the build runs (registry/early-push.ts).
// Only blobs go early: a build that fails leaves no tag, and a build that succeeds pushes the
// same image to every destination, whether its layers went up early or at the end.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { accessLog, logSize } from "../registry/helpers.ts";
import { imageFiles } from "./image-files.ts";
import { kilnBuild } from "./kiln-build.ts";

const work = mkdtempSync(join(tmpdir(), "kiln-early-push-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function context(name: string, dockerfile: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  writeFileSync(join(dir, "f.txt"), `${name}\n`);
  return dir;
}

describe("early push", async () => {
  const reg = await registry();
  const bases = await baseImages();

  test("a build that fails after a layer went up early leaves no image at the destination", async () => {
    const ctx = context("fails", "ARG BASE\nFROM $BASE\nCOPY f.txt /f.txt\nRUN sleep 0.3; exit 3\n");
    const dest = `${reg.host}/early/fails:1`;
    for (const cache of [[], ["--cache"]]) {
      const from = logSize(reg.logFile);
      const r = kilnBuild(work, ctx, dest, ["--build-arg", `BASE=${bases.busybox}`, ...cache]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("non-zero code: 3");
      // The COPY layer did go up (the build waits for an early push before it exits), the tag did not.
      expect(accessLog(reg.logFile, from).some((l) => /"PUT \/v2\/early\/fails\/blobs\/uploads\/[^"]*" 201 /.test(l))).toBe(true);
      expect(await new RegistryClient().headManifest(parseReference(dest))).toBeUndefined();
    }
  });

  test("two destinations, with and without the cache: the same image in both", async () => {
    const ctx = context("two", "ARG BASE\nFROM $BASE\nCOPY f.txt /f.txt\nRUN echo ran > /ran\n");
    for (const [i, cache] of [[], ["--cache"]].entries()) {
      const d1 = `${reg.host}/early/two-a:${i}`;
      const d2 = `${reg.host}/early/two-b:${i}`;
      const r = kilnBuild(work, ctx, d1, ["-d", d2, "--build-arg", `BASE=${bases.busybox}`, ...cache]);
      expect(r.code).toBe(0);
      const a = await imageFiles(d1);
      const b = await imageFiles(d2);
      expect(b.digest).toBe(a.digest);
      expect(a.content.get("f.txt")).toBe("two\n");
      expect(a.content.get("ran")).toBe("ran\n");
    }
  });
});
