// binfmt_misc detection (fake /proc/sys/fs/binfmt_misc trees in the kernel's own text format) and,
// where the machine allows, a real arm64 busybox run in a chroot under QEMU with the F flag.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkEmulation, elfArchitecture, elfHeaderFor, explainExecFailure, handlerMatches, isExecFormatError, parseBinfmtEntry, readBinfmt, requireEmulation, runsNatively } from "../../src/run/binfmt.ts";
import { runInRootfs } from "../../src/run/index.ts";
import type { Platform } from "../../src/image/types.ts";
import { cachedLayer, foreignPlatform } from "../../scripts/base-images.ts";
import { exec, unpackLayer } from "../env/helpers.ts";
import { ensureEmulation, registerLine } from "./binfmt-env.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-binfmt-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64" }; // containerd's normal form (arm64/v8 == arm64)
// Debian qemu-user-static's aarch64 entry as the kernel prints it (update-binfmts registers it so).
const QEMU_AARCH64 = (flags: string, state = "enabled") =>
  `${state}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: ${flags}\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n`;

let n = 0;
/** A fake binfmt_misc directory: status plus the given entries. */
function fakeBinfmt(status: "enabled" | "disabled", entries: Record<string, string> = {}): string {
  const dir = join(tmp, `binfmt-${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "status"), `${status}\n`);
  writeFileSync(join(dir, "register"), "");
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("binfmt_misc entries and ELF headers", () => {
  test("parses an entry as the kernel prints it", () => {
    const h = parseBinfmtEntry("qemu-aarch64", QEMU_AARCH64("POCF"));
    expect(h).toMatchObject({ name: "qemu-aarch64", enabled: true, interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", flags: "POCF", offset: 0 });
    expect([...h.magic!.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    expect(h.mask!.length).toBe(20);
    const ext = parseBinfmtEntry("jar", "disabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n");
    expect(ext).toMatchObject({ enabled: false, extension: ".jar", flags: "" });
    expect(handlerMatches(ext, elfHeaderFor(ARM64)!)).toBe(false);
  });

  test("ELF headers: QEMU's aarch64 magic matches arm64 static and PIE headers, not amd64 or arm", () => {
    const h = parseBinfmtEntry("qemu-aarch64", QEMU_AARCH64("F"));
    expect(handlerMatches(h, elfHeaderFor(ARM64, 2)!)).toBe(true);
    expect(handlerMatches(h, elfHeaderFor(ARM64, 3)!)).toBe(true);
    expect(handlerMatches(h, elfHeaderFor(AMD64)!)).toBe(false);
    expect(handlerMatches(h, elfHeaderFor({ os: "linux", architecture: "arm", variant: "v7" })!)).toBe(false);
    for (const architecture of ["amd64", "386", "arm64", "arm", "ppc64le", "s390x", "riscv64"]) {
      expect(elfArchitecture(elfHeaderFor({ os: "linux", architecture })!)?.architecture).toBe(architecture);
    }
    expect(elfHeaderFor({ os: "linux", architecture: "sparc64" })).toBeUndefined();
    expect(elfArchitecture(new TextEncoder().encode("#!/bin/sh\necho not an ELF file\n"))).toBeUndefined();
  });

  test("the downloaded arm64 busybox-static has the header kiln builds for arm64", async () => {
    const root = await arm64Rootfs();
    const real = Bun.file(join(root, "bin/busybox"));
    const head = new Uint8Array(await real.slice(0, 64).arrayBuffer());
    expect(elfArchitecture(head)).toEqual(ARM64);
    expect(handlerMatches(parseBinfmtEntry("q", QEMU_AARCH64("F")), head)).toBe(true);
  });

  test("native architectures need no handler", () => {
    expect(runsNatively(AMD64, AMD64)).toBe(true);
    expect(runsNatively({ os: "linux", architecture: "386" }, AMD64)).toBe(true);
    expect(runsNatively(ARM64, AMD64)).toBe(false);
    expect(runsNatively({ os: "linux", architecture: "arm64" }, ARM64)).toBe(true);
    expect(checkEmulation(AMD64, { host: AMD64, dir: join(tmp, "nowhere") })).toEqual({ ok: true, native: true });
  });
});

const QEMU_CONF = "/usr/lib/binfmt.d/qemu-aarch64.conf";
if (!existsSync(QEMU_CONF)) console.log(`skipping the register-line test: ${QEMU_CONF} missing (apt-get install qemu-user-static)`);
// Skipped (with the printed reason) only where Debian's qemu-user-static is not installed;
// scripts/install-deps installs it, so CI runs it.
test.skipIf(!existsSync(QEMU_CONF))("the tests' fallback register line has Debian qemu-user-static's magic and mask", () => {
  const conf = QEMU_CONF;
  const debian = readFileSync(conf, "utf8").trim().split(":");
  const mine = registerLine("qemu-aarch64", elfHeaderFor(ARM64)!, "/usr/bin/qemu-aarch64-static").split(":");
  expect(mine.slice(0, 6)).toEqual(debian.slice(0, 6)); // "", name, M, offset, magic, mask
  expect(mine[7]).toBe("F");
});

describe("checkEmulation: one line that says how to fix it", () => {
  const check = (dir: string) => checkEmulation(ARM64, { dir, host: AMD64 });

  test("binfmt_misc not mounted", () => {
    const c = check(join(tmp, "not-mounted"));
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.reason).toBe("not-mounted");
    expect(c.message).toContain("mount -t binfmt_misc binfmt_misc");
    expect(c.message).toContain("update-binfmts --enable qemu-aarch64");
    expect(c.message).not.toContain("\n");
  });

  test("switched off, no handler, handler disabled, handler without F", () => {
    const cases: [string, Record<string, string>, "enabled" | "disabled", string, string][] = [
      ["disabled", {}, "disabled", "disabled", "/status"],
      ["no-handler", { "qemu-arm": QEMU_AARCH64("F").replace("0200b700", "02002800") }, "enabled", "no-handler", "apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"],
      ["handler-disabled", { "qemu-aarch64": QEMU_AARCH64("F", "disabled") }, "enabled", "handler-disabled", "update-binfmts --enable qemu-aarch64"],
      ["no-fix-binary", { "qemu-aarch64": QEMU_AARCH64("P") }, "enabled", "no-fix-binary", "lacks the F (fix-binary) flag"],
    ];
    for (const [name, entries, status, reason, text] of cases) {
      const c = check(fakeBinfmt(status, entries));
      expect(c.ok, name).toBe(false);
      if (c.ok) continue;
      expect(c.reason, name).toBe(reason as typeof c.reason);
      expect(c.message, name).toContain(text);
      expect(c.message, name).toContain("linux/arm64");
    }
  });

  test("an enabled handler with F is found, whatever its name", () => {
    const dir = fakeBinfmt("enabled", { "python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n", "my-arm64": QEMU_AARCH64("OCF") });
    const c = check(dir);
    expect(c).toMatchObject({ ok: true, native: false, handler: { name: "my-arm64", flags: "OCF" } });
    expect(readBinfmt(dir).handlers.map((h) => h.name)).toEqual(["my-arm64", "python3.11"]);
    expect(() => requireEmulation(ARM64, "Dockerfile:3", { dir, host: AMD64 })).not.toThrow();
    expect(() => requireEmulation(ARM64, "Dockerfile:3", { dir: fakeBinfmt("enabled"), host: AMD64 })).toThrow(/^Dockerfile:3: RUN for linux\/arm64 needs QEMU/);
  });
});

describe("explainExecFailure: a foreign binary instead of a raw ENOEXEC", () => {
  test("names the architecture and the fix; follows symlinks and PATH inside the rootfs", async () => {
    const root = await arm64Rootfs();
    const none = fakeBinfmt("enabled");
    const direct = explainExecFailure(root, "/bin/busybox", { dir: none, host: AMD64 });
    expect(direct).toBe(`/bin/busybox is a linux/arm64 binary and this host is linux/amd64: ${(checkEmulation(ARM64, { dir: none, host: AMD64 }) as { message: string }).message}`);
    // /bin/sh -> /bin/busybox (absolute: resolved inside the rootfs, never on the host)
    expect(explainExecFailure(root, "/bin/sh", { dir: none, host: AMD64 })).toContain("/bin/sh is a linux/arm64 binary");
    expect(explainExecFailure(root, "uname", { dir: none, host: AMD64, pathVar: "/usr/local/bin:/bin" })).toContain("uname is a linux/arm64 binary");
    expect(explainExecFailure(root, "./busybox", { dir: none, host: AMD64, cwd: "/bin" })).toContain("./busybox is a linux/arm64 binary");
    expect(explainExecFailure(root, "./busybox", { dir: none, host: AMD64, cwd: "/etc" })).toBeUndefined();
    // On an arm64 host it is native: not the cause.
    expect(explainExecFailure(root, "/bin/busybox", { dir: none, host: ARM64 })).toBeUndefined();
  });

  test("not an ELF file, a missing file, and the ENOEXEC classifier", () => {
    const root = join(tmp, "script-root");
    mkdirSync(join(root, "bin"), { recursive: true });
    writeFileSync(join(root, "bin/script"), "echo no shebang\n");
    chmodSync(join(root, "bin/script"), 0o755);
    expect(explainExecFailure(root, "/bin/script", { dir: fakeBinfmt("enabled"), host: AMD64 })).toBeUndefined();
    expect(explainExecFailure(root, "/bin/missing", { dir: fakeBinfmt("enabled"), host: AMD64 })).toBeUndefined();
    expect(isExecFormatError({ code: "ENOEXEC" })).toBe(true);
    expect(isExecFormatError("spawn /bin/sh ENOEXEC")).toBe(true);
    expect(isExecFormatError(new Error("ENOEXEC: unknown error, posix_spawn '/bin/sh'"))).toBe(true);
    expect(isExecFormatError(new Error("Exec format error"))).toBe(true);
    expect(isExecFormatError({ code: "ENOENT", message: "no such file" })).toBe(false);
  });
});

describe("arm64 under QEMU on this machine (binfmt_misc with the F flag)", () => {
  const setup = ensureEmulation(ARM64);
  if (!setup.ok) console.log(`skipping the QEMU tests: ${setup.reason}`);
  // These need binfmt_misc with QEMU's aarch64 handler: ensureEmulation registers it when root
  // can (CI can); elsewhere (no root, no binfmt_misc mount) they skip with the reason printed above.

  test.skipIf(!setup.ok)("a static arm64 busybox runs in a chroot without the interpreter inside it", async () => {
    const root = await arm64Rootfs();
    // F flag: the kernel opened the interpreter at registration; nothing of QEMU is in the rootfs.
    const c = checkEmulation(ARM64);
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.handler!.flags).toContain("F");
    expect(existsSync(join(root, c.handler!.interpreter))).toBe(false);
    expect(readdirSync(join(root, "usr"))).not.toContain("libexec");
    expect((await exec("chroot", [root, "/bin/uname", "-m"])).trim()).toBe("aarch64");
  });

  test.skipIf(!setup.ok)("kiln's RUN runner executes arm64 commands in the rootfs", async () => {
    const root = await arm64Rootfs();
    let out = "";
    const r = await runInRootfs({ rootfs: root, argv: ["/bin/sh", "-c", "uname -m > /arch; cat /arch; echo $((6*7))"], env: ["PATH=/bin"], cwd: "/", onOutput: (b) => (out += new TextDecoder().decode(b)) });
    expect(r.exitCode).toBe(0);
    expect(out).toBe("aarch64\n42\n");
  });
});

let arm64Root: Promise<string> | undefined;
/** The arm64 busybox base layer unpacked once (the same layer busybox-multi:latest holds). */
function arm64Rootfs(): Promise<string> {
  return (arm64Root ??= (async () => {
    const { file } = await cachedLayer("busybox-foreign");
    const dir = join(tmp, "arm64-rootfs");
    mkdirSync(dir);
    await unpackLayer(file, dir);
    if (foreignPlatform().architecture !== "arm64") throw new Error(`these tests expect an amd64 host (the downloaded busybox is ${foreignPlatform().architecture})`);
    return dir;
  })());
}
