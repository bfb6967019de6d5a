// RUN --mount and --network at the runner level: what the command sees, and that neither the
// rootfs nor the sources keep a trace. BuildKit's Dockerfile reference ("RUN --mount", "RUN
// --network") is the spec for the defaults checked here.
import { afterAll, describe, expect, test } from "bun:test";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, connect } from "node:net";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshProxy } from "../../src/run/ssh-proxy.ts";
import { makeBusyboxRootfs } from "./busybox-rootfs.ts";
import { shIn } from "./run-sh.ts";

const rootfs = makeBusyboxRootfs();
const host = mkdtempSync(join(tmpdir(), "kiln-mounts-"));
afterAll(() => {
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

const sh = shIn(rootfs, { tmpDir: host });

/** Every path in the rootfs with its mtime: a mount must leave this exactly as it was. */
function tree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = join(prefix, name);
    const st = statSync(join(dir, rel), { throwIfNoEntry: false });
    out.push(`${rel} ${st?.mtimeMs ?? "?"}`);
    if (st?.isDirectory() && !["proc", "sys", "dev"].includes(rel)) out.push(...tree(dir, rel));
  }
  return out;
}

describe("RUN --mount in the runner", () => {
  test("tmpfs: a fresh filesystem at the target, gone afterwards, with no trace of its parents", async () => {
    const before = tree(rootfs);
    const r = await sh("grep ' /a/b/tmp ' /proc/mounts; echo x > /a/b/tmp/f && cat /a/b/tmp/f", { mounts: [{ kind: "tmpfs", target: "/a/b/tmp", size: 1 << 20 }] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("tmpfs /a/b/tmp tmpfs");
    expect(r.stdout).toContain("size=1024k");
    expect(r.stdout.trim().split("\n").pop()).toBe("x");
    expect(tree(rootfs)).toEqual(before);
  });

  test("bind: read-only by default, the source's files visible", async () => {
    const src = join(host, "ctx");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "hello"), "from the context\n");
    const before = tree(rootfs);
    const r = await sh("cat /src/hello; echo y > /src/new", { mounts: [{ kind: "bind", source: src, target: "/src", readonly: true }] });
    expect(r.stdout).toBe("from the context\n");
    expect(r.stderr).toContain("Read-only file system");
    expect(r.exitCode).not.toBe(0);
    expect(tree(rootfs)).toEqual(before);
  });

  test("bind rw: writes succeed inside the RUN and are discarded (BuildKit: 'Written data will be discarded')", async () => {
    const src = join(host, "ctx-rw");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "keep"), "original\n");
    const r = await sh("echo changed > /w/keep && echo new > /w/new && cat /w/keep /w/new", { mounts: [{ kind: "bind", source: src, target: "/w", readonly: false, discardWrites: true }] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("changed\nnew\n");
    expect(readFileSync(join(src, "keep"), "utf8")).toBe("original\n");
    expect(readdirSync(src)).toEqual(["keep"]);
  });

  test("bind of a single file onto a missing target file", async () => {
    const file = join(host, "one.txt");
    writeFileSync(file, "one\n");
    const before = tree(rootfs);
    const r = await sh("cat /opt/cfg/one.txt", { mounts: [{ kind: "bind", source: file, target: "/opt/cfg/one.txt", readonly: true }] });
    expect(r.stdout).toBe("one\n");
    expect(tree(rootfs)).toEqual(before);
  });

  test("secret: a file with BuildKit's default mode 0400 owned by 0:0, and as env=; never in the rootfs", async () => {
    const file = join(host, "token");
    writeFileSync(file, "s3cr3t-value");
    process.env.KILN_TEST_SECRET_ENV = "env-s3cr3t";
    const before = tree(rootfs);
    const r = await sh("stat -c '%a %u:%g' /run/secrets/tok; cat /run/secrets/tok; echo; echo $TOKEN; grep -c ' /run/secrets/tok ' /proc/mounts", {
      mounts: [
        { kind: "secret", target: "/run/secrets/tok", from: { file }, mode: 0o400, uid: 0, gid: 0 },
        { kind: "secret", env: "TOKEN", from: { env: "KILN_TEST_SECRET_ENV" }, mode: 0o400, uid: 0, gid: 0 },
      ],
    });
    delete process.env.KILN_TEST_SECRET_ENV;
    expect(r.stdout).toBe("400 0:0\ns3cr3t-value\nenv-s3cr3t\n1\n");
    expect(tree(rootfs)).toEqual(before);
  });

  test("secret: mode, uid and gid are applied; it is read-only", async () => {
    const file = join(host, "token2");
    writeFileSync(file, "v");
    const r = await sh("stat -c '%a %u:%g' /s; echo x > /s", { mounts: [{ kind: "secret", target: "/s", from: { file }, mode: 0o440, uid: 1000, gid: 65534 }] });
    expect(r.stdout).toBe("440 1000:65534\n");
    expect(r.exitCode).not.toBe(0);
  });

  test("ssh: a socket at the target with mode 0600, SSH_AUTH_SOCK set, forwarding to the agent", async () => {
    const agent = join(host, "agent.sock");
    const server = createNetServer((c) => c.on("data", (d) => c.end(`agent got ${d}`)));
    await new Promise<void>((r) => server.listen(agent, r));
    try {
      const r = await sh("stat -c '%a %F' $SSH_AUTH_SOCK; echo $SSH_AUTH_SOCK", { mounts: [{ kind: "ssh", agent, target: "/run/buildkit/ssh_agent.0", mode: 0o600, uid: 0, gid: 0 }] });
      expect(r.stdout).toBe("600 socket\n/run/buildkit/ssh_agent.0\n");
      // The forwarding itself (busybox has no unix-socket client): through the same proxy from the host.
      const proxy = await startSshProxy(agent, join(host, "proxy.sock"), 0o600, 0, 0);
      const reply = await new Promise<string>((resolve, reject) => {
        const c = connect(proxy.path, () => c.write("ping"));
        let got = "";
        c.on("data", (d) => (got += d)).on("end", () => resolve(got)).on("error", reject);
      });
      proxy.close();
      expect(reply).toBe("agent got ping");
    } finally {
      server.close();
    }
  });

  test("nested mounts: a bind below a tmpfs", async () => {
    const src = join(host, "nested");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f"), "nested\n");
    const before = tree(rootfs);
    const r = await sh("cat /t/inner/f", { mounts: [{ kind: "bind", source: src, target: "/t/inner", readonly: true }, { kind: "tmpfs", target: "/t" }] });
    expect(r.stdout).toBe("nested\n");
    expect(tree(rootfs)).toEqual(before);
  });

  test("a target that exists as a file cannot take a directory mount", async () => {
    await expect(sh("true", { mounts: [{ kind: "tmpfs", target: "/etc/passwd" }] })).rejects.toThrow("/etc/passwd exists in the image and is not a directory");
  });

  test("NUL bytes in the command or env: kiln's own message", async () => {
    await expect(sh("echo a\0b")).rejects.toThrow("RUN: the command contains a NUL byte (in argument 3)");
    await expect(sh("true", { env: ["A=x\0y"] })).rejects.toThrow("RUN: the environment variable A contains a NUL byte");
  });
});

describe("RUN --network", () => {
  test("none cannot reach a loopback HTTP server on the host; default and host can; lo is up inside", async () => {
    const server = createHttpServer((_, res) => res.end("reached"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      // busybox's static wget crashes in its resolver; nc speaks enough HTTP.
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 ${port}`;
      expect((await sh(get)).stdout).toContain("reached");
      expect((await sh(get, { network: "default" })).stdout).toContain("reached");
      expect((await sh(get, { network: "host" })).stdout).toContain("reached");
      const none = await sh(`${get}; echo "exit $?"; ip -o link show lo; ip -o link | wc -l`, { network: "none" });
      expect(none.stdout).not.toContain("reached");
      expect(none.stdout).toMatch(/exit [1-9]/);
      expect(none.stdout).toMatch(/lo: <LOOPBACK,UP/);
      expect(none.stdout.trim().split("\n").pop()).toBe("1");
    } finally {
      server.close();
    }
  });

  test("none: loopback inside works (a server and a client in the RUN)", async () => {
    const r = await sh("(echo hi | nc -l -p 7777 &) ; sleep 0.3; nc 127.0.0.1 7777 </dev/null", { network: "none" });
    expect(r.stdout).toBe("hi\n");
  });
});
