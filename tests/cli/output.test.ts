// What CI logs and scripts see: a failing RUN exits 1 (as kaniko and docker build do) with the
// command's own code in the message and in the JSON error; RUN output keeps whole lines; and
// `kiln warm` with kaniko's warmer flags fills a cache dir that a build then uses.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { bun, root, run } from "../dist/helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-output-"));
let reg: RegistryHandle;
let busybox: string;
let ctx: string;
beforeAll(async () => {
  reg = await registry();
  busybox = (await baseImages()).busybox;
  ctx = join(tmp, "ctx");
  mkdirSync(ctx);
  // The output arrives in pieces (printf without newline, then the rest after a pause).
  writeFileSync(join(ctx, "Dockerfile"), `FROM ${busybox}\nRUN printf 'one-'; sleep 0.3; printf 'line\\ntwo\\n'; printf 'last'; exit 3\n`);
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const kiln = (...args: string[]) => run(bun, [join(root, "mod.ts"), ...args], { env: { ...process.env, NO_COLOR: "1" } });

describe("a failing RUN", () => {
  test("exits 1, names the line and the command's code, output prefixed per line", async () => {
    const r = await kiln("-c", ctx, "-d", `${reg.host}/output/fail:1`);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split("\n");
    const last = lines.at(-1)!;
    expect(last).toStartWith("kiln: Dockerfile:2: RUN ");
    expect(last).toContain("3");
    const out = lines.filter((l) => /^\[.*\] (one-|two|last|line)/.test(l));
    expect(out.map((l) => l.replace(/^\[[^\]]*\] /, ""))).toEqual(["one-line", "two", "last"]);
    // Nothing pushed.
    expect((await fetch(`http://${reg.host}/v2/output/fail/manifests/1`)).status).toBe(404);
  });

  test("--log-format json: every line is JSON, the last one is the error with both codes", async () => {
    const r = await kiln("-c", ctx, "-d", `${reg.host}/output/fail:2`, "--log-format=json");
    expect(r.code).toBe(1);
    const events = r.err.trim().split("\n").map((l) => JSON.parse(l));
    const err = events.at(-1);
    expect(err).toMatchObject({ level: "error", event: "error", exitCode: 1, commandExitCode: 3 });
    expect(err.msg).toStartWith("Dockerfile:2: RUN ");
    expect(events.filter((e) => e.event === "output").map((e) => e.data)).toEqual(["one-line", "two", "last"]);
  });

  test("--log-format json with an unknown --target: the error is JSON too", async () => {
    const r = await kiln("--log-format=json", "-c", ctx, "--no-push", "--target", "nope");
    expect(r.code).toBe(2);
    const err = JSON.parse(r.err.trim().split("\n").at(-1)!);
    expect(err).toMatchObject({ level: "error", event: "error", exitCode: 2 });
    expect(err.msg).toContain("nope");
  });
});

describe("kiln warm (kaniko's warmer flags)", () => {
  test("-i and -c fill the cache dir, and a build with --cache-dir uses it", async () => {
    const dir = join(tmp, "warm1");
    const r = await run(bun, [join(root, "mod.ts"), "warm", "-i", busybox, "-c", dir, "--customPlatform", `linux/${process.arch === "x64" ? "amd64" : process.arch}`], {});
    expect(r.code).toBe(0);
    expect(r.err).toContain("flag --customPlatform is deprecated, use --custom-platform");
    const blobs = readdirSync(join(dir, "blobs"));
    expect(blobs.length).toBeGreaterThan(0);
    expect(r.out).toContain(`${busybox}@sha256:`);
  });

  test("--dockerfile with --build-arg warms the Dockerfile's base images; --force downloads again", async () => {
    const dir = join(tmp, "warm2");
    writeFileSync(join(tmp, "Warm.Dockerfile"), "ARG BASE\nFROM $BASE AS a\nFROM a\nFROM scratch\n");
    const args = [join(root, "mod.ts"), "warm", "--dockerfile", join(tmp, "Warm.Dockerfile"), "--build-arg", `BASE=${busybox}`, "--cache-dir", dir];
    const r = await run(bun, args, {});
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    const blob = readdirSync(join(dir, "blobs"))[0]!;
    writeFileSync(join(dir, "blobs", blob), "stale");
    expect((await run(bun, [...args, "--force"], {})).code).toBe(0);
    expect(Bun.file(join(dir, "blobs", blob)).size).toBeGreaterThan(5);
  });

  test("no image: a one-line error naming the flag", async () => {
    const r = await run(bun, [join(root, "mod.ts"), "warm", "-c", join(tmp, "warm3")], {});
    expect(r.code).toBe(2);
    expect(r.err).toBe("kiln: flag --image: give at least one image to download (or --dockerfile)\n");
  });
});

describe("--log-format color", () => {
  // `script` gives kiln a terminal; colour is for terminals only, and NO_COLOR turns it off.
  const onTerminal = async (env: Record<string, string>) => {
    requireTool("script", "bsdutils");
    const d = join(tmp, `color-${Object.keys(env).length}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "Dockerfile"), "FROM scratch\nLABEL a=b\n");
    const cmd = `${bun} ${join(root, "mod.ts")} -c ${d} --no-push --use-new-run`;
    const { NO_COLOR: _, ...rest } = process.env;
    return await run("script", ["-qec", cmd, "/dev/null"], { env: { ...rest, ...env } });
  };

  test("coloured on a terminal (the default, as kaniko's)", async () => {
    const r = await onTerminal({});
    expect(r.code).toBe(0);
    expect(r.out).toContain("\x1b[33mWARN \x1b[0mflag --use-new-run has no effect");
  });

  test("plain on a terminal with NO_COLOR", async () => {
    const r = await onTerminal({ NO_COLOR: "1" });
    expect(r.code).toBe(0);
    expect(r.out).toContain("WARN flag --use-new-run has no effect");
    expect(r.out).not.toContain("\x1b[");
  });
});
