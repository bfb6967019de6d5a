// COPY --link keys (planner, pure): BuildKit's rule (docs.docker.com/reference/dockerfile/#copy---link,
// "Benefits of using --link"): the layer is built independently of the layers below, so its cache
// does not chain on them and it is reused when the base changes. The steps after it still depend on
// everything below (kiln's afterLinkKey), so a moved base still invalidates a later RUN.
import { describe, expect, test } from "bun:test";
import { parseDockerfile, planBuild, StageScope } from "../../src/dockerfile/index.ts";
import { baseKey, type LayerShaping, type SourceEntry } from "../../src/cache/key.ts";
import { planSteps } from "../../src/executor/step-plan.ts";
import { KilnError } from "../../src/util/errors.ts";

const BASE_A = "sha256:" + "aa".repeat(32);
const BASE_B = "sha256:" + "bb".repeat(32);
const file = (path: string, digest: string): SourceEntry => ({ path, type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, digest: "sha256:" + digest.repeat(64) });

async function keys(text: string, o: { base?: string; sources?: SourceEntry[]; layers?: LayerShaping; cache?: boolean } = {}) {
  const plan = planBuild(parseDockerfile(text), { buildPlatform: { os: "linux", arch: "amd64" } });
  const st = plan.stages[0]!;
  const scope = new StageScope(plan, st, { env: [] });
  const layers = o.layers ?? { compression: "gzip" };
  const p = await planSteps({
    scope, instructions: st.instructions, start: { config: {}, cmdSetHere: false }, baseKey: baseKey({ manifestDigest: o.base ?? BASE_A }, layers), layers,
    cache: o.cache === false ? undefined : { runLayers: true, copyLayers: true },
    describe: async () => ({ sources: o.sources ?? [file("app.js", "1")] }),
    atLine: async (ins, f) => {
      try {
        return await f();
      } catch (e) {
        throw new KilnError(`Dockerfile:${ins.line}: ${(e as Error).message}`);
      }
    },
  });
  return { steps: p.steps.filter((s) => s.fsStep).map((s) => s.key), final: p.key };
}

const DF = "FROM base\nRUN echo one\nCOPY --link app.js /app/\nRUN echo two\n";

describe("COPY --link keys", () => {
  test("the link step's key ignores the base and the steps below; the steps after it do not", async () => {
    const a = await keys(DF, { base: BASE_A });
    const b = await keys(DF, { base: BASE_B });
    expect(b.steps[0]).not.toBe(a.steps[0]);
    expect(b.steps[1]).toBe(a.steps[1]);
    expect(b.steps[2]).not.toBe(a.steps[2]);
    expect(b.final).not.toBe(a.final);
    const c = await keys(DF.replace("echo one", "echo uno"));
    expect(c.steps[1]).toBe(a.steps[1]);
    expect(c.steps[2]).not.toBe(a.steps[2]);
  });

  test("what the link layer holds changes its key and the keys after it", async () => {
    const a = await keys(DF);
    for (const other of [
      await keys(DF, { sources: [file("app.js", "2")] }),
      await keys(DF.replace("/app/", "/srv/")),
      await keys(DF.replace("--link", "--link --chown=1000:1000")),
      await keys(DF.replace("--link", "--link --chmod=755")),
      await keys(DF.replace("COPY", "WORKDIR /w\nCOPY").replace("/app/", "app/")),
      await keys(DF, { layers: { compression: "zstd" } }),
    ]) {
      expect(other.steps.at(-2)).not.toBe(a.steps[1]);
      expect(other.steps.at(-1)).not.toBe(a.steps[2]);
    }
  });

  test("without --link the COPY chains on the base as before", async () => {
    const plain = DF.replace("--link ", "");
    expect((await keys(plain, { base: BASE_B })).steps[1]).not.toBe((await keys(plain, { base: BASE_A })).steps[1]);
    expect((await keys(plain)).steps[1]).not.toBe((await keys(DF)).steps[1]);
  });

  test("--link with --chown by name is refused at its line (moby/buildkit#7134); ids and root are fine", async () => {
    await expect(keys("FROM base\nCOPY --link --chown=app:app x /x\n")).rejects.toThrow(/^Dockerfile:2: --chown=app:app with --link: "app" is a name/);
    await expect(keys("FROM base\nCOPY --link --chown=1000:staff x /x\n", { cache: false })).rejects.toThrow(/"staff" is a name/);
    await keys("FROM base\nCOPY --link --chown=1000:1000 x /x\nCOPY --link --chown=root x /y\nCOPY --chown=app x /z\n");
  });

  test("a bad --chmod is an error at its line even without the cache (a hit would skip the copy)", async () => {
    await expect(keys("FROM base\n\nCOPY --chmod=u+q x /x\n", { cache: false })).rejects.toThrow(/^Dockerfile:3: --chmod=u\+q: invalid mode/);
    await keys("FROM base\nCOPY --chmod=u=rwx,go=rX x /x\n", { cache: false });
  });
});
