import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { runInRootfs, runnerIgnoredPaths } from "../../src/run/index.ts";
import { KilnError } from "../../src/util/errors.ts";
import { makeBusyboxRootfs } from "./busybox-rootfs.ts";
import { shIn } from "./run-sh.ts";

const rootfs = makeBusyboxRootfs();
afterAll(() => rmSync(rootfs, { recursive: true, force: true }));

const sh = shIn(rootfs);

function mountsUnder(path: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(path));
}

describe("runInRootfs (busybox rootfs, Bun)", () => {
  test("exit code is the command's", async () => {
    expect((await sh("exit 42")).exitCode).toBe(42);
    expect((await sh("true")).exitCode).toBe(0);
  });

  test("killed by a signal gives 128+N", async () => {
    expect((await sh("kill -9 $$")).exitCode).toBe(137);
  });

  test("stdout and stderr are captured separately", async () => {
    const r = await sh("echo out; echo err >&2");
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    expect(r.mountsUsed).toBe(true);
  });

  test("output is streamed while the command runs", async () => {
    const start = Date.now();
    let firstAt = 0;
    await runInRootfs({
      rootfs, argv: ["/bin/sh", "-c", "echo first; sleep 1; echo second"], env: [], cwd: "/",
      onOutput: () => (firstAt ||= Date.now()),
    });
    const end = Date.now();
    expect(firstAt).toBeGreaterThan(0);
    expect(end - firstAt).toBeGreaterThan(700);
    expect(firstAt - start).toBeLessThan(end - start);
  });

  test("exec form runs without a shell; PATH from env is used; a missing command gives 127", async () => {
    let out = "";
    const r = await runInRootfs({ rootfs, argv: ["echo", "a  b"], env: ["PATH=/bin"], cwd: "/", onOutput: (c) => (out += new TextDecoder().decode(c)) });
    expect([r.exitCode, out]).toEqual([0, "a  b\n"]);
    const missing = await sh("", { argv: ["no-such-cmd"] });
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain(`"no-such-cmd": executable file not found in $PATH`);
  });

  test("env is exactly the given list (plus HOME), PATH defaults like Docker", async () => {
    const r = await sh("env | sort", { env: ["PATH=/bin", "FOO=bar baz", "EMPTY="] });
    expect(r.stdout).toContain("FOO=bar baz\n");
    expect(r.stdout).toContain("EMPTY=\n");
    expect(r.stdout).toContain("HOME=/root\n");
    expect(r.stdout).not.toContain("KILN_RUN_");
    const d = await sh("echo $PATH", { env: [] });
    expect(d.stdout).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
  });

  test("cwd is used and created when missing", async () => {
    const r = await sh("pwd", { cwd: "/work/app/src" });
    expect(r.stdout).toBe("/work/app/src\n");
    expect(statSync(`${rootfs}/work/app/src`).isDirectory()).toBe(true);
  });

  test("user by name, uid, uid:gid, name:group; supplementary groups from /etc/group", async () => {
    expect((await sh("id", { user: "user" })).stdout).toBe("uid=1000(user) gid=1000(user) groups=100(users),1000(user)\n");
    expect((await sh("id -u; id -g", { user: "1000" })).stdout).toBe("1000\n1000\n");
    expect((await sh("id -u; id -g; id -G", { user: "65534:100" })).stdout).toBe("65534\n100\n100\n");
    expect((await sh("id -u; id -g", { user: "user:nogroup" })).stdout).toBe("1000\n65534\n");
    expect((await sh("id -u; id -g; echo $HOME", { user: "4242" })).stdout).toBe("4242\n0\n/\n");
    expect((await sh("id -u", { user: "" })).stdout).toBe("0\n");
  });

  test("unknown user or group names are clear errors", async () => {
    await expect(sh("true", { user: "ghost" })).rejects.toThrow(new KilnError("unable to find user ghost: no matching entries in passwd file"));
    await expect(sh("true", { user: "user:ghosts" })).rejects.toThrow("unable to find group ghosts");
  });

  test("the command is in its own PID namespace with a fresh /proc", async () => {
    // The resident helper is PID 1 there; besides it only this step's processes (sh, ls, grep, readlink).
    const r = await sh("readlink /proc/self/ns/pid; ls /proc | grep -c '^[0-9]'; cat /proc/1/environ | tr '\\0' '\\n' | grep -c '^KILN_RUN_HELPER=1$'");
    const [ns, procs, helperIsInit] = r.stdout.trim().split("\n");
    expect(ns).not.toBe(readlinkSync("/proc/self/ns/pid"));
    expect(Number(procs)).toBeLessThan(8);
    expect(helperIsInit).toBe("1");
  });

  test("/dev has working null, zero, urandom, fd and shm; /sys is read-only", async () => {
    const r = await sh("echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 8 /dev/urandom | wc -c && ls /dev/fd/ >/dev/null && touch /dev/shm/a && echo ok; touch /sys/x 2>/dev/null || echo ro");
    expect(r.stdout).toBe("4\n8\nok\nro\n");
  });

  test("/etc/resolv.conf is the host's and /etc/hosts names the hostname", async () => {
    const r = await sh("cat /etc/resolv.conf; echo ---; cat /etc/hosts; hostname", { hostname: "kiln-test" });
    const [resolv, rest] = r.stdout.split("---\n");
    expect(resolv).toBe(readFileSync("/etc/resolv.conf", "utf8"));
    expect(rest).toContain("127.0.0.1\tlocalhost kiln-test\n");
    expect(rest!.trim().split("\n").at(-1)).toBe("kiln-test");
  });

  test("writes to the mounted files do not reach the host", async () => {
    const before = readFileSync("/etc/resolv.conf", "utf8");
    await sh("echo 'nameserver 192.0.2.1' >> /etc/resolv.conf");
    expect(readFileSync("/etc/resolv.conf", "utf8")).toBe(before);
  });

  test("a background process neither hangs the step nor survives it", async () => {
    const start = Date.now();
    const r = await sh("sleep 1717 & echo started");
    expect(r.stdout).toBe("started\n");
    expect(Date.now() - start).toBeLessThan(5000);
    await Bun.sleep(100);
    expect(spawnSync("pgrep", ["-f", "sleep 1717"]).stdout.toString()).toBe("");
  });

  test("an abort kills a long sleep quickly", async () => {
    const ac = new AbortController();
    const start = Date.now();
    setTimeout(() => ac.abort(), 300);
    const r = await sh("sleep 1718; echo not reached", { signal: ac.signal });
    expect(Date.now() - start).toBeLessThan(3000);
    expect(r.exitCode).toBe(143);
    expect(r.stdout).toBe("");
    expect(spawnSync("pgrep", ["-f", "sleep 1718"]).stdout.toString()).toBe("");
  });

  test("no leftover mounts or placeholder files after runs", async () => {
    await sh("true");
    expect(mountsUnder(rootfs)).toEqual([]);
    for (const p of runnerIgnoredPaths()) expect(existsSync(rootfs + p)).toBe(false);
    // Unchanged parent mtime too, so a snapshot sees nothing.
    expect(readdirSync(`${rootfs}/etc`).sort()).toEqual(["group", "passwd"]);
  });

  test("an existing /etc/resolv.conf symlink is followed inside the rootfs", async () => {
    const { symlinkSync, mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(`${rootfs}/run`);
    writeFileSync(`${rootfs}/run/resolv.conf`, "image's\n");
    symlinkSync("/run/resolv.conf", `${rootfs}/etc/resolv.conf`);
    try {
      const r = await sh("cat /etc/resolv.conf");
      expect(r.stdout).toBe(readFileSync("/etc/resolv.conf", "utf8"));
      expect(readFileSync(`${rootfs}/run/resolv.conf`, "utf8")).toBe("image's\n");
    } finally {
      rmSync(`${rootfs}/etc/resolv.conf`);
      rmSync(`${rootfs}/run`, { recursive: true });
    }
  });

  test("fsync and friends are answered without syncing, unless keepSync", async () => {
    // fsync/fdatasync of a pipe fail with EINVAL in the kernel: a success shows the filter answered.
    const probe = "echo | sync -d /proc/self/fd/0 2>/dev/null; echo d=$?; echo | sync /proc/self/fd/0 2>/dev/null; echo f=$?; grep ^Seccomp: /proc/self/status";
    const on = await sh(probe);
    expect([on.stdout, on.syncSuppressed]).toEqual(["d=0\nf=0\nSeccomp:\t2\n", true]);
    const off = await sh(probe, { keepSync: true });
    expect([off.stdout, off.syncSuppressed]).toEqual(["d=1\nf=1\nSeccomp:\t0\n", false]);
    // Other syscalls are untouched, and so is the filesystem's view of the data.
    const data = await sh("echo hello > /tmp/f && sync /tmp/f && cat /tmp/f && rm /tmp/f");
    expect([data.exitCode, data.stdout]).toEqual([0, "hello\n"]);
  });

  test("runnerIgnoredPaths lists the mount points", () => {
    expect(runnerIgnoredPaths().sort()).toEqual(["/dev", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys"]);
  });
});

describe("runInRootfs without privileges", () => {
  const bun = process.execPath;
  const script = resolve(import.meta.dir, "fixtures/run-unprivileged.ts");
  function runDropped(drop: string) {
    const r = spawnSync("setpriv", [`--inh-caps=-all`, `--bounding-set=${drop}`, "--", bun, script, rootfs], { encoding: "utf8", timeout: 30_000 });
    if (r.error) throw new Error(`needs setpriv (apt-get install -y util-linux): ${r.error.message}`);
    return r;
  }

  test("without CAP_SYS_ADMIN: plain chroot, one notice, mountsUsed false", () => {
    const r = runDropped("-sys_admin");
    expect(r.status).toBe(0);
    const { syncReason, ...rest } = JSON.parse(r.stdout);
    expect(rest).toEqual({ exitCode: 5, mountsUsed: false, syncSuppressed: false, out: "hi\n" });
    // A seccomp filter needs CAP_SYS_ADMIN (kiln never sets no_new_privs); the command just syncs for real.
    expect(syncReason).toBe("seccomp: permission denied (EACCES)");
    expect(r.stderr.match(/RUN without namespaces or mounts/g)?.length).toBe(1);
    expect(mountsUnder(rootfs)).toEqual([]);
  });

  test("without CAP_SYS_CHROOT either: a clear KilnError", () => {
    const r = runDropped("-sys_admin,-sys_chroot");
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("KilnError: RUN: cannot chroot into");
    expect(r.stderr).toContain("operation not permitted");
  });
});

describe("runInRootfs under Deno", () => {
  test("runs in the namespace and streams output", () => {
    const deno = resolve(import.meta.dir, "../../node_modules/.bin/deno");
    if (!existsSync(deno)) throw new Error(`missing ${deno}: run npm install in the repo`);
    const r = spawnSync(deno, ["run", "-A", resolve(import.meta.dir, "fixtures/run-deno-check.ts"), rootfs], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    // fsync of a pipe is EINVAL (1) unless the sync filter answers it, also after dropping to USER.
    const out = "pid=1 user=1000 cwd=/deno-dir k=deno\nfsync-of-a-pipe=0\n".replace("pid=1", r.stdout.match(/pid=\d+/)![0]);
    expect(JSON.parse(r.stdout)).toEqual({ exitCode: 7, mountsUsed: true, syncSuppressed: true, out });
    expect(Number(r.stdout.match(/pid=(\d+)/)![1])).toBeLessThan(20);
    expect(mountsUnder(rootfs)).toEqual([]);
    execFileSync("rm", ["-rf", `${rootfs}/deno-dir`]);
  });
});
