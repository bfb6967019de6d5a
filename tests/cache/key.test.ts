// Cache keys: the documented encoding (golden vectors), stability, and what changes a key.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDockerfile, planBuild, StageScope, type ExpandedCopy, type ExpandedRun, type PlanOptions } from "../../src/dockerfile/index.ts";
import { baseKey, CACHE_KEY_VERSION, IGNORED_FIELDS, KEY_FIELDS, stepKey, type SourceEntry, type StepKeyInput } from "../../src/cache/key.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { layerShapingFlags, planSteps } from "../../src/executor/step-plan.ts";

const hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const DOC = readFileSync(join(import.meta.dir, "../../docs/cache.md"), "utf8");
const BASE = "sha256:" + "ab".repeat(32);

// Literal encodings copied from docs/cache.md ("Golden vectors"), hashed here independently of the encoder.
const GOLDEN_SCRATCH = "m73:6:layers,m23:11:compression,s4:gzip,,7:scratch,T1:v,s16:kiln-cache-key/2,,";
const GOLDEN_RUN =
  "m300:6:config,m30:4:user,s3:app,7:workdir,s2:/w,,3:env,l20:s3:B=2,s9:PATH=/bin,,11:instruction,m101:4:argv,l28:s7:/bin/sh,s2:-c,s7:echo hi,,7:devices,l0:,5:files,l0:,4:json,F4:kind,s3:run,6:mounts,l0:,,6:parent,s64:90e36f862ef94903e7c207763e7b129588968ae8803d400e7fb1dd66f43f3c1a,1:v,s16:kiln-cache-key/2,,";
const GOLDEN_COPY =
  "m526:6:config,m16:7:workdir,s2:/w,,11:instruction,m119:4:dest,s4:/app,7:exclude,l0:,14:heredocSources,l0:,10:keepGitDir,F4:kind,s4:copy,4:link,F7:parents,F7:sources,l5:s1:.,,,6:parent,s64:d5e1b163c7b36abe5a050ac614abf502621fb2ab09cbadae056b9a9def8984ac,7:sources,l237:m148:6:digest,s71:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,3:gid,i1:0,4:mode,i3:420,4:path,s1:a,4:type,s4:file,3:uid,i1:0,,m78:3:gid,i1:0,4:link,s1:a,4:mode,i3:511,4:path,s1:b,4:type,s7:symlink,3:uid,i1:0,,,1:v,s16:kiln-cache-key/2,,";

function runIns(argv: string[], env: string[] = []): ExpandedRun {
  return {
    kind: "run", line: 3, endLine: 3, original: "RUN echo hi", json: false, args: [argv.at(-1)!], argv, heredocs: [], files: [], mounts: [], mountFrom: [],
    devices: [], env, buildArgs: {}, proxyEnv: {},
  };
}
function copyIns(over: Partial<ExpandedCopy> = {}): ExpandedCopy {
  return { kind: "copy", line: 4, endLine: 4, original: "COPY . /app", sources: ["."], heredocSources: [], dest: "/app", link: false, parents: false, exclude: [], keepGitDir: false, ...over };
}
const ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // sha256("abc")
const srcA = (): SourceEntry => ({ path: "a", type: "file", mode: 0o100644, uid: 0, gid: 0, size: 3, digest: ABC, mtime: 5 });
const srcB = (): SourceEntry => ({ path: "b", type: "symlink", mode: 0o120777, uid: 0, gid: 0, size: 1, link: "a" });

describe("golden vectors (docs/cache.md)", () => {
  test("scratch, RUN, COPY", () => {
    expect(CACHE_KEY_VERSION).toBe("kiln-cache-key/2");
    const k0 = hex(GOLDEN_SCRATCH);
    expect(k0).toBe("90e36f862ef94903e7c207763e7b129588968ae8803d400e7fb1dd66f43f3c1a");
    expect(baseKey({ scratch: true }, { compression: "gzip" })).toBe(k0);
    const k1 = hex(GOLDEN_RUN);
    expect(k1).toBe("d5e1b163c7b36abe5a050ac614abf502621fb2ab09cbadae056b9a9def8984ac");
    expect(stepKey({ parent: k0, instruction: runIns(["/bin/sh", "-c", "echo hi"], ["PATH=/bin", "B=2"]), env: ["PATH=/bin", "B=2"], config: { user: "app", workdir: "/w" } })).toBe(k1);
    const k2 = hex(GOLDEN_COPY);
    expect(k2).toBe("9c46a1f463e9d7a5e5a3e2eb980565cefedbe5d19c3511aabfcf7872d9095d2d");
    // COPY reads no USER: the "app" given here is left out of its record.
    expect(stepKey({ parent: k1, instruction: copyIns(), config: { user: "app", workdir: "/w" }, sources: [srcB(), srcA()] })).toBe(k2);
    for (const s of [GOLDEN_SCRATCH, GOLDEN_RUN, GOLDEN_COPY, k0, k1, k2]) expect(DOC).toContain(s);
  });
});

describe("stepKey", () => {
  const k0 = baseKey({ manifestDigest: BASE });
  const base = (): StepKeyInput => ({ parent: k0, instruction: copyIns(), config: { workdir: "/w" }, sources: [srcA(), srcB()] });
  const key = (f: (i: StepKeyInput) => void = () => {}) => {
    const i = base();
    f(i);
    return stepKey(i);
  };

  test("same inputs, same key; positions, raw text, mtime, size and source order do not count", () => {
    expect(key()).toBe(key());
    expect(key()).toMatch(/^[0-9a-f]{64}$/);
    expect(key((i) => (i.instruction = { ...copyIns(), line: 9, endLine: 12, original: "COPY  .  /app" }))).toBe(key());
    expect(key((i) => (i.sources = [srcB(), { ...srcA(), mtime: 999, size: 4096 }]))).toBe(key());
  });

  test("every input changes it", () => {
    const k = key();
    const variants: [string, (i: StepKeyInput) => void][] = [
      ["parent", (i) => (i.parent = baseKey({ scratch: true }))],
      ["dest", (i) => (i.instruction = copyIns({ dest: "/app2" }))],
      ["chown", (i) => (i.instruction = copyIns({ chown: "1:1" }))],
      ["kind", (i) => (i.instruction = { ...copyIns(), kind: "add" })],
      ["workdir", (i) => (i.config.workdir = "/x")],
      ["rename", (i) => (i.sources = [{ ...srcA(), path: "a2" }, srcB()])],
      ["chmod", (i) => (i.sources = [{ ...srcA(), mode: 0o100755 }, srcB()])],
      ["chown of a source", (i) => (i.sources = [{ ...srcA(), uid: 1000 }, srcB()])],
      ["content", (i) => (i.sources = [{ ...srcA(), digest: "sha256:" + "00".repeat(32) }, srcB()])],
      ["link target", (i) => (i.sources = [srcA(), { ...srcB(), link: "c" }])],
      ["new file", (i) => (i.sources = [srcA(), srcB(), { ...srcA(), path: "c" }])],
      ["hard link", (i) => (i.sources = [srcA(), srcB(), { ...srcA(), path: "c", hardlink: "a" }])],
      ["--from image", (i) => (i.fromImageDigest = "sha256:" + "ef".repeat(32))],
    ];
    const seen = new Set([k]);
    for (const [name, f] of variants) {
      const v = key(f);
      expect(seen.has(v), name).toBe(false);
      seen.add(v);
    }
  });

  test("RUN: env counts (sorted), proxy variables do not", () => {
    const run = (env: string[], proxy: Record<string, string> = {}) =>
      stepKey({ parent: k0, instruction: { ...runIns(["/bin/sh", "-c", "make"], env), proxyEnv: proxy }, env, config: {} });
    expect(run(["A=1", "B=2"])).toBe(run(["B=2", "A=1"]));
    expect(run(["A=1", "B=2"])).not.toBe(run(["A=1", "B=3"]));
    expect(run(["A=1"], { http_proxy: "http://p:3128" })).toBe(run(["A=1"]));
    expect(stepKey({ parent: k0, instruction: runIns(["/bin/sh", "-c", "make install"]), config: {} })).not.toBe(run([]));
  });

  test("a malformed parent is refused", () => {
    expect(() => stepKey({ ...base(), parent: "sha256:" + "ab".repeat(32) })).toThrow(/64 lowercase hex/);
    expect(() => baseKey({ manifestDigest: "latest" })).toThrow();
  });
});

describe("keys of a real Dockerfile (as the planner computes them)", () => {
  /** Plan stage 0 with the cache on (no COPY sources); returns kind, key, runEnv per step. */
  async function keys(text: string, opts: PlanOptions = {}) {
    const plan = planBuild(parseDockerfile(text), { buildPlatform: { os: "linux", arch: "amd64" }, ...opts });
    const st = plan.stages[0]!;
    const scope = new StageScope(plan, st, { env: ["PATH=/usr/bin:/bin"] });
    const p = await planSteps({
      scope, instructions: st.instructions, start: { config: { Env: ["PATH=/usr/bin:/bin"] }, cmdSetHere: false }, baseKey: baseKey({ manifestDigest: BASE }), layers: {},
      cache: { runLayers: true, copyLayers: true }, describe: async () => ({ sources: [] }), atLine: (_i, f) => f(),
    });
    return p.steps.map((s) => ({ kind: s.x.kind, key: s.key, x: s.x, runEnv: s.runEnv }));
  }
  const last = async (text: string, opts?: PlanOptions) => (await keys(text, opts)).at(-1)!.key;

  test("an expanded $VAR in a COPY destination or WORKDIR counts", async () => {
    expect(await last("FROM b\nARG D=/a\nCOPY x $D\n")).not.toBe(await last("FROM b\nARG D=/b\nCOPY x $D\n"));
    expect(await last("FROM b\nARG D=/a\nCOPY x $D\n")).toBe(await last("FROM b\nARG D=/a\nCOPY x /a\n"));
    expect(await last("FROM b\nARG W=/a\nWORKDIR $W\nCOPY x y\n")).not.toBe(await last("FROM b\nARG W=/b\nWORKDIR $W\nCOPY x y\n"));
  });

  test("declaring an ARG changes a later RUN's key only when the RUN sees a value", async () => {
    const plain = await last("FROM b\nRUN make\n");
    expect(await last("FROM b\nARG V\nRUN make\n")).toBe(plain);
    expect(await last("FROM b\nARG V=1\nRUN make\n")).not.toBe(plain);
    expect(await last("FROM b\nARG V\nRUN make\n", { buildArgs: { V: "1" } })).not.toBe(plain);
    expect(await last("FROM b\nARG V=1\nRUN make\n", { buildArgs: { V: "2" } })).not.toBe(await last("FROM b\nARG V=1\nRUN make\n"));
    // A --build-arg that no ARG declares is not seen.
    expect(await last("FROM b\nRUN make\n", { buildArgs: { V: "1" } })).toBe(plain);
    // The ARG step itself keeps its parent's key, so it never breaks a chain.
    const ks = await keys("FROM b\nRUN a\nARG V\nRUN b\n");
    expect(ks[1]!.key).toBe(ks[0]!.key);
  });

  test("issue 20 item 6: proxy build args reach the RUN's environment, never its key", async () => {
    const proxied = await keys("FROM b\nRUN make\n", { buildArgs: { http_proxy: "http://p:3128", NO_PROXY: "x" } });
    expect(proxied[0]!.key).toBe(await last("FROM b\nRUN make\n"));
    expect(proxied[0]!.runEnv).toEqual(["PATH=/usr/bin:/bin", "http_proxy=http://p:3128", "NO_PROXY=x"]);
  });

  test("issue 20 item 7: each step is keyed on what it reads, not on metadata it cannot see", async () => {
    // LABEL, EXPOSE, CMD… are read by no later step.
    expect(await last("FROM b\nLABEL a=1\nEXPOSE 80\nCMD x\nRUN make\n")).toBe(await last("FROM b\nRUN make\n"));
    // USER: RUN and WORKDIR read it; COPY without --chown does not (its files are 0:0 either way).
    expect(await last("FROM b\nUSER nobody\nRUN make\n")).not.toBe(await last("FROM b\nRUN make\n"));
    expect(await last("FROM b\nUSER nobody\nWORKDIR /w\n")).not.toBe(await last("FROM b\nWORKDIR /w\n"));
    expect(await last("FROM b\nUSER nobody\nCOPY a /a\n")).toBe(await last("FROM b\nCOPY a /a\n"));
    expect(await last("FROM b\nUSER nobody\nCOPY --chown=app a /a\n")).not.toBe(await last("FROM b\nUSER nobody\nCOPY a /a\n"));
    // ENV: a RUN sees it in its environment, a COPY only through what it expands.
    expect(await last("FROM b\nENV A=1\nRUN make\n")).not.toBe(await last("FROM b\nENV A=2\nRUN make\n"));
    expect(await last("FROM b\nENV A=1\nCOPY a /a\n")).toBe(await last("FROM b\nENV A=2\nCOPY a /a\n"));
    expect(await last("FROM b\n\n\n# comment\nRUN   make\n")).toBe(await last("FROM b\nRUN make\n"));
  });

  test("every field of a filesystem step is either in the key or deliberately left out", async () => {
    const text = [
      "FROM b", "ARG A=1", "ENV E=2", "LABEL l=v", "WORKDIR /w", "USER u", "EXPOSE 80", "VOLUME /v", "SHELL [\"/bin/sh\", \"-c\"]",
      "RUN --network=none echo hi", "RUN <<EOF\n#!/bin/sh\necho x\nEOF", "COPY --chown=1:1 --chmod=644 a b /d/", "ADD --checksum=sha256:" + "ab".repeat(32) + " https://e.x/f /f",
      "COPY <<EOT /h\nhello\nEOT", "CMD [\"x\"]", "ENTRYPOINT y", "HEALTHCHECK --interval=5s CMD true", "STOPSIGNAL SIGTERM", "ONBUILD RUN x", "MAINTAINER m",
    ].join("\n");
    const all = new Set<string>();
    for (const { kind, x } of await keys(text)) {
      if (!(kind in KEY_FIELDS)) continue; // metadata: no key of its own
      all.add(kind);
      const fields = KEY_FIELDS[kind as keyof typeof KEY_FIELDS];
      for (const f of Object.keys(x)) expect(`${kind}.${f}`).toBe(fields.includes(f) || IGNORED_FIELDS.includes(f) ? `${kind}.${f}` : `${kind}.${f} (unclassified)`);
    }
    expect([...all].sort()).toEqual(Object.keys(KEY_FIELDS).sort()); // the Dockerfile covers every filesystem kind
  });
});

describe("issue 20 items 1-3: every layer-shaping flag is in the base key", () => {
  const opts = (o: Partial<BuildOptions> = {}) => ({ compression: "gzip", ignorePaths: [], reproducible: false, snapshotMode: "auto", ...o }) as BuildOptions;
  const k = (o: Partial<BuildOptions> = {}) => baseKey({ manifestDigest: BASE }, layerShapingFlags(opts(o)));
  test("each flag changes it; spelling and order of paths do not", () => {
    const seen = new Set([k()]);
    for (const o of [{ ignorePaths: ["/ign"] }, { reproducible: true }, { compression: "zstd" }, { compressionLevel: 9 }, { ignoreVarRun: false }] as Partial<BuildOptions>[]) {
      const v = k(o);
      expect(seen.has(v), JSON.stringify(o)).toBe(false);
      seen.add(v);
    }
    expect(k({ ignorePaths: ["/a", "/b/"] })).toBe(k({ ignorePaths: ["b", "/a", "/a"] }));
    // The two snapshotters write the same layers, so "auto" resolving to either shares the cache.
    expect(k({ snapshotMode: "walk" })).toBe(k());
    expect(k({ snapshotMode: "overlay" })).toBe(k());
    const before = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = "1700000000";
    const withEpoch = k({ reproducible: true });
    if (before === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = before;
    expect(withEpoch).not.toBe(k({ reproducible: true }));
  });
});
