// COPY/ADD into a small rootfs with hostile symlinks, from a temp context.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { copyInto, describeSources, type CopySpec } from "../../src/executor/copy/index.ts";
import { IgnoreMatcher } from "../../src/dockerfile/dockerignore.ts";
import { fromSourceName } from "../../src/executor/copy/sources.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-copy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const canary = path.join(tmp, "canary"); // a host dir a naive implementation would write into
fs.mkdirSync(canary);

let n = 0;
let ctx = "";
let rootfs = "";

function write(p: string, data: string, mode = 0o644, mtime?: number): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  fs.chmodSync(p, mode);
  if (mtime !== undefined) fs.utimesSync(p, mtime, mtime);
}

beforeEach(() => {
  const base = path.join(tmp, `t${++n}`);
  ctx = path.join(base, "ctx");
  rootfs = path.join(base, "rootfs");
  for (const d of ["usr/bin", "etc", "tmp", "app"]) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.symlinkSync("usr/bin", path.join(rootfs, "bin"));
  fs.symlinkSync("/etc", path.join(rootfs, "evil"));
  fs.symlinkSync(canary, path.join(rootfs, "evil2"));
  write(path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n");
  write(path.join(rootfs, "etc/group"), "root:x:0:\napp:x:1002:\nstaff:x:50:app\n");
  write(path.join(ctx, "a.txt"), "A", 0o644, 1_600_000_000);
  write(path.join(ctx, "b.txt"), "B", 0o600);
  write(path.join(ctx, "run.sh"), "#!/bin/sh\n", 0o755);
  write(path.join(ctx, "src/main.c"), "int main(){}", 0o644, 1_500_000_000);
  write(path.join(ctx, "src/lib/util.c"), "util", 0o640);
  fs.symlinkSync("main.c", path.join(ctx, "src/link.c"));
  fs.symlinkSync("/etc/shadow", path.join(ctx, "src/abs-link"));
  write(path.join(ctx, "secret.txt"), "s3cret");
  write(path.join(ctx, "x.tar.gz"), "not an archive at all");
});

const spec = (o: Partial<CopySpec>): CopySpec => ({ rootfs, sourceRoot: ctx, sources: [], dest: "/", workdir: "/", isAdd: false, ...o });
const R = (p: string) => path.join(rootfs, p);
const read = (p: string) => fs.readFileSync(R(p), "utf8");
const mode = (p: string) => fs.lstatSync(R(p)).mode & 0o7777;

describe("COPY files", () => {
  test("file to a file path, a trailing-slash dir and an existing dir", async () => {
    await copyInto(spec({ sources: ["a.txt"], dest: "/opt/renamed" }));
    expect(read("opt/renamed")).toBe("A");
    expect(mode("opt")).toBe(0o755);
    await copyInto(spec({ sources: ["a.txt"], dest: "/new/dir/" }));
    expect(read("new/dir/a.txt")).toBe("A");
    await copyInto(spec({ sources: ["a.txt"], dest: "/app" }));
    expect(read("app/a.txt")).toBe("A");
  });

  test("relative dest is relative to WORKDIR; mode and mtime preserved; owner 0:0", async () => {
    const r = await copyInto(spec({ sources: ["run.sh", "a.txt"], dest: "sub/", workdir: "/app" }));
    expect(read("app/sub/run.sh")).toBe("#!/bin/sh\n");
    expect(mode("app/sub/run.sh")).toBe(0o755);
    expect(fs.statSync(R("app/sub/a.txt")).mtimeMs).toBe(1_600_000_000_000);
    expect(fs.statSync(R("app/sub/a.txt")).uid).toBe(0);
    expect(r.paths).toEqual(["/app/sub"]);
  });

  test("directory copies its contents, symlinks stay symlinks, mtimes kept", async () => {
    const r = await copyInto(spec({ sources: ["src"], dest: "/app/src" }));
    expect(read("app/src/main.c")).toBe("int main(){}");
    expect(read("app/src/lib/util.c")).toBe("util");
    expect(mode("app/src/lib/util.c")).toBe(0o640);
    expect(fs.readlinkSync(R("app/src/link.c"))).toBe("main.c");
    expect(fs.readlinkSync(R("app/src/abs-link"))).toBe("/etc/shadow");
    expect(fs.statSync(R("app/src/main.c")).mtimeMs).toBe(1_500_000_000_000);
    expect(fs.existsSync(R("app/src/src"))).toBe(false);
    expect(r.paths).toEqual(["/app/src"]);
  });

  test("COPY . / reports top-level entries, never the root", async () => {
    const r = await copyInto(spec({ sources: ["."], dest: "/" }));
    expect(read("a.txt")).toBe("A");
    expect(r.paths).toContain("/src");
    expect(r.paths).not.toContain("/");
    expect(r.paths.every((p) => !p.startsWith("/src/"))).toBe(true);
  });

  test("wildcards use Go filepath.Match per segment and skip .dockerignore'd files", async () => {
    const ignore = IgnoreMatcher.fromText("secret.txt\n");
    await copyInto(spec({ sources: ["*.txt", "src/*/*.c"], dest: "/w/", ignore }));
    expect(fs.readdirSync(R("w")).sort()).toEqual(["a.txt", "b.txt", "util.c"]);
    await copyInto(spec({ sources: ["[ab].t?t"], dest: "/w2/" }));
    expect(fs.readdirSync(R("w2")).sort()).toEqual(["a.txt", "b.txt"]);
  });

  test("ignored file does not exist; directory copy leaves it out", async () => {
    const ignore = IgnoreMatcher.fromText("secret.txt\nsrc/lib\n");
    await expect(copyInto(spec({ sources: ["secret.txt"], dest: "/x", ignore }))).rejects.toThrow(/"secret.txt": not found in the build context/);
    await copyInto(spec({ sources: ["."], dest: "/all/", ignore }));
    expect(fs.existsSync(R("all/secret.txt"))).toBe(false);
    expect(fs.existsSync(R("all/src/lib"))).toBe(false);
    expect(fs.existsSync(R("all/src/main.c"))).toBe(true);
  });

  test("a `!` rule re-includes a file inside an ignored directory", async () => {
    const ignore = IgnoreMatcher.fromText("src\n!src/lib/util.c\n");
    await copyInto(spec({ sources: ["."], dest: "/ri/", ignore }));
    expect(fs.readdirSync(R("ri/src"))).toEqual(["lib"]);
    expect(read("ri/src/lib/util.c")).toBe("util");
    await expect(copyInto(spec({ sources: ["src/main.c"], dest: "/ri/", ignore }))).rejects.toThrow(/not found/);
  });

  test("errors: missing source, wildcard without match, several sources to a non-dir", async () => {
    await expect(copyInto(spec({ sources: ["nope.txt"], dest: "/x" }))).rejects.toThrow(/COPY failed: "nope.txt": not found in the build context/);
    await expect(copyInto(spec({ sources: ["*.none"], dest: "/x/" }))).rejects.toThrow(/no source files were specified/);
    await expect(copyInto(spec({ sources: ["*.none", "nope*"], dest: "/x/" }))).rejects.toThrow(/no source files were specified: "\*.none", "nope\*" matched nothing in the build context/);
    await expect(copyInto(spec({ sources: ["a.txt", "b.txt"], dest: "/x" }))).rejects.toThrow(/must be a directory and end with a \//);
    await expect(copyInto(spec({ sources: ["*.txt"], dest: "/x" }))).rejects.toThrow(/must be a directory/);
    fs.mkdirSync(R("app/a.txt"), { recursive: true });
    await expect(copyInto(spec({ sources: ["a.txt"], dest: "/app/" }))).rejects.toThrow(/cannot replace directory "\/app\/a.txt" with a file/);
  });

  // Issue 20 item 9. Docker's classic builder and kaniko fail only when the sources together give
  // nothing ("no source files were specified"); BuildKit is laxer still: its Dockerfile frontend sets
  // AllowEmptyWildcard on every COPY (frontend/dockerfile/dockerfile2llb/convert_copy.go, cited in
  // containers/buildah#6843), and moby/moby#42600 shows `COPY --from=s /empty/* /d/` passing there.
  test("a wildcard that matches nothing is fine when another source gives files", async () => {
    await copyInto(spec({ sources: ["*.none", "a.txt", "src/*.h"], dest: "/w/" }));
    expect(fs.readdirSync(R("w"))).toEqual(["a.txt"]);
    const listed = await describeSources(spec({ sources: ["*.none", "a.txt"], dest: "/w/" }));
    expect(listed.map((e) => e.path)).toEqual(["a.txt"]);
    // One match in all is still one source: a file destination is allowed.
    await copyInto(spec({ sources: ["*.none", "b.txt"], dest: "/one" }));
    expect(read("one")).toBe("B");
    // A missing plain path is still an error, whatever the wildcards match.
    await expect(copyInto(spec({ sources: ["*.txt", "nope.txt"], dest: "/w/" }))).rejects.toThrow(/"nope.txt": not found/);
  });

  test("a '-' in a wildcard pattern is a literal outside a class and a range or escape inside one", async () => {
    write(path.join(ctx, "my-app.conf"), "M");
    write(path.join(ctx, "b-x"), "BX");
    write(path.join(ctx, "-y"), "Y");
    await copyInto(spec({ sources: ["my-*.conf", "[a-c]-?", "[\\-z]y"], dest: "/g/" }));
    expect(fs.readdirSync(R("g")).sort()).toEqual(["-y", "b-x", "my-app.conf"]);
    await expect(copyInto(spec({ sources: ["[-a]*"], dest: "/g/" }))).rejects.toThrow(/syntax error in pattern/);
  });

  // Issue 18 item 6b: a source missing from another stage is not "in the build context".
  test("a missing COPY --from source names the stage or image and the path", async () => {
    const from = { sourceRoot: ctx, preserveOwner: true, dest: "/x/" };
    await expect(copyInto(spec({ ...from, sources: ["/app/missing"], sourceName: fromSourceName("builder", { stage: 0 }) })))
      .rejects.toThrow(/^COPY failed: "\/app\/missing": not found in stage "builder"$/);
    await expect(copyInto(spec({ ...from, sources: ["/bin/*.none"], sourceName: fromSourceName("alpine:3", { image: "alpine:3" }) })))
      .rejects.toThrow(/"\/bin\/\*.none" matched nothing in image "alpine:3"$/);
    // Without a name (a caller that does not set one) it still does not blame the build context.
    await expect(copyInto(spec({ ...from, sources: ["/app/missing"] }))).rejects.toThrow(/not found in the COPY --from source$/);
  });

  test(".. is clamped at the context root, like BuildKit", async () => {
    await copyInto(spec({ sources: ["../../a.txt"], dest: "/c/" }));
    expect(read("c/a.txt")).toBe("A");
  });

  test("a top-level symlink source is followed inside the source root only", async () => {
    fs.symlinkSync("/a.txt", path.join(ctx, "abs-to-a")); // absolute: means <ctx>/a.txt
    await copyInto(spec({ sources: ["abs-to-a"], dest: "/l/" }));
    expect(read("l/abs-to-a")).toBe("A");
    fs.symlinkSync("/etc/hostname", path.join(ctx, "host-file"));
    await expect(copyInto(spec({ sources: ["host-file"], dest: "/l/" }))).rejects.toThrow(/not found/);
  });

  test("existing file is overwritten; hostile symlinks in the rootfs stay inside it", async () => {
    write(R("app/a.txt"), "old");
    await copyInto(spec({ sources: ["a.txt"], dest: "/app/a.txt" }));
    expect(read("app/a.txt")).toBe("A");
    await copyInto(spec({ sources: ["a.txt"], dest: "/bin/" }));
    expect(read("usr/bin/a.txt")).toBe("A");
    expect(fs.lstatSync(R("bin")).isSymbolicLink()).toBe(true);
    const r = await copyInto(spec({ sources: ["b.txt"], dest: "/evil/kiln-x" }));
    expect(read("etc/kiln-x")).toBe("B");
    expect(fs.existsSync("/etc/kiln-x")).toBe(false);
    expect(r.paths).toEqual(["/etc/kiln-x"]);
    await copyInto(spec({ sources: ["src"], dest: "/evil2/sub/" }));
    expect(fs.readdirSync(canary)).toEqual([]);
    expect(read(path.join(canary, "sub/main.c").slice(1))).toBe("int main(){}");
  });

  test("directory contents merge through an in-rootfs directory symlink", async () => {
    write(path.join(ctx, "tree/bin/tool"), "T", 0o755);
    await copyInto(spec({ sources: ["tree/"], dest: "/" }));
    expect(read("usr/bin/tool")).toBe("T");
    expect(fs.lstatSync(R("bin")).isSymbolicLink()).toBe(true);
  });

  test("--chmod applies to files and copied directories, not to created parents", async () => {
    await copyInto(spec({ sources: ["src"], dest: "/p/q/", chmod: "700" }));
    expect(mode("p/q/main.c")).toBe(0o700);
    expect(mode("p/q/lib")).toBe(0o700);
    expect(mode("p")).toBe(0o755);
    // Symbolic (dockerfile 1.14): X adds execute to directories and already-executable files only.
    write(path.join(ctx, "src/run.sh"), "#!/bin/sh\n", 0o744);
    await copyInto(spec({ sources: ["src"], dest: "/s/", chmod: "go-rwx,o+X" }));
    expect(mode("s/main.c")).toBe(0o600);
    expect(mode("s/run.sh")).toBe(0o701);
    expect(mode("s/lib")).toBe(((fs.statSync(path.join(ctx, "src/lib")).mode & 0o700) | 0o001));
    await expect(copyInto(spec({ sources: ["a.txt"], dest: "/z", chmod: "u+q" }))).rejects.toThrow(/--chmod=u\+q/);
  });

  test("--chown numeric, by name, name:group, and created parents", async () => {
    await copyInto(spec({ sources: ["a.txt"], dest: "/n/a", chown: "1000:1000" }));
    expect(fs.statSync(R("n/a")).uid).toBe(1000);
    expect(fs.statSync(R("n")).gid).toBe(1000);
    await copyInto(spec({ sources: ["a.txt"], dest: "/n/b", chown: "2000" }));
    expect([fs.statSync(R("n/b")).uid, fs.statSync(R("n/b")).gid]).toEqual([2000, 2000]);
    await copyInto(spec({ sources: ["src"], dest: "/u/", chown: "app" }));
    expect([fs.statSync(R("u/lib/util.c")).uid, fs.statSync(R("u/lib/util.c")).gid]).toEqual([1001, 1002]);
    expect(fs.lstatSync(R("u/link.c")).uid).toBe(1001);
    await copyInto(spec({ sources: ["a.txt"], dest: "/g", chown: "app:staff" }));
    expect([fs.statSync(R("g")).uid, fs.statSync(R("g")).gid]).toEqual([1001, 50]);
    await expect(copyInto(spec({ sources: ["a.txt"], dest: "/z", chown: "nobody" }))).rejects.toThrow(/unable to find user nobody/);
  });

  test("--from sources keep their owner when preserveOwner is set", async () => {
    fs.chownSync(path.join(ctx, "a.txt"), 123, 456);
    await copyInto(spec({ sources: ["a.txt"], dest: "/k", preserveOwner: true }));
    expect([fs.statSync(R("k")).uid, fs.statSync(R("k")).gid]).toEqual([123, 456]);
    await copyInto(spec({ sources: ["a.txt"], dest: "/k0" }));
    expect(fs.statSync(R("k0")).uid).toBe(0);
  });

  test("hardlinks inside one source tree stay hardlinks", async () => {
    fs.linkSync(path.join(ctx, "src/main.c"), path.join(ctx, "src/main-link.c"));
    await copyInto(spec({ sources: ["src"], dest: "/h/" }));
    expect(fs.statSync(R("h/main.c")).ino).toBe(fs.statSync(R("h/main-link.c")).ino);
  });

  test("heredoc sources are files with mode 0644", async () => {
    await copyInto(spec({ sources: [], heredocs: [{ name: "conf", content: "k=v\n" }], dest: "/etc/app/" }));
    expect(read("etc/app/conf")).toBe("k=v\n");
    expect(mode("etc/app/conf")).toBe(0o644);
  });

  test("--exclude and --parents", async () => {
    await copyInto(spec({ sources: ["src"], dest: "/e/", exclude: ["*.c"] }));
    expect(fs.readdirSync(R("e")).sort()).toEqual(["abs-link", "lib"]);
    await copyInto(spec({ sources: ["src/lib/util.c", "a.txt"], dest: "/par", parents: true }));
    expect(read("par/src/lib/util.c")).toBe("util");
    expect(read("par/a.txt")).toBe("A");
  });

  test("describeSources lists what copyInto copies, sorted, with digests", async () => {
    const ignore = IgnoreMatcher.fromText("src/lib\n");
    const d = await describeSources(spec({ sources: ["src", "a.txt"], dest: "/d/", ignore }));
    expect(d.map((e) => e.path)).toEqual(["a.txt", "src", "src/abs-link", "src/link.c", "src/main.c"]);
    const main = d.find((e) => e.path === "src/main.c")!;
    expect(main.digest).toBe("sha256:" + createHash("sha256").update("int main(){}").digest("hex"));
    expect(d.find((e) => e.path === "src/link.c")!.link).toBe("main.c");
    fs.writeFileSync(path.join(ctx, "src/main.c"), "changed");
    const d2 = await describeSources(spec({ sources: ["src", "a.txt"], dest: "/d/", ignore }));
    expect(d2.find((e) => e.path === "src/main.c")!.digest).not.toBe(main.digest);
  });
});

describe("ADD", () => {
  function tarOf(dir: string, out: string, flags: string[]): void {
    const r = spawnSync("tar", ["-c", ...flags, "-f", out, "-C", dir, "."]);
    if (r.status !== 0) throw new Error(`GNU tar is needed for this test (apt-get install tar): ${r.stderr}`);
  }

  test("local .tar.gz, .tar and .tar.xz are extracted; whiteout names are plain files; a fake .tar.gz is copied", async () => {
    const t = path.join(tmp, `arch${n}`);
    write(path.join(t, "pkg/bin/x"), "X", 0o755);
    write(path.join(t, "pkg/.wh.keep"), "not a whiteout");
    tarOf(t, path.join(ctx, "p.tgz"), ["-z"]);
    tarOf(t, path.join(ctx, "p.plain"), []);
    tarOf(t, path.join(ctx, "p.txz"), ["-J"]);
    tarOf(t, path.join(ctx, "p.tbz"), ["-j"]);
    tarOf(t, path.join(ctx, "p.tzst"), ["--zstd"]);
    write(R("opt/pkg/old"), "stays");
    await copyInto(spec({ sources: ["p.tgz"], dest: "/opt", isAdd: true }));
    expect(read("opt/pkg/bin/x")).toBe("X");
    expect(mode("opt/pkg/bin/x")).toBe(0o755);
    expect(read("opt/pkg/.wh.keep")).toBe("not a whiteout");
    expect(read("opt/pkg/old")).toBe("stays");
    await copyInto(spec({ sources: ["p.plain", "p.txz"], dest: "/o2/", isAdd: true, chown: "1000:1000" }));
    expect(read("o2/pkg/bin/x")).toBe("X");
    expect(fs.statSync(R("o2/pkg/bin/x")).uid).toBe(1000);
    await copyInto(spec({ sources: ["p.tbz", "p.tzst"], dest: "/o5/", isAdd: true }));
    expect(fs.readdirSync(R("o5"))).toEqual(["pkg"]); // both extracted, neither copied as a file
    expect(fs.readdirSync(R("o5/pkg")).sort()).toEqual([".wh.keep", "bin"]);
    expect(read("o5/pkg/bin/x")).toBe("X");
    await copyInto(spec({ sources: ["x.tar.gz"], dest: "/o3/", isAdd: true }));
    expect(read("o3/x.tar.gz")).toBe("not an archive at all");
    await copyInto(spec({ sources: ["p.tgz"], dest: "/o4/" })); // COPY never extracts
    expect(fs.statSync(R("o4/p.tgz")).isFile()).toBe(true);
  });

  test("an archive entry cannot escape its destination", async () => {
    const t = path.join(tmp, `esc${n}`);
    write(path.join(t, "f"), "F");
    fs.symlinkSync("/", path.join(t, "up"));
    tarOf(t, path.join(ctx, "esc.tar"), []);
    // second archive writes through the planted symlink
    const t2 = path.join(tmp, `esc2${n}`);
    write(path.join(t2, "up/etc/kiln-pwn"), "pwn");
    const r = spawnSync("tar", ["-cf", path.join(ctx, "esc2.tar"), "-C", t2, "--no-recursion", "up/etc/kiln-pwn"]);
    expect(r.status).toBe(0);
    await copyInto(spec({ sources: ["esc.tar"], dest: "/x/", isAdd: true }));
    await copyInto(spec({ sources: ["esc2.tar"], dest: "/x/", isAdd: true }));
    expect(fs.readlinkSync(R("x/up"))).toBe("/");
    expect(read("x/etc/kiln-pwn")).toBe("pwn"); // "/" of an archive is its destination directory
    expect(fs.existsSync("/etc/kiln-pwn")).toBe(false);
    expect(fs.existsSync(R("etc/kiln-pwn"))).toBe(false);
  });

  test("http URL: downloaded 0600 with Last-Modified; --checksum verified", async () => {
    const body = "remote content\n";
    const server = http.createServer((req, res) => {
      if (req.url === "/missing") return res.writeHead(404).end();
      res.writeHead(200, { "last-modified": "Tue, 15 Nov 1994 08:12:31 GMT" }).end(req.url === "/gz/a.tar.gz" ? zlib.gzipSync("x") : body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await copyInto(spec({ sources: [`${base}/files/tool.sh`], dest: "/dl/", isAdd: true }));
      expect(read("dl/tool.sh")).toBe(body);
      expect(mode("dl/tool.sh")).toBe(0o600);
      expect(fs.statSync(R("dl/tool.sh")).mtimeMs).toBe(Date.parse("Tue, 15 Nov 1994 08:12:31 GMT"));
      const good = "sha256:" + createHash("sha256").update(body).digest("hex");
      await copyInto(spec({ sources: [`${base}/files/tool.sh`], dest: "/dl/named", isAdd: true, checksum: good, chown: "app" }));
      expect(read("dl/named")).toBe(body);
      expect(fs.statSync(R("dl/named")).uid).toBe(1001);
      const bad = "sha256:" + "0".repeat(64);
      const err = copyInto(spec({ sources: [`${base}/files/tool.sh`], dest: "/bad/", isAdd: true, checksum: bad }));
      await expect(err).rejects.toThrow(new RegExp(`${base}/files/tool.sh: checksum mismatch: expected ${bad}, got ${good}`));
      expect(fs.existsSync(R("bad"))).toBe(false);
      await expect(copyInto(spec({ sources: [`${base}/missing`], dest: "/m", isAdd: true }))).rejects.toThrow(/HTTP 404/);
      await copyInto(spec({ sources: [`${base}/gz/a.tar.gz`], dest: "/gz/", isAdd: true })); // URLs are never extracted
      expect(fs.statSync(R("gz/a.tar.gz")).isFile()).toBe(true);
      await expect(copyInto(spec({ sources: [`${base}/x`], dest: "/m" }))).rejects.toThrow(/use ADD/);
    } finally {
      server.close();
    }
  });
});
