// kiln build end to end through the CLI, against the real local registry: outputs accepted by
// skopeo, the same build on Deno and from the compiled binary, and clear failures that push nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";

const root = join(import.meta.dir, "..", "..");
const bin = (n: string) => join(root, "node_modules", ".bin", n);
const tmp = mkdtempSync(join(tmpdir(), "kiln-e2e-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let busybox: string;
beforeAll(async () => {
  requireTool("skopeo", "skopeo");
  reg = await registry();
  busybox = (await baseImages()).busybox;
});

type Runner = "bun" | "deno" | "compiled";
let compiled: string | undefined;
function kiln(runner: Runner, args: string[], cwd = root) {
  let cmd: string[];
  if (runner === "bun") cmd = [bin("bun"), join(root, "mod.ts"), ...args];
  else if (runner === "deno") cmd = [bin("deno"), "run", "-A", join(root, "mod.ts"), ...args];
  else {
    if (!compiled) {
      compiled = join(tmp, "kiln");
      const c = spawnSync(bin("bun"), ["scripts/compile.ts", "--outfile", compiled], { cwd: root, encoding: "utf8" });
      if (c.status !== 0) throw new Error(`compile failed: ${c.stderr}`);
    }
    cmd = [compiled, ...args];
  }
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return dir;
}

function skopeo(args: string[]) {
  const r = spawnSync("skopeo", args, { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const SIMPLE = `ARG BASE
FROM $BASE
COPY hello.txt /hello.txt
RUN echo built-by-$0 > /by.txt && cat /hello.txt
ENV A=1
CMD ["cat", "/hello.txt"]
`;

describe.each(["bun", "deno", "compiled"] as const)("kiln build on %s", (runner) => {
  test("pushes an image skopeo accepts, plus a docker-archive tarball and digest file", () => {
    const ctx = context(`simple-${runner}`, SIMPLE, { "hello.txt": `hello ${runner}\n` });
    const dest = `${reg.host}/e2e/${runner}:v1`;
    const tar = join(tmp, `${runner}.tar`);
    const digestFile = join(tmp, `${runner}.digest`);
    const r = kiln(runner, ["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${busybox}`, "--tar-path", tar, "--digest-file", digestFile]);
    expect(r.err).toContain(`hello ${runner}`); // RUN output is streamed
    expect(r.code).toBe(0);
    const digest = readFileSync(digestFile, "utf8");
    const inspect = skopeo(["inspect", "--tls-verify=false", `docker://${dest}`]);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.out).Digest).toBe(digest);
    const cfg = JSON.parse(skopeo(["inspect", "--config", "--tls-verify=false", `docker://${dest}`]).out);
    expect(cfg.config.Cmd).toEqual(["cat", "/hello.txt"]);
    expect(cfg.config.Env).toContain("A=1");
    expect(cfg.rootfs.diff_ids.length).toBe(3); // base + COPY + RUN
    const archive = skopeo(["inspect", `docker-archive:${tar}`]);
    expect(archive.code).toBe(0);
    expect(JSON.parse(archive.out).Layers.length).toBe(3);
  });
});

describe("failures are one clear line and push nothing", () => {
  function failing(name: string, dockerfile: string, extra: string[] = []) {
    const ctx = context(`fail-${name}`, dockerfile, { "present.txt": "x" });
    const dest = `${reg.host}/e2e/fail-${name}:v1`;
    const r = kiln("bun", ["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${busybox}`, ...extra]);
    const pushed = skopeo(["inspect", "--tls-verify=false", `docker://${dest}`]);
    expect(pushed.code).not.toBe(0); // nothing under that name
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    return r;
  }

  test("a failing RUN exits 1 (as kaniko and docker build) and names the line and its code", () => {
    const r = failing("run", `ARG BASE\nFROM $BASE\nRUN echo before\nRUN exit 42\n`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("Dockerfile:4: RUN exit 42: the command returned a non-zero code: 42");
  });

  test("a missing COPY source names the line and the file", () => {
    const r = failing("copy", `ARG BASE\nFROM $BASE\nCOPY missing.txt /x\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Dockerfile:3: .*missing\.txt.*not found/);
  });

  test("an unknown stage in COPY --from (not a valid image name either)", () => {
    const r = failing("stage", `ARG BASE\nFROM $BASE\nCOPY --from=No_Such_Stage /x /x\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Dockerfile:3: .*No_Such_Stage/);
  });

  test("an unreachable registry names the reference and the line", () => {
    const r = failing("unreachable", `FROM 127.0.0.1:1/nothing/here:latest\nRUN true\n`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("Dockerfile:1:");
    expect(r.err).toContain("127.0.0.1:1/nothing/here");
  });

  test("an --target naming no stage", () => {
    const r = failing("target", `ARG BASE\nFROM $BASE AS a\nRUN true\n`, ["--target", "b"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/target.*b/i);
  });
});

test("--single-snapshot: one layer for the stage, with every step's changes", async () => {
  const ctx = context("single", `ARG BASE\nFROM $BASE\nRUN echo a > /a\nCOPY hello.txt /h\nRUN rm /a && echo b > /b\n`, { "hello.txt": "hi\n" });
  const dest = `${reg.host}/e2e/single:1`;
  const r = kiln("bun", ["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${busybox}`, "--single-snapshot"]);
  expect(r.code).toBe(0);
  const cfg = JSON.parse(skopeo(["inspect", "--config", "--tls-verify=false", `docker://${dest}`]).out);
  expect(cfg.rootfs.diff_ids.length).toBe(2); // base + the stage's one layer
  const { imageFiles } = await import("./image-files.ts");
  const img = await imageFiles(dest);
  expect(img.content.get("b")).toBe("b\n");
  expect(img.content.get("h")).toBe("hi\n");
  expect(img.files.has("a")).toBe(false);
});
