// Two kiln builds at the same time into one destination repository (and one cache repository):
// they upload the same blobs, mount the same base layer and write the same cache tags at once.
// Both must succeed, and both images must be complete and right. The two builds run in different
// forms of kiln (Bun, Deno, the compiled binary), which must share a repository and cache too.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { makeContext, skopeoRun, startKiln } from "./proxy.ts";
import { kilnArgv, type Form } from "./forms.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-concurrency-"));
let reg: RegistryHandle;
let base: string;

beforeAll(async () => {
  requireTool("skopeo", "skopeo");
  reg = await registry();
  base = (await baseImages()).busybox;
  await kilnArgv("binary");
}, 300_000);

const FORMS_OF_ROUND: Record<number, [Form, Form]> = { 1: ["bun", "deno"], 2: ["binary", "deno"] };
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Same shared file (same COPY layer in both), then a layer of its own per build.
const dockerfile = (who: string) => `ARG BASE\nFROM $BASE\nCOPY shared.bin /shared.bin\nRUN echo ${who} > /who && head -c 300000 /dev/urandom > /own\nCMD ["cat", "/who"]\n`;
const shared = "s".repeat(200_000) + "\n";

test.each([1, 2])("round %d: two builds into one repository at once both succeed with complete images", async (round) => {
  const repo = `${reg.host}/concurrency/app`;
  const builds = ["a", "b"].map((who, i) => {
    const ctx = makeContext(join(tmp, `ctx-${round}-${who}`), dockerfile(who), { "shared.bin": shared });
    const digestFile = join(tmp, `digest-${round}-${who}`);
    const dest = `${repo}:${who}`;
    const run = startKiln(["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${base}`, "--digest-file", digestFile, "--cache"], { KILN_WORKDIR: join(tmp, "work") }, 120_000, FORMS_OF_ROUND[round]![i]);
    return { who, dest, digestFile, run };
  });
  const results = await Promise.all(builds.map((b) => b.run.done));
  for (const [i, b] of builds.entries()) {
    const r = results[i]!;
    if (r.code !== 0) console.log(r.err);
    expect(r.code).toBe(0);
    if (round === 2) expect(r.err).toMatch(/cache: 2 of 2 steps were hits/); // round 1 filled the shared cache
    const inspect = skopeoRun("inspect", "--tls-verify=false", `docker://${b.dest}`);
    expect(inspect.code).toBe(0);
    const info = JSON.parse(inspect.out) as { Digest: string; Layers: string[] };
    expect(info.Digest).toBe(readFileSync(b.digestFile, "utf8"));
    expect(info.Layers.length).toBe(3);
    const cfg = JSON.parse(skopeoRun("inspect", "--config", "--tls-verify=false", `docker://${b.dest}`).out);
    expect(cfg.config.Cmd).toEqual(["cat", "/who"]);
    // Every blob is in the repository and matches its digest (skopeo verifies as it copies).
    const copy = skopeoRun("copy", "--src-tls-verify=false", `docker://${b.dest}`, `dir:${join(tmp, `copy-${round}-${b.who}`)}`);
    expect(copy.err).toBe("");
    expect(copy.code).toBe(0);
  }
  // The shared COPY layer is one blob; the RUN layers differ.
  const [la, lb] = builds.map((b) => (JSON.parse(skopeoRun("inspect", "--tls-verify=false", `docker://${b.dest}`).out) as { Layers: string[] }).Layers);
  expect(la![1]).toBe(lb![1]);
  expect(la![2]).not.toBe(lb![2]);
});
