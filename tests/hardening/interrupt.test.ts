// Ctrl-C and SIGTERM during a real `kiln build`, in each phase: while pulling the base (the
// proxy stalls), while a RUN command runs, while snapshotting, and while pushing (the proxy
// stalls the upload). Afterwards: exit 130/143, no process of the RUN left, the workspace and
// temp dirs gone, no mounts left, nothing pushed; and a second build then succeeds.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { accessLog, logSize } from "../registry/helpers.ts";
import { removeTree } from "../../src/util/cleanup.ts";
import { makeContext, skopeoRun, startFaultProxy, startKiln, type FaultProxy, type KilnRun } from "./proxy.ts";
import { kilnArgv } from "./forms.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-interrupt-"));
// Per run: KILN_WORKDIR (where the build's workspace lives) and TMPDIR (the runner's temp dirs).
const dirsOf = (i: number | string) => ({ work: join(tmp, `work-${i}`), childTmp: join(tmp, `tmp-${i}`) });
let reg: RegistryHandle;
let proxy: FaultProxy;
let n = 0;

beforeAll(async () => {
  requireTool("skopeo", "skopeo");
  requireTool("pgrep", "procps");
  reg = await registry();
  await baseImages();
  proxy = await startFaultProxy(reg.host);
  await kilnArgv("binary");
}, 300_000);

afterAll(() => {
  proxy?.close();
  removeTree(tmp); // detaches mounts a failed run may have left

});

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pgrep = (pattern: string) => spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" }).stdout.trim();
const mountsUnder = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.split(" ")[4]?.startsWith(dir));

interface Scenario {
  dockerfile: (marker: string) => string;
  extra?: string[];
  /** Set up faults; resolves when the build is where the signal should hit it. */
  reach: (run: KilnRun, marker: string) => Promise<void>;
}

const SCENARIOS: Record<string, Scenario> = {
  pull: {
    dockerfile: () => "ARG BASE\nFROM $BASE\nRUN true\n",
    reach: async () => {
      proxy.add({ method: "GET", path: /^\/v2\/busybox\/blobs\//, fault: { kind: "stall" } });
      await until("the stalled base pull", () => proxy.log.some((l) => l.outcome === "fault stall"));
    },
  },
  RUN: {
    dockerfile: (m) => `ARG BASE\nFROM $BASE\nRUN echo started-${m} && sleep ${m}\n`,
    reach: async (run, m) => {
      await until("the RUN command", () => run.output().includes(`started-${m}`) && pgrep(`sleep ${m}`) !== "");
    },
  },
  "RUN (overlay snapshots)": {
    dockerfile: (m) => `ARG BASE\nFROM $BASE\nRUN echo one > /one\nRUN echo started-${m} && sleep ${m}\n`,
    extra: ["--snapshot-mode", "overlay"],
    reach: async (run, m) => {
      await until("the RUN command", () => run.output().includes(`started-${m}`) && pgrep(`sleep ${m}`) !== "");
    },
  },
  snapshot: {
    // Best effort: signalled just after the command ended, while its 150 MB are being compressed.
    dockerfile: (m) => `ARG BASE\nFROM $BASE\nRUN head -c 150000000 /dev/urandom > /big && mkdir /many && cd /many && seq 1 3000 | xargs touch && echo made-${m}\n`,
    reach: async (run, m) => {
      await until("the end of the RUN command", () => run.output().includes(`made-${m}`));
      await new Promise((r) => setTimeout(r, 300));
    },
  },
  push: {
    dockerfile: (m) => `ARG BASE\nFROM $BASE\nRUN echo ${m} > /m\n`,
    reach: async () => {
      proxy.add({ method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "stall" } });
      await until("the stalled upload", () => proxy.log.some((l) => l.outcome === "fault stall"));
    },
  },
};

const CASES = [["SIGINT", 130, "bun"], ["SIGTERM", 143, "bun"]] as const;
describe.each(Object.keys(SCENARIOS))("interrupted during %s", (phase) => {
  // Deno's signal handling differs from Bun's, and the compiled binary is its own process image:
  // one signal per phase in each of them too.
  const other = phase === "push" || phase === "snapshot" ? (["SIGTERM", 143] as const) : (["SIGINT", 130] as const);
  const cases = [...CASES, [...other, "deno"] as const, [...other, "binary"] as const];
  test.each(cases)("%s: exit %d, nothing left behind, nothing pushed (%s)", async (sig, code, runtime) => {
    const s = SCENARIOS[phase]!;
    const marker = String(1000 + ++n * 7 + (process.pid % 1000) * 10);
    const ctx = makeContext(join(tmp, `ctx-${n}`), s.dockerfile(marker));
    const { work, childTmp } = dirsOf(n);
    mkdirSync(childTmp, { recursive: true });
    const name = `interrupt/${phase.split(" ")[0]!.toLowerCase()}-${sig.toLowerCase()}-${runtime}`;
    const dest = `${proxy.host}/${name}:1`;
    proxy.reset();
    const logFrom = logSize(reg.logFile);
    const run = startKiln(
      ["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${proxy.host}/busybox:latest`, "--insecure-registry", proxy.host, ...(s.extra ?? [])],
      { KILN_WORKDIR: work, TMPDIR: childTmp, KILN_REGISTRY_TIMEOUT_MS: "60000" },
      60_000,
      runtime,
    );
    try {
      await s.reach(run, marker);
    } catch (e) {
      run.child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; output:\n${run.output()}`);
    }
    run.child.kill(sig);
    const r = await run.done;
    proxy.reset();
    expect(r.signal).toBeNull(); // kiln exited by itself, not killed by the test's bound
    expect(r.code).toBe(code);
    if (phase === "snapshot") expect(r.err).not.toMatch(/STEP 1\/1 done/); // it did not get past the snapshot
    expect(r.ms).toBeLessThan(30_000);
    expect(pgrep(`sleep ${marker}`)).toBe("");
    expect(readdirSync(work)).toEqual([]);
    expect(readdirSync(childTmp)).toEqual([]);
    expect(mountsUnder(tmp)).toEqual([]);
    expect(skopeoRun("inspect", "--tls-verify=false", `docker://${reg.host}/${name}:1`).code).not.toBe(0);
    expect(accessLog(reg.logFile, logFrom).filter((l) => l.includes(`/v2/${name}/manifests/`) && /"PUT /.test(l))).toEqual([]);
  });
});

test("a build after the interruptions succeeds, in the same work dir", async () => {
  const ctx = makeContext(join(tmp, "ctx-after"), "ARG BASE\nFROM $BASE\nRUN echo fine > /fine\n");
  const { work, childTmp } = dirsOf(1); // the first interrupted build's dirs
  expect(readdirSync(work)).toEqual([]);
  const dest = `${reg.host}/interrupt/after:1`;
  const r = await startKiln(["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${reg.host}/busybox:latest`, "--snapshot-mode", "overlay"], { KILN_WORKDIR: work, TMPDIR: childTmp }).done;
  expect(r.err).toContain("pushed");
  expect(r.code).toBe(0);
  expect(skopeoRun("inspect", "--tls-verify=false", `docker://${dest}`).code).toBe(0);
  expect(readdirSync(work)).toEqual([]);
});
