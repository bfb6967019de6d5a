// Hostile layers: nothing may be written, linked or removed outside the rootfs. A canary
// directory next to the rootfs (and referenced by absolute host paths) must stay untouched.
// Every case runs on Bun (in this process) and on Deno (a child running the same applyLayer).
import { describe, expect, test, beforeAll, beforeEach, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import { applyLayer } from "../../src/fs/unpack.ts";
import { KilnError } from "../../src/util/errors.ts";
import { captureTree, diffTrees } from "./tree.ts";
import { tarOf, type TarEntrySpec as E } from "../hardening/tar-of.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-hostile-`);
fs.chmodSync(work, 0o755);
const rootfs = `${work}/rootfs`;
const canary = `${work}/canary`;
const scratch = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-hostile-tars-`);
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});


const DENO = `${import.meta.dir}/../../node_modules/.bin/deno`;
const DENO_FIXTURE = `${import.meta.dir}/../hardening/fixtures/apply-archive.ts`;
let runtime: "bun" | "deno" = "bun";

async function apply(entries: E[]): Promise<{ error?: unknown; warnings: string[] }> {
  const tar = await tarOf(entries);
  const warnings: string[] = [];
  if (runtime === "deno") {
    const file = `${scratch}/layer.tar`;
    fs.writeFileSync(file, tar);
    const r = spawnSync(DENO, ["run", "-A", DENO_FIXTURE, "layer", rootfs, scratch, file], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`deno fixture exited ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { error?: { kiln: boolean; message: string } };
    return { error: out.error ? (out.error.kiln ? new KilnError(out.error.message) : new Error(out.error.message)) : undefined, warnings };
  }
  try {
    await applyLayer(rootfs, (async function* () { yield tar; })(), {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      source: "sha256:hostile",
      onWarning: (m) => warnings.push(m),
    });
    return { warnings };
  } catch (error) {
    return { error, warnings };
  }
}

let canaryBefore: ReturnType<typeof captureTree>;
beforeEach(() => {
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.rmSync(canary, { recursive: true, force: true });
  fs.mkdirSync(rootfs);
  fs.mkdirSync(`${rootfs}/etc`);
  fs.mkdirSync(canary);
  fs.writeFileSync(`${canary}/secret`, "do not touch");
  fs.mkdirSync(`${canary}/sub`);
  canaryBefore = captureTree(canary, { mtimes: true });
});

function expectCanaryUntouched(): void {
  expect(diffTrees(canaryBefore, captureTree(canary, { mtimes: true }))).toEqual([]);
  expect(fs.readdirSync(work).sort()).toEqual(["canary", "rootfs"]);
}

function expectKilnError(r: { error?: unknown }, pattern: RegExp): void {
  expect(r.error).toBeInstanceOf(KilnError);
  expect((r.error as Error).message).toMatch(/sha256:hostile/);
  expect((r.error as Error).message).toMatch(pattern);
}

// Absolute host path of the canary, as a hostile symlink target: inside the rootfs it must mean
// <rootfs>/<that path>, never the host's.
const abs = () => canary;
const up = () => "../".repeat(12) + canary.slice(1);

for (const rt of ["bun", "deno"] as const) {
  describe(`hostile layers stay inside the rootfs (${rt})`, () => {
    beforeAll(() => {
      runtime = rt;
    });

    test("../../x is refused", async () => {
      const r = await apply([{ name: "../../canary/secret", body: "pwned" }]);
      expectKilnError(r, /climbs out of the rootfs/);
      expectCanaryUntouched();
    });

    test("a/../../x is refused", async () => {
      const r = await apply([{ name: "etc/../../canary/new", body: "pwned" }]);
      expectKilnError(r, /climbs out/);
      expectCanaryUntouched();
    });

    test("absolute names land inside the rootfs", async () => {
      const r = await apply([{ name: `${canary}/secret`, body: "inside" }, { name: "/etc/x", body: "x" }]);
      expect(r.error).toBeUndefined();
      expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("inside");
      expect(fs.readFileSync(`${rootfs}/etc/x`, "utf8")).toBe("x");
      expectCanaryUntouched();
    });

    test("symlink to an absolute dir, then a file through it", async () => {
      const r = await apply([
        { name: "a", type: "symlink", linkname: abs() },
        { name: "a/secret", body: "pwned" },
        { name: "a/sub/deeper", body: "pwned" },
      ]);
      expect(r.error).toBeUndefined();
      expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("pwned");
      expect(fs.readFileSync(`${rootfs}${canary}/sub/deeper`, "utf8")).toBe("pwned");
      expectCanaryUntouched();
    });

    test("symlink climbing with ../ is clamped at the rootfs", async () => {
      const r = await apply([
        { name: "etc/up", type: "symlink", linkname: up() },
        { name: "etc/up/secret", body: "pwned" },
      ]);
      expect(r.error).toBeUndefined();
      expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("pwned");
      expectCanaryUntouched();
    });

    test("symlink chains resolve inside the rootfs", async () => {
      const r = await apply([
        { name: "c", type: "symlink", linkname: abs() },
        { name: "b", type: "symlink", linkname: "c" },
        { name: "etc/a", type: "symlink", linkname: "../b/sub" },
        { name: "etc/a/secret", body: "pwned" },
      ]);
      expect(r.error).toBeUndefined();
      expect(fs.readFileSync(`${rootfs}${canary}/sub/secret`, "utf8")).toBe("pwned");
      expectCanaryUntouched();
    });

    test("symlink loops fail", async () => {
      const r = await apply([
        { name: "x", type: "symlink", linkname: "y" },
        { name: "y", type: "symlink", linkname: "/x" },
        { name: "x/file", body: "pwned" },
      ]);
      expectKilnError(r, /too many levels of symlinks/);
      expectCanaryUntouched();
    });

    test("a file entry replaces a symlink instead of writing through it", async () => {
      fs.symlinkSync(`${canary}/secret`, `${rootfs}/etc/passwd`);
      const r = await apply([{ name: "etc/passwd", body: "root:x:0:0" }]);
      expect(r.error).toBeUndefined();
      expect(fs.lstatSync(`${rootfs}/etc/passwd`).isFile()).toBe(true);
      expectCanaryUntouched();
    });

    test("a directory entry replaces a symlink; chmod does not follow it", async () => {
      fs.symlinkSync(canary, `${rootfs}/etc/d`);
      const r = await apply([{ name: "etc/d", type: "dir", mode: 0o777 }]);
      expect(r.error).toBeUndefined();
      expect(fs.lstatSync(`${rootfs}/etc/d`).isDirectory()).toBe(true);
      expectCanaryUntouched();
    });

    test("hardlink to /etc/shadow links the rootfs's file, or fails when absent", async () => {
      const missing = await apply([{ name: "stolen", type: "hardlink", linkname: "/etc/shadow" }]);
      expectKilnError(missing, /target does not exist in the rootfs/);
      fs.writeFileSync(`${rootfs}/etc/shadow`, "root:!:");
      const r = await apply([{ name: "stolen", type: "hardlink", linkname: "/etc/shadow" }]);
      expect(r.error).toBeUndefined();
      expect(fs.statSync(`${rootfs}/stolen`).ino).toBe(fs.statSync(`${rootfs}/etc/shadow`).ino);
      expectCanaryUntouched();
    });

    test("hardlink through a hostile symlink cannot reach the host file", async () => {
      const r = await apply([
        { name: "s", type: "symlink", linkname: abs() },
        { name: "h", type: "hardlink", linkname: "s/secret" },
      ]);
      expectKilnError(r, /does not exist/);
      expectCanaryUntouched();
    });

    test("hardlink with ../ is refused", async () => {
      const r = await apply([{ name: "h", type: "hardlink", linkname: "../canary/secret" }]);
      expectKilnError(r, /climbs out/);
      expectCanaryUntouched();
    });

    test("whiteout ../.wh.x is refused", async () => {
      const r = await apply([{ name: "../.wh.canary" }]);
      expectKilnError(r, /climbs out/);
      expectCanaryUntouched();
    });

    test("whiteouts and opaque markers through a hostile symlink stay inside", async () => {
      const r = await apply([
        { name: "s", type: "symlink", linkname: abs() },
        { name: "s/.wh.secret" },
        { name: "s/sub/.wh..wh..opq" },
        { name: "t", type: "symlink", linkname: up() },
        { name: "t/.wh..wh..opq" },
      ]);
      expect(r.error).toBeUndefined();
      expectCanaryUntouched();
    });

    test("device nodes as non-root are skipped with a warning", () => {
      const tarFile = `${scratch}/dev.tar`;
      fs.chmodSync(scratch, 0o755);
      return tarOf([
        { name: "dev", type: "dir", mode: 0o755 },
        { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
        { name: "dev/sda", type: "block", mode: 0o660, devmajor: 8, devminor: 0 },
        { name: "dev/ok", body: "fine" },
      ]).then((tar) => {
        fs.writeFileSync(tarFile, tar);
        fs.chownSync(rootfs, 65534, 65534);
        const fixture = `${import.meta.dir}/fixtures/apply-tar.ts`;
        const cmd = rt === "bun" ? [process.execPath, fixture] : [DENO, "run", "-A", fixture];
        const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...cmd, rootfs, tarFile], { encoding: "utf8" });
        if (r.error) throw new Error(`setpriv (util-linux) is required: apt-get install util-linux (${r.error.message})`);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const warnings: string[] = JSON.parse(r.stdout);
        expect(warnings.length).toBe(2);
        expect(warnings[0]).toMatch(/skipping char device "dev\/null": EPERM/);
        expect(fs.existsSync(`${rootfs}/dev/null`)).toBe(false);
        expect(fs.readFileSync(`${rootfs}/dev/ok`, "utf8")).toBe("fine");
        expectCanaryUntouched();
      });
    });

    test("device nodes as root are created", async () => {
      const r = await apply([
        { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
        { name: "dev/fifo", type: "fifo", mode: 0o600 },
      ]);
      expect(r.error).toBeUndefined();
      expect(fs.lstatSync(`${rootfs}/dev/null`).isCharacterDevice()).toBe(true);
      expect(fs.lstatSync(`${rootfs}/dev/null`).rdev).toBe(fs.lstatSync("/dev/null").rdev);
      expect(fs.lstatSync(`${rootfs}/dev/fifo`).isFIFO()).toBe(true);
    });
  });
}
