import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as libc from "../../src/runtime/libc.ts";

const dir = mkdtempSync(join(tmpdir(), "kiln-libc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return "no error";
}

describe("libc on Bun", () => {
  test("is available", () => expect(libc.libcAvailable()).toBe(true));

  test("xattr set, get, list, remove", () => {
    const f = join(dir, "x");
    writeFileSync(f, "");
    libc.lsetxattr(f, "user.a", enc("one"));
    libc.lsetxattr(f, "user.empty", new Uint8Array());
    libc.lsetxattr(f, "user.a", enc("two"));
    expect(dec(libc.lgetxattr(f, "user.a"))).toBe("two");
    expect(libc.lgetxattr(f, "user.empty")).toEqual(new Uint8Array());
    expect(libc.lgetxattr(f, "user.absent")).toBeNull();
    expect(libc.llistxattr(f).sort()).toEqual(["user.a", "user.empty"]);
    libc.lremovexattr(f, "user.a");
    expect(libc.llistxattr(f)).toEqual(["user.empty"]);
    expect(codeOf(() => libc.lremovexattr(f, "user.a"))).toBe("ENODATA");
  });

  test("a large xattr value round-trips", () => {
    const f = join(dir, "big");
    writeFileSync(f, "");
    const value = new Uint8Array(3000).map((_, i) => i % 251);
    libc.lsetxattr(f, "user.big", value);
    expect(libc.lgetxattr(f, "user.big")).toEqual(value);
  });

  test("l* calls act on the symlink, not its target", () => {
    const target = join(dir, "target");
    const link = join(dir, "link");
    writeFileSync(target, "");
    symlinkSync(target, link);
    libc.lsetxattr(target, "user.t", enc("t"));
    expect(libc.llistxattr(link)).toEqual([]);
    // user.* xattrs are not allowed on symlinks: the error must carry errno and paths.
    expect(codeOf(() => libc.lsetxattr(link, "user.t", enc("x")))).toBe("EPERM");
  });

  test("errors name the call, the path and the errno", () => {
    const missing = join(dir, "missing");
    let err: libc.LibcError | undefined;
    try {
      libc.lgetxattr(missing, "user.a");
    } catch (e) {
      err = e as libc.LibcError;
    }
    expect(err?.code).toBe("ENOENT");
    expect(err?.errno).toBe(2);
    expect(err?.syscall).toBe("lgetxattr");
    expect(err?.path).toBe(missing);
    expect(err?.message).toContain(`lgetxattr ${missing}`);
  });

  test("mknod makes fifos and devices with glibc's makedev", () => {
    const fifo = join(dir, "fifo");
    libc.mknod(fifo, libc.S_IFIFO | 0o600, 0, 0);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(codeOf(() => libc.mknod(fifo, libc.S_IFIFO | 0o600, 0, 0))).toBe("EEXIST");
    const nul = join(dir, "null");
    libc.mknod(nul, libc.S_IFCHR | 0o666, 1, 3);
    expect(statSync(nul).isCharacterDevice()).toBe(true);
    expect(statSync(nul).rdev).toBe(statSync("/dev/null").rdev);
    const big = join(dir, "big-dev");
    libc.mknod(big, libc.S_IFBLK | 0o600, 259, 300000);
    expect(statSync(big).rdev).toBe(Number(libc.makedev(259, 300000)));
    expect(libc.makedev(259, 300000)).toBe(0x493103e0n);
  });

  test("chroot, unshare, mount, setns failures are reported with errno", () => {
    expect(codeOf(() => libc.chroot(join(dir, "nope")))).toBe("ENOENT");
    expect(codeOf(() => libc.unshare(-1))).toBe("EINVAL");
    expect(codeOf(() => libc.mount(null, join(dir, "nope"), "tmpfs", 0, null))).toBe("ENOENT");
    expect(codeOf(() => libc.umount2(dir, 0))).toBe("EINVAL");
    expect(codeOf(() => libc.setns(9999, 0))).toBe("EBADF");
  });

  test("id calls succeed when they change nothing", () => {
    const uid = process.getuid!();
    const gid = process.getgid!();
    libc.setresgid(gid, gid, gid);
    libc.setresuid(uid, uid, uid);
    expect(process.getuid!()).toBe(uid);
  });
});

describe("libc on Deno", () => {
  test("xattr get/set/list and mknod through Deno.dlopen", () => {
    const deno = resolve(import.meta.dir, "../../node_modules/.bin/deno");
    const script = resolve(import.meta.dir, "fixtures/libc-deno-check.ts");
    const r = spawnSync(deno, ["run", "-A", script], { encoding: "utf8", timeout: 30_000 });
    if (r.error) throw new Error(`cannot run ${deno} (run \`npm install\` in the repo): ${r.error.message}`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ available: true, value: "deno", absent: null, names: ["user.kiln"], fifo: true, existsCode: "EEXIST" });
  });
});
