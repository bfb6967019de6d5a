// The mount planner without a build: host paths, defaults and errors of planRunMounts, and the
// cache-mount directory's placement and sharing modes (BuildKit's reference: "sharing: shared,
// private or locked. private creates a new mount if there are multiple writers. locked pauses the
// second writer until the first one releases the mount").
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IgnoreMatcher } from "../../src/dockerfile/dockerignore.ts";
import type { ExpandedRun } from "../../src/dockerfile/index.ts";
import { cacheMountRoot, planRunMounts, type MountContext } from "../../src/executor/run-mounts.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-mount-plan-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ctxDir = join(tmp, "ctx");
mkdirSync(join(ctxDir, "sub"), { recursive: true });
writeFileSync(join(ctxDir, "sub", "f"), "x");
const stageDir = join(tmp, "stage");
mkdirSync(join(stageDir, "out"), { recursive: true });

function run(mounts: string[], extra: Partial<ExpandedRun> = {}): ExpandedRun {
  return {
    kind: "run", line: 2, endLine: 2, original: "RUN x", json: false, args: ["x"], argv: ["/bin/sh", "-c", "x"], heredocs: [], files: [],
    mounts, mountFrom: [], devices: [], env: ["WHERE=/from-arg"], buildArgs: {}, proxyEnv: {}, ...extra,
  };
}

function mc(over: Partial<MountContext> = {}): MountContext {
  return { contextDir: ctxDir, cwd: "/work", rootOf: async () => stageDir, opts: { cacheMountDir: join(tmp, "cm") }, scratch: tmp, warn: () => {}, ...over };
}

describe("planRunMounts", () => {
  test("relative targets are below WORKDIR; bind sources resolve in the context or the stage; variables expand", async () => {
    const p = await planRunMounts(run(["source=sub,target=rel", "type=bind,from=st,source=/out,target=$WHERE"], { mountFrom: [{ stage: 0 }] }), mc());
    expect(p.mounts).toEqual([
      { kind: "bind", source: join(ctxDir, "sub"), target: "/work/rel", readonly: true, discardWrites: false },
      { kind: "bind", source: join(stageDir, "out"), target: "/from-arg", readonly: true, discardWrites: false },
    ]);
    p.release();
  });

  test("a bind of the context shows what COPY sees: .dockerignore'd files are left out, an ignored source is an error", async () => {
    writeFileSync(join(ctxDir, "sub", "ignored.log"), "no");
    const ignore = IgnoreMatcher.fromText("*/*.log\nhidden\n");
    const p = await planRunMounts(run(["target=/src"]), mc({ ignore }));
    const src = (p.mounts[0] as { source: string }).source;
    expect(src).not.toBe(ctxDir);
    expect(readdirSync(join(src, "sub")).sort()).toEqual(["f"]);
    p.release();
    expect(() => statSync(src)).toThrow();
    const untouched = await planRunMounts(run(["source=sub/f,target=/f"]), mc({ ignore }));
    expect((untouched.mounts[0] as { source: string }).source).toBe(join(ctxDir, "sub", "f"));
    mkdirSync(join(ctxDir, "hidden"), { recursive: true });
    await expect(planRunMounts(run(["source=hidden,target=/h"]), mc({ ignore }))).rejects.toThrow("RUN --mount: source hidden is excluded by .dockerignore");
    rmSync(join(ctxDir, "sub", "ignored.log"));
  });

  test("a bind source that does not exist names it and where it was looked for", async () => {
    await expect(planRunMounts(run(["source=nope,target=/x"]), mc())).rejects.toThrow("RUN --mount: source nope not found in the build context");
  });

  test("cache: one directory per id under the cache-mount root, created with mode/uid/gid", async () => {
    const p = await planRunMounts(run(["type=cache,target=/c,id=planned,mode=0710,uid=7,gid=8"]), mc());
    const dir = (p.mounts[0] as { source: string }).source;
    expect(dir.startsWith(join(tmp, "cm") + "/")).toBe(true);
    const st = statSync(dir);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o710, 7, 8]);
    p.release();
    const again = await planRunMounts(run(["type=cache,target=/elsewhere,id=planned"]), mc());
    expect((again.mounts[0] as { source: string }).source).toBe(dir);
    again.release();
  });

  test("sharing=private gets a throwaway directory while the cache is held; locked waits for the release", async () => {
    const held = await planRunMounts(run(["type=cache,target=/c,id=shared-one,sharing=locked"]), mc());
    const heldDir = (held.mounts[0] as { source: string }).source;
    const priv = await planRunMounts(run(["type=cache,target=/c,id=shared-one,sharing=private"]), mc());
    const privDir = (priv.mounts[0] as { source: string }).source;
    expect(privDir).not.toBe(heldDir);
    priv.release();
    expect(() => statSync(privDir)).toThrow();
    let waited = false;
    const second = planRunMounts(run(["type=cache,target=/c,id=shared-one,sharing=locked"]), mc()).then((p) => {
      waited = true;
      return p;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(waited).toBe(false);
    held.release();
    const p2 = await second;
    expect((p2.mounts[0] as { source: string }).source).toBe(heldDir);
    p2.release();
  });

  test("secrets and ssh: optional ones missing are skipped, required ones are errors naming them", async () => {
    const p = await planRunMounts(run(["type=secret,id=none", "type=ssh"]), mc());
    expect(p.mounts).toEqual([]);
    await expect(planRunMounts(run(["type=secret,id=tok,required"]), mc())).rejects.toThrow(`secret "tok" is required but not given (use --secret id=tok,src=FILE or --secret id=tok,env=VAR)`);
    await expect(planRunMounts(run(["type=ssh,required=true"]), mc())).rejects.toThrow(`ssh agent "default" is required but not given (use --ssh default=$SSH_AUTH_SOCK)`);
  });

  test("--network and --security", async () => {
    expect((await planRunMounts(run([], { network: "none" }), mc())).network).toBe("none");
    await expect(planRunMounts(run([], { security: "insecure" }), mc())).rejects.toThrow("pass --allow security.insecure");
    expect((await planRunMounts(run([], { security: "insecure" }), mc({ opts: { allow: ["security.insecure"] } }))).mounts).toEqual([]);
  });
});

describe("cacheMountRoot", () => {
  test("flag, then KILN_CACHE_MOUNT_DIR, then /var/cache/kiln/mounts for root", () => {
    const saved = process.env.KILN_CACHE_MOUNT_DIR;
    try {
      process.env.KILN_CACHE_MOUNT_DIR = "/env/dir";
      expect(cacheMountRoot({ cacheMountDir: "/flag/dir" })).toBe("/flag/dir");
      expect(cacheMountRoot({})).toBe("/env/dir");
      delete process.env.KILN_CACHE_MOUNT_DIR;
      if (process.getuid?.() === 0) expect(cacheMountRoot({})).toBe("/var/cache/kiln/mounts");
      else expect(cacheMountRoot({})).toMatch(/\/kiln\/mounts$/);
    } finally {
      if (saved === undefined) delete process.env.KILN_CACHE_MOUNT_DIR;
      else process.env.KILN_CACHE_MOUNT_DIR = saved;
    }
  });
});
