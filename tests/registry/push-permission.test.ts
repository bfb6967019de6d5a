// The push-permission check before the build (kaniko's CheckPushPermissions): a wrong or missing
// credential for a destination, or for the cache repo when the cache is written, fails before any
// base image is requested and before any RUN, on a Dockerfile whose build would take minutes.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authRegistry, baseLayouts, registry } from "../env.ts";
import { build } from "../../src/executor/index.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { pushImage } from "../../src/registry/push.ts";
import { buildOptions, recordingLogger, writeContext } from "./build-options.ts";
import { accessLog, logSize } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-permcheck-"));
const savedDockerConfig = process.env.DOCKER_CONFIG;
afterEach(() => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A DOCKER_CONFIG directory with these auths, made the process's own for the test. */
function useDockerConfig(name: string, auths: Record<string, { username: string; password: string }>): void {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const entries = Object.fromEntries(Object.entries(auths).map(([h, c]) => [h, { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") }]));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: entries }));
  process.env.DOCKER_CONFIG = dir;
}

describe("push-permission check", async () => {
  const reg = await registry();
  const auth = await authRegistry();
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  // The base lives in a repository of its own on the plain registry, so its access log tells
  // whether the build asked for it.
  const base = parseReference(`${reg.host}/permcheck/base:latest`);
  await pushImage(new RegistryClient(), img, base);
  const slow = writeContext(join(tmp, "slow"), `FROM ${base}\nRUN echo started-the-slow-step && sleep 600\n`);
  const quick = writeContext(join(tmp, "quick"), `FROM ${base}\nCOPY f.txt /f.txt\n`, { "f.txt": "x\n" });
  const wrong = { username: auth.username!, password: "wrong-password-Zq81" };
  const right = { username: auth.username!, password: auth.password! };
  const baseRequests = (from: number) => accessLog(reg.logFile, from).filter((l) => l.includes("/v2/permcheck/base/"));

  /** Build, expecting a failure; returns its message, the log lines, and the base requests made. */
  async function failing(ctx: string, o: Partial<BuildOptions>) {
    const from = logSize(reg.logFile);
    const { log, lines } = recordingLogger();
    let message = "";
    await build(buildOptions({ context: ctx, ...o }), log).then(
      () => (message = "(the build succeeded)"),
      (e: Error) => (message = e.message),
    );
    return { message, lines, base: baseRequests(from) };
  }

  test("a wrong password for the destination fails before any pull and before the RUN", async () => {
    useDockerConfig("wrong", { [auth.host]: wrong });
    const dest = `${auth.host}/permcheck/app:1`;
    const r = await failing(slow, { destinations: [dest] });
    expect(r.message).toMatch(new RegExp(`^cannot push to ${auth.host.replace(/\./g, "\\.")}/permcheck/app: unauthorized: registry ${auth.host.replace(/\./g, "\\.")}: .*credentials kiln found were rejected`));
    expect(r.message).not.toContain(wrong.password);
    expect(r.lines.join("\n")).not.toContain(wrong.password);
    expect(r.base).toEqual([]);
    expect(r.lines.join("\n")).not.toContain("started-the-slow-step");
  });

  test("a missing credential says where kiln looked", async () => {
    useDockerConfig("empty", {});
    const r = await failing(slow, { destinations: [`${auth.host}/permcheck/app:1`] });
    expect(r.message).toContain(`no credentials for ${auth.host} in ${join(tmp, "empty", "config.json")}`);
    expect(r.base).toEqual([]);
  });

  test("any destination is checked, not just the first", async () => {
    useDockerConfig("wrong2", { [auth.host]: wrong });
    const r = await failing(slow, { destinations: [`${reg.host}/permcheck/ok:1`, `${auth.host}/permcheck/app:2`] });
    expect(r.message).toMatch(/^cannot push to .*permcheck\/app: unauthorized/);
    expect(r.base).toEqual([]);
    expect(await new RegistryClient().headManifest(parseReference(`${reg.host}/permcheck/ok:1`))).toBeUndefined();
  });

  test("the cache repo is checked when the cache is written", async () => {
    useDockerConfig("cache", { [auth.host]: wrong });
    const r = await failing(slow, { destinations: [`${reg.host}/permcheck/cached:1`], cache: true, cacheRepo: `${auth.host}/permcheck/cache` });
    expect(r.message).toMatch(/^cannot push to .*permcheck\/cache: unauthorized/);
    expect(r.base).toEqual([]);
  });

  test("--no-push-cache: the cache repo is only read, so it is not checked", async () => {
    useDockerConfig("readonly-cache", { [auth.host]: wrong });
    const dest = parseReference(`${reg.host}/permcheck/readonly:1`);
    const { log } = recordingLogger();
    const res = await build(buildOptions({ context: quick, destinations: [dest.toString()], cache: true, noPushCache: true, cacheRepo: `${auth.host}/permcheck/cache` }), log);
    expect((await new RegistryClient().headManifest(dest))?.digest).toBe(res.digest);
  });

  test("--skip-push-permission-check: the build runs and the push itself fails", async () => {
    useDockerConfig("skip", { [auth.host]: wrong });
    const r = await failing(quick, { destinations: [`${auth.host}/permcheck/app:3`], skipPushPermissionCheck: true });
    expect(r.message).toMatch(/unauthorized: registry .*credentials kiln found were rejected/);
    expect(r.message).not.toMatch(/^cannot push to/);
    expect(r.base.length).toBeGreaterThan(0);
  });

  test("the right password passes the check and the build pushes", async () => {
    useDockerConfig("right", { [auth.host]: right });
    const dest = parseReference(`${auth.host}/permcheck/app:4`);
    const { log } = recordingLogger();
    const res = await build(buildOptions({ context: quick, destinations: [dest.toString()] }), log);
    const client = new RegistryClient({ credentials: async () => ({ kind: "basic", ...right }) });
    expect((await client.headManifest(dest))?.digest).toBe(res.digest);
  });
});
