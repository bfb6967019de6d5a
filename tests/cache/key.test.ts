// Cache keys: the documented encoding (golden vectors), stability, and what changes a key.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDockerfile, planBuild, StageScope, type Expanded, type ExpandedCopy, type ExpandedRun, type PlanOptions } from "../../src/dockerfile/index.ts";
import { baseKey, CACHE_KEY_VERSION, IGNORED_FIELDS, KEY_FIELDS, stepKey, type SourceEntry, type StepKeyInput } from "../../src/cache/key.ts";

const hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const DOC = readFileSync(join(import.meta.dir, "../../docs/cache.md"), "utf8");
const BASE = "sha256:" + "ab".repeat(32);

// Literal encodings copied from docs/cache.md ("Golden vectors"), hashed here independently of the encoder.
const GOLDEN_SCRATCH = "m36:7:scratch,T1:v,s16:kiln-cache-key/1,,";
const GOLDEN_RUN =
  "m300:6:config,m30:4:user,s3:app,7:workdir,s2:/w,,3:env,l20:s3:B=2,s9:PATH=/bin,,11:instruction,m101:4:argv,l28:s7:/bin/sh,s2:-c,s7:echo hi,,7:devices,l0:,5:files,l0:,4:json,F4:kind,s3:run,6:mounts,l0:,,6:parent,s64:26779d07b8f1378a93c5188f420e9e64e07e142bbe1fb41aacae5865fa115f50,1:v,s16:kiln-cache-key/1,,";
const GOLDEN_COPY =
  "m540:6:config,m30:4:user,s3:app,7:workdir,s2:/w,,11:instruction,m119:4:dest,s4:/app,7:exclude,l0:,14:heredocSources,l0:,10:keepGitDir,F4:kind,s4:copy,4:link,F7:parents,F7:sources,l5:s1:.,,,6:parent,s64:1e1a0636452e42853d3d396e0fdc5d28dc9003cb3840c2e3b522c4ecf7a61053,7:sources,l237:m148:6:digest,s71:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,3:gid,i1:0,4:mode,i3:420,4:path,s1:a,4:type,s4:file,3:uid,i1:0,,m78:3:gid,i1:0,4:link,s1:a,4:mode,i3:511,4:path,s1:b,4:type,s7:symlink,3:uid,i1:0,,,1:v,s16:kiln-cache-key/1,,";

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
    expect(CACHE_KEY_VERSION).toBe("kiln-cache-key/1");
    const k0 = hex(GOLDEN_SCRATCH);
    expect(k0).toBe("26779d07b8f1378a93c5188f420e9e64e07e142bbe1fb41aacae5865fa115f50");
    expect(baseKey({ scratch: true })).toBe(k0);
    const k1 = hex(GOLDEN_RUN);
    expect(stepKey({ parent: k0, instruction: runIns(["/bin/sh", "-c", "echo hi"], ["PATH=/bin", "B=2"]), env: ["PATH=/bin", "B=2"], config: { user: "app", workdir: "/w" } })).toBe(k1);
    const k2 = hex(GOLDEN_COPY);
    expect(stepKey({ parent: k1, instruction: copyIns(), config: { user: "app", workdir: "/w" }, sources: [srcB(), srcA()] })).toBe(k2);
    for (const s of [GOLDEN_SCRATCH, GOLDEN_RUN, GOLDEN_COPY, k0, k1, k2]) expect(DOC).toContain(s);
  });
});

describe("stepKey", () => {
  const k0 = baseKey({ manifestDigest: BASE });
  const base = (): StepKeyInput => ({ parent: k0, instruction: copyIns(), config: { user: "u", workdir: "/w", shell: ["/bin/sh", "-c"] }, sources: [srcA(), srcB()] });
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
      ["user", (i) => (i.config.user = "root")],
      ["workdir", (i) => (i.config.workdir = "/x")],
      ["shell", (i) => (i.config.shell = ["/bin/bash", "-c"])],
      ["rename", (i) => (i.sources = [{ ...srcA(), path: "a2" }, srcB()])],
      ["chmod", (i) => (i.sources = [{ ...srcA(), mode: 0o100755 }, srcB()])],
      ["chown of a source", (i) => (i.sources = [{ ...srcA(), uid: 1000 }, srcB()])],
      ["content", (i) => (i.sources = [{ ...srcA(), digest: "sha256:" + "00".repeat(32) }, srcB()])],
      ["link target", (i) => (i.sources = [srcA(), { ...srcB(), link: "c" }])],
      ["new file", (i) => (i.sources = [srcA(), srcB(), { ...srcA(), path: "c" }])],
      ["--from stage", (i) => (i.fromStageKey = "cd".repeat(32))],
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

describe("keys of a real Dockerfile (as the executor computes them)", () => {
  /** Expand stage 0 and chain keys; returns "kind:key" per step. */
  function keys(text: string, opts: PlanOptions = {}): { kind: string; key: string; x: Expanded }[] {
    const plan = planBuild(parseDockerfile(text), { buildPlatform: { os: "linux", arch: "amd64" }, ...opts });
    const st = plan.stages[0]!;
    const scope = new StageScope(plan, st, { env: ["PATH=/usr/bin:/bin"] });
    let parent = baseKey({ manifestDigest: BASE });
    let user: string | undefined;
    const out = [];
    for (const ins of st.instructions) {
      const config = { user, workdir: scope.workdir, shell: scope.shell };
      const x = scope.expand(ins);
      parent = stepKey({ parent, instruction: x, env: x.kind === "run" ? x.env : undefined, config });
      if (x.kind === "user") user = x.user;
      out.push({ kind: x.kind, key: parent, x });
    }
    return out;
  }
  const last = (text: string, opts?: PlanOptions) => keys(text, opts).at(-1)!.key;

  test("an expanded $VAR in a COPY destination or WORKDIR counts", () => {
    expect(last("FROM b\nARG D=/a\nCOPY x $D\n")).not.toBe(last("FROM b\nARG D=/b\nCOPY x $D\n"));
    expect(last("FROM b\nARG D=/a\nCOPY x $D\n")).toBe(last("FROM b\nARG D=/a\nCOPY x /a\n"));
    expect(last("FROM b\nARG W=/a\nWORKDIR $W\nCOPY x y\n")).not.toBe(last("FROM b\nARG W=/b\nWORKDIR $W\nCOPY x y\n"));
  });

  test("declaring an ARG changes a later RUN's key only when the RUN sees a value", () => {
    const plain = last("FROM b\nRUN make\n");
    expect(last("FROM b\nARG V\nRUN make\n")).toBe(plain);
    expect(last("FROM b\nARG V=1\nRUN make\n")).not.toBe(plain);
    expect(last("FROM b\nARG V\nRUN make\n", { buildArgs: { V: "1" } })).not.toBe(plain);
    expect(last("FROM b\nARG V=1\nRUN make\n", { buildArgs: { V: "2" } })).not.toBe(last("FROM b\nARG V=1\nRUN make\n"));
    // A --build-arg that no ARG declares is not seen; proxy args reach RUN but not the key.
    expect(last("FROM b\nRUN make\n", { buildArgs: { V: "1", http_proxy: "http://p" } })).toBe(plain);
    // The ARG step itself keeps its parent's key, so it never breaks a chain.
    const ks = keys("FROM b\nRUN a\nARG V\nRUN b\n");
    expect(ks[1]!.key).toBe(ks[0]!.key);
  });

  test("metadata steps chain; line numbers do not", () => {
    expect(last("FROM b\nENV A=1\nRUN make\n")).not.toBe(last("FROM b\nENV A=2\nRUN make\n"));
    expect(last("FROM b\nLABEL a=1\nRUN make\n")).not.toBe(last("FROM b\nRUN make\n"));
    expect(last("FROM b\nUSER nobody\nRUN make\n")).not.toBe(last("FROM b\nRUN make\n"));
    expect(last("FROM b\n\n\n# comment\nRUN   make\n")).toBe(last("FROM b\nRUN make\n"));
  });

  test("every field of an expanded instruction is either in the key or deliberately left out", () => {
    const text = [
      "FROM b", "ARG A=1", "ENV E=2", "LABEL l=v", "WORKDIR /w", "USER u", "EXPOSE 80", "VOLUME /v", "SHELL [\"/bin/sh\", \"-c\"]",
      "RUN --network=none echo hi", "RUN <<EOF\n#!/bin/sh\necho x\nEOF", "COPY --chown=1:1 --chmod=644 a b /d/", "ADD --checksum=sha256:" + "ab".repeat(32) + " https://e.x/f /f",
      "COPY <<EOT /h\nhello\nEOT", "CMD [\"x\"]", "ENTRYPOINT y", "HEALTHCHECK --interval=5s CMD true", "STOPSIGNAL SIGTERM", "ONBUILD RUN x", "MAINTAINER m",
    ].join("\n");
    const all = new Set<string>();
    for (const { kind, x } of keys(text)) {
      all.add(kind);
      if (kind === "arg") continue; // no key of its own
      for (const f of Object.keys(x)) expect(`${kind}.${f}`).toBe(KEY_FIELDS[kind as Expanded["kind"]].includes(f) || IGNORED_FIELDS.includes(f) ? `${kind}.${f}` : `${kind}.${f} (unclassified)`);
    }
    expect([...all].sort()).toEqual(Object.keys(KEY_FIELDS).sort()); // the Dockerfile covers every kind
  });
});
