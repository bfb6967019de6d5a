// The resident RUN helper runs many RUNs in one process: each must still start clean. Exit codes
// and signals exact, default signal dispositions, nothing left from the previous RUN (processes,
// hostname, IPC, network, mounts), USER applied with no capabilities left, only stdio inherited.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { existsSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInRootfs, runHelperPids, runHelperStarts } from "../../src/run/index.ts";
import { makeBusyboxRootfs } from "./busybox-rootfs.ts";
import { shIn } from "./run-sh.ts";

const rootfs = makeBusyboxRootfs();
const host = mkdtempSync(join(tmpdir(), "kiln-resident-"));
afterAll(() => {
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

const sh = shIn(rootfs, { tmpDir: host });

function statusField(status: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)![1]!.trim().replace(/\s+/g, " ");
}

describe("the resident run helper", () => {
  test("one helper runs RUN after RUN", async () => {
    await sh("true");
    expect(runHelperPids().length).toBeGreaterThan(0);
    const before = runHelperStarts();
    for (let i = 0; i < 6; i++) await sh("true");
    // A helper retires now and then (a runtime thread started mid-RUN, see helper-host.ts); never per RUN.
    expect(runHelperStarts() - before).toBeLessThanOrEqual(1);
  });

  test("exit codes and deaths by signal are exact", async () => {
    expect((await sh("exit 3")).exitCode).toBe(3);
    expect((await sh("exit 255")).exitCode).toBe(255);
    expect((await sh("kill -TERM $$")).exitCode).toBe(143);
    expect((await sh("kill -INT $$")).exitCode).toBe(130);
    expect((await sh("true")).exitCode).toBe(0);
  });

  test("signals have their default actions and none is blocked: yes | head -1 ends", async () => {
    const r = await sh("yes | head -1");
    expect([r.exitCode, r.stdout]).toEqual([0, "y\n"]);
    // Exec form: what the command starts with, before any shell changes it.
    let out = "";
    await runInRootfs({ rootfs, argv: ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"], env: ["PATH=/bin"], cwd: "/", onOutput: (c) => (out += new TextDecoder().decode(c)) });
    expect(out).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  });

  test("only stdin (/dev/null), stdout and stderr are open in the command, stdout blocking", async () => {
    const dec = new TextDecoder();
    let out = "";
    const r = await runInRootfs({ rootfs, argv: ["ls", "/proc/self/fd"], env: ["PATH=/bin"], cwd: "/", onOutput: (c) => (out += dec.decode(c)) });
    expect([r.exitCode, out]).toEqual([0, "0\n1\n2\n3\n"]); // 3: ls's own handle on the directory
    const s = await sh("readlink /proc/self/fd/0; grep ^flags: /proc/self/fdinfo/1");
    const [stdin, flags] = s.stdout.trim().split("\n");
    expect(stdin).toBe("/dev/null");
    expect(Number.parseInt(flags!.split(/\s+/)[1]!, 8) & 0o4000).toBe(0);
  });

  test("a lot of output arrives whole, in order, and the next RUN's output is its own", async () => {
    const big = await sh("yes 0123456789 | head -c 3000000; echo done >&2");
    expect(big.stdout.length).toBe(3_000_000);
    expect(big.stdout.slice(0, 21)).toBe("0123456789\n0123456789");
    expect(big.stderr).toBe("done\n");
    const next = await sh("echo next");
    expect([next.stdout, next.stderr]).toEqual(["next\n", ""]);
  });

  test("a background process of one RUN is gone at the next", async () => {
    const first = await sh("sleep 1719 & echo started");
    expect(first.stdout).toBe("started\n");
    const second = await sh("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done");
    expect(second.stdout).not.toContain("sleep 1719");
    expect(second.stdout).toContain("for p in"); // the listing works: it sees this RUN's shell
  });

  test("hostname, UTS and IPC namespaces are the RUN's own, never the previous RUN's", async () => {
    // msgmax is a sysctl of the IPC namespace: a fresh one has the kernel's default (MSGMAX, 8192) again.
    const hostMsgmax = readFileSync("/proc/sys/kernel/msgmax", "utf8");
    const probe = "hostname; cat /proc/sys/kernel/msgmax; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc";
    const a = await sh(`hostname changed-inside; echo 12345 > /proc/sys/kernel/msgmax; ${probe}`, { hostname: "first" });
    const b = await sh(probe);
    const [nameA, msgmaxA] = a.stdout.trim().split("\n");
    const [nameB, msgmaxB, utsB, ipcB] = b.stdout.trim().split("\n");
    expect([nameA, msgmaxA]).toEqual(["changed-inside", "12345"]);
    expect(nameB).toBe(hostname());
    expect(msgmaxB).toBe("8192");
    expect(readFileSync("/proc/sys/kernel/msgmax", "utf8")).toBe(hostMsgmax);
    expect(utsB).not.toBe(readlinkSync("/proc/self/ns/uts"));
    expect(ipcB).not.toBe(readlinkSync("/proc/self/ns/ipc"));
  });

  test("--network=none, then the default network again", async () => {
    const probe = "readlink /proc/self/ns/net; ls /sys/class/net";
    const none = await sh(probe, { network: "none" });
    const dflt = await sh(probe);
    const [nsNone, ...ifNone] = none.stdout.trim().split("\n");
    const [nsDefault] = dflt.stdout.trim().split("\n");
    expect(ifNone).toEqual(["lo"]);
    expect(nsNone).not.toBe(readlinkSync("/proc/self/ns/net"));
    expect(nsDefault).toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("mounts of one RUN (RUN --mount and the command's own) are not in the next", async () => {
    const a = await sh("mkdir -p /own && mount -t tmpfs none /own && echo x > /own/f && echo x > /m/f && grep -c -E ' /(m|own) ' /proc/mounts", { mounts: [{ kind: "tmpfs", target: "/m" }] });
    expect(a.stdout).toBe("2\n");
    const b = await sh("grep -c -E ' /(m|own) ' /proc/mounts; ls /own; ls /m 2>/dev/null || echo no-m");
    expect(b.stdout).toBe("0\nno-m\n");
    expect(b.stderr).toBe("");
    expect(existsSync(join(rootfs, "m"))).toBe(false);
    rmSync(join(rootfs, "own"), { recursive: true });
    const leftovers = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.split(" ")[4]?.startsWith(rootfs));
    expect(leftovers).toEqual([]);
  });

  test("USER: ids, supplementary groups and no capabilities for a non-root user; root keeps kiln's", async () => {
    const probe = "grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|CapAmb):' /proc/self/status";
    const user = (await sh(probe, { user: "user" })).stdout;
    expect(statusField(user, "Uid")).toBe("1000 1000 1000 1000");
    expect(statusField(user, "Gid")).toBe("1000 1000 1000 1000");
    expect(statusField(user, "Groups")).toBe("100 1000");
    for (const f of ["CapEff", "CapPrm", "CapAmb"]) expect(statusField(user, f)).toBe("0000000000000000");
    const other = (await sh(probe, { user: "65534:100" })).stdout;
    expect([statusField(other, "Uid"), statusField(other, "Gid"), statusField(other, "Groups")]).toEqual(["65534 65534 65534 65534", "100 100 100 100", "100"]);
    const root = (await sh(probe)).stdout;
    expect(statusField(root, "Uid")).toBe("0 0 0 0");
    expect(statusField(root, "Gid")).toBe("0 0 0 0");
    expect(statusField(root, "CapEff")).toBe(statusField(readFileSync("/proc/self/status", "utf8"), "CapEff"));
    // The helper went back to root: a directory it creates for the next RUN's cwd is root's.
    const cwd = await sh("stat -c '%u:%g' .", { cwd: "/made-after-user" });
    expect(cwd.stdout).toBe("0:0\n");
  });

  test("a thread the runtime starts mid-RUN retires the helper: the RUN ends once it has exited, the next gets a new one", () => {
    const script = join(import.meta.dir, "fixtures/run-late-thread.ts");
    const r = spawnSync(process.execPath, [script, rootfs], { encoding: "utf8", timeout: 60_000, env: { ...process.env, KILN_TEST_RUN_HELPER_LATE_THREAD: "1" } });
    expect(r.stderr).toBe("");
    const got = JSON.parse(r.stdout);
    expect(got.rows).toEqual([0, 1, 2].map((i) => ({ out: `run-${i}\n`, exitCode: i, helperGone: true })));
    // The first helper, and one replacement per retirement.
    expect(got.starts).toBeGreaterThanOrEqual(3);
  });

  test("exec failures: not found 127, not executable 126, with kiln's messages", async () => {
    const missing = await sh("", { argv: ["/bin/no-such"] });
    expect([missing.exitCode, missing.stderr]).toEqual([127, "kiln: exec /bin/no-such: no such file or directory\n"]);
    await sh("echo 'echo hi' > /tmp/noexec; chmod 644 /tmp/noexec");
    const noexec = await sh("", { argv: ["/tmp/noexec"] });
    expect(noexec.exitCode).toBe(126);
    expect(noexec.stderr).toContain("permission denied");
    const after = await sh("echo still-fine");
    expect(after.stdout).toBe("still-fine\n");
  });
});
