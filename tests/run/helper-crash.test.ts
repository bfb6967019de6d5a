// The resident RUN helper killed mid-build (SIGKILL, as the OOM killer would): the build fails at
// once with a clear message, and nothing of it is left: no process (kiln, helper, the command),
// no mount, no temp dir. In each form kiln ships in, since the helper is kiln re-executed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeTree } from "../../src/util/cleanup.ts";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { kilnArgv } from "../hardening/forms.ts";
import { makeContext, startKiln } from "../hardening/proxy.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-helper-crash-"));
let reg: RegistryHandle;
let n = 0;

beforeAll(async () => {
  requireTool("pgrep", "procps");
  reg = await registry();
  await baseImages();
  await kilnArgv("binary");
}, 300_000);
afterAll(() => removeTree(tmp));

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pids whose environment holds `entry` (processes that inherited kiln's environment). */
function pidsWithEnv(entry: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(entry)) out.push(Number(name));
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

const pgrep = (pattern: string) => spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" }).stdout.trim();
const mountsUnder = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.split(" ")[4]?.startsWith(dir));

describe("the resident RUN helper dies mid-RUN", () => {
  test.each(["bun", "deno", "binary"] as const)("the build fails with a clear message and leaves nothing behind (%s)", async (form) => {
    const marker = String(3000 + ++n * 7 + (process.pid % 1000) * 10);
    const ctx = makeContext(join(tmp, `ctx-${n}`), `ARG BASE\nFROM $BASE\nRUN echo started-${marker} && sleep ${marker}\n`);
    const work = join(tmp, `work-${n}`);
    const childTmp = join(tmp, `tmp-${n}`);
    mkdirSync(work, { recursive: true });
    mkdirSync(childTmp, { recursive: true });
    const mark = `KILN_TEST_CRASH_MARK=${marker}`;
    const run = startKiln(
      ["build", "-c", ctx, "-d", `${reg.host}/helper-crash/${form}:1`, "--build-arg", `BASE=${reg.host}/busybox:latest`],
      { KILN_WORKDIR: work, TMPDIR: childTmp, KILN_TEST_CRASH_MARK: marker },
      60_000,
      form,
    );
    let helpers: number[] = [];
    try {
      await until("the RUN command", () => run.output().includes(`started-${marker}`) && pgrep(`sleep ${marker}`) !== "");
      helpers = pidsWithEnv(mark).filter((p) => p !== run.child.pid && readFileSync(`/proc/${p}/environ`, "latin1").split("\0").includes("KILN_RUN_HELPER=1"));
    } catch (e) {
      run.child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; output:\n${run.output()}`);
    }
    // The launcher (kiln's child, helper-launch.ts) and the helper it started as PID 1 of a new PID
    // namespace: the helper is the one whose PID namespace is not ours.
    expect(helpers.length).toBe(2);
    const ours = readlinkSync("/proc/self/ns/pid");
    const inner = helpers.filter((p) => readlinkSync(`/proc/${p}/ns/pid`) !== ours);
    expect(inner.length).toBe(1);
    process.kill(inner[0]!, "SIGKILL");
    const r = await run.done;
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the resident run helper died (SIGKILL) during RUN /bin/sh -c echo started-${marker} && sleep ${marker}`);
    expect(r.ms).toBeLessThan(30_000);
    await until("the build's processes to be gone", () => pidsWithEnv(mark).length === 0 && pgrep(`sleep ${marker}`) === "", 5_000);
    expect(readdirSync(work)).toEqual([]);
    expect(readdirSync(childTmp)).toEqual([]);
    expect(mountsUnder(tmp)).toEqual([]);
  }, 120_000);
});
