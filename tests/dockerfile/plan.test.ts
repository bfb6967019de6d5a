// Stages, ARG/ENV scoping, --target pruning and typed, expanded instructions.
import { describe, expect, test } from "bun:test";
import {
  parseDockerfile, parseInstructionLine, planBuild, StageScope, type BuildPlan, type Expanded, type PlanOptions,
} from "../../src/dockerfile/index.ts";
import { DockerfileError, KilnError } from "../../src/util/errors.ts";

const AMD64 = { os: "linux", arch: "amd64" };
const plan = (text: string, opts: PlanOptions = {}) =>
  planBuild(parseDockerfile(text), { buildPlatform: AMD64, ...opts });

/** Expand every instruction of every needed stage, chaining FROM <stage>. */
function run(p: BuildPlan, baseEnv: string[] = []): Map<number, { scope: StageScope; out: Expanded[] }> {
  const done = new Map<number, { scope: StageScope; out: Expanded[] }>();
  for (const i of p.order) {
    const st = p.stages[i]!;
    const parent = st.baseStage !== undefined ? done.get(st.baseStage)!.scope : undefined;
    const scope = new StageScope(p, st, parent ?? baseEnv);
    done.set(i, { scope, out: st.instructions.map((ins) => scope.expand(ins)) });
  }
  return done;
}
const only = <K extends Expanded["kind"]>(out: Expanded[], kind: K) =>
  out.filter((e): e is Expanded & { kind: K } => e.kind === kind);

describe("ARG and ENV scoping", () => {
  const text = [
    "ARG TAG=3.19",
    "ARG UNUSED",
    "FROM alpine:${TAG} AS base",
    "RUN echo tag=$TAG",
    "ARG TAG",
    "ENV WHO=stage1 TAG_COPY=$TAG",
    "FROM base AS child",
    "ARG EXTRA=x",
    "WORKDIR /$WHO/$EXTRA/${TAG}",
    "",
  ].join("\n");

  test("global ARGs expand FROM but are only visible in stages that re-declare them", () => {
    const p = plan(text);
    expect(p.stages[0]!.base).toBe("alpine:3.19");
    const res = run(p);
    const [firstRun] = only(res.get(0)!.out, "run");
    expect(firstRun!.buildArgs).toEqual({});
    expect(firstRun!.env).not.toContainEqual(expect.stringMatching(/^TAG=/));
    expect(only(res.get(0)!.out, "env")[0]!.vars).toEqual([["WHO", "stage1"], ["TAG_COPY", "3.19"]]);
  });

  test("a stage built FROM another keeps its ENV and declared ARGs", () => {
    const res = run(plan(text, { buildArgs: { TAG: "edge", EXTRA: "y" } }));
    expect(only(res.get(1)!.out, "workdir")[0]!.path).toBe("/stage1/y/edge");
    expect(res.get(1)!.scope.visibleArgs()).toEqual({ TAG: "edge", EXTRA: "y" });
    expect(res.get(1)!.scope.env()).toContain("TAG_COPY=edge");
  });

  test("ENV overrides ARG; values on one ENV line see the old values", () => {
    const p = plan("FROM a\nARG V=arg\nENV V=env\nRUN x\nENV A=1\nENV A=2 B=$A\n", { buildArgs: { V: "cli" } });
    const out = run(p).get(0)!.out;
    expect(only(out, "run")[0]!.env).toContain("V=env");
    expect(only(out, "env")[2]!.vars).toEqual([["A", "2"], ["B", "1"]]);
  });

  test("base image Env feeds expansion; ARG values stay out of the image Env", () => {
    const p = plan("FROM a\nARG MODE=prod\nWORKDIR $HOME/app\nUSER ${USERNAME:-nobody}\n");
    const scope = new StageScope(p, 0, { env: ["HOME=/home/u"], workdir: "/w" });
    const out = p.stages[0]!.instructions.map((i) => scope.expand(i));
    expect(only(out, "workdir")[0]!.path).toBe("/home/u/app");
    expect(only(out, "user")[0]!.user).toBe("nobody");
    expect(scope.env()).toEqual(["HOME=/home/u", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    expect(scope.buildEnv()).toContain("MODE=prod");
  });

  // Issue 20 item 10: BuildKit's ArgCommand.Expand expands the key as well as the value.
  test("ARG expands variables in its name: ENV src=file3 then ARG ${src}=x declares file3", () => {
    const p = plan("FROM a\nENV src=file3\nARG ${src}=x\nARG ${src}_2\nRUN echo $file3\n", { buildArgs: { file3_2: "cli" } });
    const out = run(p).get(0)!.out;
    expect(only(out, "arg").map((a) => a.args)).toEqual([[{ key: "file3", value: "x" }], [{ key: "file3_2", value: "cli" }]]);
    expect(only(out, "run")[0]!.buildArgs).toEqual({ file3: "x", file3_2: "cli" });
    expect(() => run(plan("FROM a\nARG ${nothing}=1\n"))).toThrow(/ARG names can not be blank/);
  });

  test("predefined platform args and proxy args", () => {
    const p = plan("FROM --platform=$BUILDPLATFORM a\nARG TARGETARCH\nARG TARGETPLATFORM\nRUN x\n", {
      platform: { os: "linux", arch: "arm64" },
      buildArgs: { HTTP_PROXY: "http://proxy:3128" },
    });
    expect(p.stages[0]!.platform).toEqual(AMD64);
    const [r] = only(run(p).get(0)!.out, "run");
    expect(r!.buildArgs).toEqual({ TARGETARCH: "arm64", TARGETPLATFORM: "linux/arm64" });
    expect(r!.proxyEnv).toEqual({ HTTP_PROXY: "http://proxy:3128" });
  });
});

describe("stage graph and --target", () => {
  const text = [
    "FROM golang AS Build",
    "RUN make",
    "FROM alpine AS docs",
    "RUN make docs",
    "FROM build AS test",
    "COPY --from=docs /d /d",
    "FROM scratch",
    "COPY --from=BUILD /bin/app /app",
    "COPY --from=0 /etc/ssl /etc/ssl",
    "COPY --from=busybox:1.36 /bin/sh /bin/sh",
    "",
  ].join("\n");

  test("names are case-insensitive; indexes and image references are told apart", () => {
    const p = plan(text);
    expect(p.stages.map((s) => s.name)).toEqual(["build", "docs", "test", undefined]);
    expect(p.stages[2]!.baseStage).toBe(0);
    expect(p.stages[3]!.scratch).toBe(true);
    expect(p.stages[3]!.dependsOn).toEqual([0]);
    expect(p.stages[3]!.imageRefs).toEqual(["busybox:1.36"]);
    expect(p.target).toBe(3);
    expect(p.order).toEqual([0, 3]);
    const copies = only(run(p).get(3)!.out, "copy");
    expect(copies.map((c) => c.fromRef)).toEqual([{ stage: 0 }, { stage: 0 }, { image: "busybox:1.36" }]);
  });

  // Issue 15: kaniko's --skip-unused-stages=false builds every stage before the target.
  test("skipUnusedStages false keeps every stage up to the target, in file order", () => {
    expect(plan(text, { skipUnusedStages: false }).order).toEqual([0, 1, 2, 3]);
    expect(plan(text, { skipUnusedStages: true }).order).toEqual([0, 3]);
    const p = plan(text + "FROM alpine AS after\nRUN x\n", { target: "test", skipUnusedStages: false });
    expect(p.order).toEqual([0, 1, 2]);
    expect(p.stages.map((s) => s.needed)).toEqual([true, true, true, false, false]);
    expect(plan("FROM a AS x\nFROM b AS y\nFROM c\nCOPY --from=y / /\n", { skipUnusedStages: false }).order).toEqual([0, 1, 2]);
  });

  test("--target keeps only the stages the target needs", () => {
    const p = plan(text, { target: "TEST" });
    expect(p.target).toBe(2);
    expect(p.stages.map((s) => s.needed)).toEqual([true, true, true, false]);
    expect(p.globalArgs.get("TARGETSTAGE")).toBe("test");
    expect(() => plan(text, { target: "nope" })).toThrow(KilnError);
    expect(() => plan(text, { target: "nope" })).toThrow('target stage "nope" could not be found');
  });

  test("references to the current or a later stage are errors at their line", () => {
    expect(() => plan("FROM a AS one\nCOPY --from=one /x /y\n")).toThrow("Dockerfile:2: circular dependency");
    expect(() => plan("FROM a\nCOPY --from=two /x /y\nFROM b AS two\n")).toThrow(
      'Dockerfile:2: cannot copy from stage "two", it needs to be defined before current stage "stage-0"',
    );
    expect(() => plan("FROM a\nCOPY --from=5 /x /y\n")).toThrow("Dockerfile:2: invalid stage index 5");
  });

  test("instruction errors name the line", () => {
    const cases: [string, string][] = [
      ["FROM a\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"],
      ["RUN x\nFROM a\n", "Dockerfile:1: RUN before the first FROM"],
      ["FROM a\nCOPY --bogus=1 a b\n", "Dockerfile:2: unknown flag: bogus"],
      ["FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments"],
      ["FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"],
      ["FROM a AS 1x\n", 'Dockerfile:1: invalid name for build stage: "1x"'],
      ["FROM a\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"],
      ["FROM a\nHEALTHCHECK --interval=1us CMD x\n", 'Dockerfile:2: Interval "interval" cannot be less than 1ms'],
      ["FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"],
      ["ARG X\n", "no stages to build"],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        plan(text);
      } catch (e) {
        err = e;
      }
      expect({ text, err: err instanceof KilnError ? err.message : String(err) }).toEqual({
        text, err: expect.stringContaining(message),
      });
    }
  });

  // Issue 18 item 6a: both were accepted silently.
  test("FROM --platform: a malformed platform or an OS kiln cannot build is an error at its line", () => {
    const cases: [string, string][] = [
      ["FROM a\nFROM --platform=../../x b\n", 'Dockerfile:2: FROM --platform=../../x: invalid platform "../../x": ".." is not a platform component'],
      ["FROM --platform=windows/amd64 a\n", "Dockerfile:1: FROM --platform=windows/amd64: platform windows/amd64: kiln builds Linux images only"],
      ["ARG P=linux/amd65\nFROM --platform=$P a\n", 'Dockerfile:2: FROM --platform=$P: invalid platform "linux/amd65": unknown architecture "amd65"'],
    ];
    for (const [text, message] of cases) expect(() => plan(text)).toThrow(message);
    expect(plan("FROM --platform=linux/aarch64 a\n").stages[0]!.platform).toEqual({ os: "linux", arch: "arm64" });
    expect(plan("FROM --platform=linux/arm a\n").stages[0]!.platform).toEqual({ os: "linux", arch: "arm", variant: "v7" });
  });

  test("expansion errors name the line", () => {
    const p = plan("FROM a\n\nWORKDIR ${NOPE:?is required}\n");
    const scope = new StageScope(p, 0);
    expect(() => scope.expand(p.stages[0]!.instructions[0]!)).toThrow(DockerfileError);
    expect(() => scope.expand(p.stages[0]!.instructions[0]!)).toThrow("Dockerfile:3: failed to process");
  });
});

describe("expanded instructions", () => {
  test("RUN: shell form, SHELL, exec form and heredocs", () => {
    const p = plan([
      "FROM a", "RUN echo $HOME", 'SHELL ["/bin/bash", "-eu", "-c"]', "RUN echo hi", 'RUN ["ls", "$HOME"]',
      "RUN <<EOF", "echo one", "EOF",
      "RUN <<EOF", "#!/usr/bin/env python3", "print(1)", "EOF",
      "RUN python3 <<EOF", "print(2)", "EOF", "",
    ].join("\n"));
    const runs = only(run(p).get(0)!.out, "run");
    expect(runs.map((r) => r.argv)).toEqual([
      ["/bin/sh", "-c", "echo $HOME"],
      ["/bin/bash", "-eu", "-c", "echo hi"],
      ["ls", "$HOME"],
      ["/bin/bash", "-eu", "-c", "echo one\n"],
      ["/dev/pipes/EOF"],
      ["/bin/bash", "-eu", "-c", "python3 <<EOF\nprint(2)\nEOF"],
    ]);
    expect(runs[4]!.files).toEqual([{ path: "/dev/pipes/EOF", data: "#!/usr/bin/env python3\nprint(1)\n", mode: 0o755 }]);
  });

  test("COPY: sources, dest, flags and heredoc bodies", () => {
    const p = plan([
      "FROM a", "ARG U=app", "ENV DIR=/srv",
      'COPY --chown=$U:$U --chmod=0755 --link --exclude=*.md ["a b", "src/$U", "$DIR/"]',
      "COPY <<-EOF <<'RAW' $DIR/", "\tuser=$U \\$x \"q\"", "\tEOF", "$U", "RAW",
      "ADD --checksum=sha256:abc --keep-git-dir https://example.com/x.tgz /x", "",
    ].join("\n"));
    const out = run(p).get(0)!.out;
    const [c1, c2] = only(out, "copy");
    const [add] = only(out, "add");
    expect(c1).toMatchObject({
      kind: "copy", sources: ["a b", "src/app"], dest: "/srv/", chown: "app:app", chmod: "0755", link: true, exclude: ["*.md"],
    });
    expect(c2!.heredocSources).toEqual([{ name: "EOF", data: 'user=app $x "q"\n' }, { name: "RAW", data: "$U\n" }]);
    expect(add).toMatchObject({ kind: "add", checksum: "sha256:abc", keepGitDir: true, sources: ["https://example.com/x.tgz"] });
    // Shell form splits on whitespace before quotes are looked at, as BuildKit does.
    const bad = plan('FROM a\nCOPY "a b" /x\n');
    expect(() => run(bad)).toThrow("Dockerfile:2: failed to process");
  });

  test("HEALTHCHECK durations are nanoseconds; CMD/ENTRYPOINT; EXPOSE; LABEL", () => {
    const p = plan([
      "FROM a", "ENV PORT=8080",
      "HEALTHCHECK --interval=1m30s --timeout=5s --start-period=0s --retries=3 CMD curl -f localhost:$PORT",
      'ENTRYPOINT ["/init"]', "CMD serve --port $PORT", "EXPOSE $PORT 53/UDP 1000-1002", 'LABEL "a b"=$PORT v=1',
      "HEALTHCHECK NONE", "STOPSIGNAL SIGQUIT", "",
    ].join("\n"));
    const out = run(p).get(0)!.out;
    expect(only(out, "healthcheck")[0]!.healthcheck).toEqual({
      test: ["CMD-SHELL", "curl -f localhost:$PORT"], interval: 90e9, timeout: 5e9, startPeriod: 0, startInterval: 0, retries: 3,
    });
    expect(only(out, "healthcheck")[1]!.healthcheck.test).toEqual(["NONE"]);
    expect(only(out, "entrypoint")[0]!.argv).toEqual(["/init"]);
    expect(only(out, "cmd")[0]!.argv).toEqual(["/bin/sh", "-c", "serve --port $PORT"]);
    expect(only(out, "expose")[0]!.ports).toEqual(["8080/tcp", "53/udp", "1000-1002/tcp"]);
    expect(only(out, "label")[0]!.labels).toEqual([["a b", "8080"], ["v", "1"]]);
    expect(only(out, "stopsignal")[0]!.signal).toBe("SIGQUIT");
  });

  test("ONBUILD keeps its trigger text, which parses back into instructions", () => {
    const p = plan("FROM a\nONBUILD COPY <<EOF /x\nhello\nEOF\n");
    const [ob] = only(run(p).get(0)!.out, "onbuild");
    expect(ob!.expression).toBe("COPY <<EOF /x\nhello\nEOF");
    const [trigger] = parseInstructionLine(ob!.expression);
    const child = plan("FROM img\n");
    const scope = new StageScope(child, 0);
    const e = scope.expand(trigger!);
    expect(e).toMatchObject({ kind: "copy", dest: "/x", heredocSources: [{ name: "EOF", data: "hello\n" }] });
    expect(() => parseInstructionLine("ONBUILD RUN x")).toThrow("ONBUILD isn't allowed as an ONBUILD trigger");
  });
});
