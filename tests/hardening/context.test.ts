// Build-context safety through the real CLI (`kiln build`, FROM scratch, no registry): COPY sources
// can never reach outside the context (.., absolute paths, symlinks), .dockerignore may hide the
// Dockerfile, a 100,000-file context copies under a small fd limit, and unreadable or special files
// fail with exit 1 and a message naming them, never a hang or an internal error. Every case runs
// in each form kiln ships in: Bun, Deno and the compiled executable.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { readTar } from "../../src/tar/reader.ts";
import { decompress } from "../../src/fs/compression.ts";
import { TarWriter } from "../../src/tar/writer.ts";
import { FORMS, kilnArgv, kilnArgvSync, type Form } from "./forms.ts";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-ctx-"));
fs.chmodSync(work, 0o755);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
beforeAll(async () => void (await kilnArgv("binary")), 300_000);

// Host files a COPY must never read: next to the contexts, and at absolute host paths.
const outside = path.join(work, "outside");
fs.mkdirSync(outside);
fs.writeFileSync(path.join(outside, "secret"), "HOST SECRET");
fs.writeFileSync(path.join(work, "x"), "HOST X");

let n = 0;
function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = path.join(work, `ctx${++n}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
  return dir;
}

interface Run {
  code: number | null;
  err: string;
  layout: string;
}

/** The form the cases below run kiln in (each describe block sets it for its tests). */
let form: Form = "bun";

/** kiln build -c ctx --no-push --oci-layout-path OUT [extra]; `prefix` wraps the command (setpriv, sh). */
function build(ctx: string, extra: string[] = [], prefix: string[] = [], tmp?: string): Run {
  const layout = path.join(tmp ?? work, `out${++n}`);
  const cmd = [...prefix, ...kilnArgvSync(form), "build", "-c", ctx, "--no-push", "--oci-layout-path", layout, ...extra];
  const env = { ...process.env, NO_COLOR: "1", ...(tmp ? { TMPDIR: tmp } : {}) };
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: work, encoding: "utf8", timeout: 90_000, env });
  if (r.error) throw r.error;
  return { code: r.status, err: r.stderr, layout };
}

function expectFailure(r: Run, message: RegExp): void {
  expect(r.err).toMatch(message);
  expect(r.code).toBe(1);
  expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.err).not.toContain("internal error");
  expect(r.err).not.toContain("HOST");
  expect(fs.existsSync(r.layout)).toBe(false);
}

interface Entry {
  type: string;
  link?: string;
  text?: string;
}

/** Every entry of every layer of the image in an OCI layout (later layers win). */
async function imageFiles(layout: string): Promise<Map<string, Entry>> {
  const blob = (d: string) => path.join(layout, "blobs", ...d.split(":"));
  const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8"));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), "utf8"));
  const out = new Map<string, Entry>();
  for (const l of manifest.layers) {
    for await (const { header, body } of readTar(decompress(fs.createReadStream(blob(l.digest)), l.digest))) {
      const e: Entry = { type: header.type };
      if (header.linkname) e.link = header.linkname;
      if (header.type === "file" && header.size < 4096) {
        const parts: Uint8Array[] = [];
        for await (const c of body) parts.push(c.slice());
        e.text = Buffer.concat(parts).toString();
      }
      out.set(header.name.replace(/\/$/, ""), e);
    }
  }
  return out;
}

for (const f of FORMS) {
  describe(`kiln in ${f}`, () => {
    beforeAll(() => {
      form = f;
    });

    describe("COPY sources stay inside the build context", () => {
      test("COPY ../x copies the context's x, never the parent directory's", async () => {
        const r = build(context("FROM scratch\nCOPY ../x ../../x /\n", { x: "CTX X" }));
        expect(r.err).not.toContain("HOST");
        expect(r.code).toBe(0);
        expect((await imageFiles(r.layout)).get("x")?.text).toBe("CTX X");
      });

      test("COPY ../outside/secret is not found (clamped to the context root)", () => {
        expectFailure(build(context("FROM scratch\nCOPY ../outside/secret /s\n")), /^kiln: Dockerfile:2: COPY failed: "\.\.\/outside\/secret": not found in the build context/m);
      });

      test("COPY /etc/passwd means <context>/etc/passwd", async () => {
        expectFailure(build(context("FROM scratch\nCOPY /etc/passwd /p\n")), /Dockerfile:2: COPY failed: "\/etc\/passwd": not found in the build context/);
        const r = build(context("FROM scratch\nCOPY /etc/passwd /p\n", { "etc/passwd": "ctx-passwd" }));
        expect(r.code).toBe(0);
        expect((await imageFiles(r.layout)).get("p")?.text).toBe("ctx-passwd");
      });

      test("COPY of an absolute host path of a file outside the context is not found", () => {
        expectFailure(build(context(`FROM scratch\nCOPY ${outside}/secret /s\n`)), /COPY failed: ".*\/outside\/secret": not found in the build context/);
      });

      describe("symlinks in the context pointing outside", () => {
        const links = (ctx: string) => {
          fs.symlinkSync("/etc", path.join(ctx, "abs"));
          fs.symlinkSync(outside, path.join(ctx, "hostdir"));
          fs.symlinkSync("../outside", path.join(ctx, "rel"));
          fs.symlinkSync("/etc/passwd", path.join(ctx, "passwd-link"));
          fs.symlinkSync("nowhere", path.join(ctx, "dangling"));
          return ctx;
        };

        test("are copied as symlinks by COPY . , never followed", async () => {
          const r = build(links(context("FROM scratch\nCOPY . /app/\n")));
          expect(r.code).toBe(0);
          const files = await imageFiles(r.layout);
          expect(files.get("app/abs")).toEqual({ type: "symlink", link: "/etc" });
          expect(files.get("app/hostdir")).toEqual({ type: "symlink", link: outside });
          expect(files.get("app/rel")).toEqual({ type: "symlink", link: "../outside" });
          expect(files.get("app/passwd-link")).toEqual({ type: "symlink", link: "/etc/passwd" });
          expect(files.get("app/dangling")).toEqual({ type: "symlink", link: "nowhere" });
          expect([...files.keys()].filter((k) => /^app\/(abs|hostdir|rel)\//.test(k))).toEqual([]);
          expect([...files.values()].some((e) => e.text?.includes("HOST") || e.text?.includes("root:x:0"))).toBe(false);
        });

        for (const [src, shown] of [
          ["abs/passwd", "abs/passwd"],
          ["hostdir/secret", "hostdir/secret"],
          ["rel/secret", "rel/secret"],
          ["passwd-link", "passwd-link"],
          ["dangling", "dangling"],
          ["abs/pass*", "abs/pass*"],
        ]) {
          test(`COPY ${src}: resolved inside the context only, so not found`, () => {
            const r = build(links(context(`FROM scratch\nCOPY ${src} /dst/\n`)));
            expectFailure(r, new RegExp(`Dockerfile:2: COPY failed: .*"${shown.replace("*", "\\*")}".*(not found|matched nothing)`));
          });
        }

        test("a symlink whose target exists inside the context is followed there", async () => {
          const ctx = links(context("FROM scratch\nCOPY passwd-link abs/shadow /dst/\n", { "etc/passwd": "ctx-passwd", "etc/shadow": "ctx-shadow" }));
          const r = build(ctx);
          expect(r.code).toBe(0);
          const files = await imageFiles(r.layout);
          expect(files.get("dst/passwd-link")?.text).toBe("ctx-passwd");
          expect(files.get("dst/shadow")?.text).toBe("ctx-shadow");
        });
      });

      test(".dockerignore excluding the Dockerfile and itself: the build still works", async () => {
        const ctx = context("FROM scratch\nCOPY . /app/\n", { ".dockerignore": "Dockerfile\n.dockerignore\n", "keep.txt": "kept" });
        const r = build(ctx);
        expect(r.code).toBe(0);
        const files = await imageFiles(r.layout);
        expect(files.get("app/keep.txt")?.text).toBe("kept");
        expect(files.has("app/Dockerfile")).toBe(false);
        expect(files.has("app/.dockerignore")).toBe(false);
      });

      test("a tar context with an entry climbing out is refused", async () => {
        const parts: Uint8Array[] = [];
        const w = new TarWriter((c) => void parts.push(c.slice()));
        const df = Buffer.from("FROM scratch\nCOPY . /\n");
        await w.add({ name: "Dockerfile", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: df.length }, df);
        await w.add({ name: "../escaped", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1 }, Buffer.from("!"));
        await w.finish();
        const tar = path.join(work, "evil-context.tar");
        fs.writeFileSync(tar, Buffer.concat(parts));
        const r = build(tar);
        expectFailure(r, /kiln: build context .*evil-context\.tar: entry "\.\.\/escaped" climbs out/);
        expect(fs.readdirSync(work).filter((f) => f.includes("escaped"))).toEqual([]);
      });
    });

    describe("big and unreadable contexts", () => {
      test("COPY . of 100,000 files works with 256 file descriptors", async () => {
        // On tmpfs (kiln's own work dir too, via TMPDIR): 100,000 inodes on a busy ext4 take ~30 s
        // to create and as long again to copy; the fd behaviour under test is the same.
        const shm = fs.existsSync("/dev/shm") ? fs.mkdtempSync("/dev/shm/kiln-hard-big-") : fs.mkdtempSync(path.join(work, "big-"));
        try {
          await bigContext(shm);
        } finally {
          fs.rmSync(shm, { recursive: true, force: true });
        }
      }, 240_000);

      async function bigContext(tmp: string): Promise<void> {
        const ctx = path.join(tmp, "ctx");
        fs.mkdirSync(ctx);
        fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPY . /app/\n");
        // 100 dirs × 1000 files with writeFileSync, the fast path on Bun.
        for (let d = 0; d < 100; d++) {
          const dir = path.join(ctx, `d${d}`);
          fs.mkdirSync(dir);
          for (let f = 0; f < 1000; f++) fs.writeFileSync(path.join(dir, `f${f}`), `${d}/${f}`);
        }
        const r = build(ctx, ["--compression", "none"], ["sh", "-c", 'ulimit -n 256 && exec "$@"', "sh"], tmp);
        expect(r.err).not.toMatch(/EMFILE|internal error/);
        expect(r.code).toBe(0);
        const files = await imageFiles(r.layout);
        expect([...files.keys()].filter((k) => /^app\/d\d+\/f\d+$/.test(k)).length).toBe(100_000);
        expect(files.get("app/d99/f999")?.text).toBe("99/999");
      }

      test("a FIFO in the context is named, with and without the cache (no hang)", () => {
        const ctx = context("FROM scratch\nCOPY . /app/\n", { "ok.txt": "ok" });
        spawnSync("mkfifo", [path.join(ctx, "pipe")]);
        expect(fs.lstatSync(path.join(ctx, "pipe")).isFIFO()).toBe(true);
        const msg = /Dockerfile:2: COPY: "pipe" is a special file \(device, fifo or socket\)/;
        expectFailure(build(ctx), msg);
        // --cache digests the sources first; opening a FIFO there would block forever.
        expectFailure(build(ctx, ["--cache", "--cache-repo", `oci:${path.join(work, `cache${n}`)}`]), msg);
      }, 60_000);

      describe("as a non-root user (setpriv --reuid=65534)", () => {
        const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
        const probe = spawnSync("setpriv", ["--version"]);
        if (probe.error) throw new Error("setpriv (util-linux) is required: apt-get install util-linux");

        const readable = (ctx: string) => {
          for (const f of fs.readdirSync(ctx)) fs.chmodSync(path.join(ctx, f), 0o644);
          return ctx;
        };

        test("a file with mode 000 is named", () => {
          const ctx = readable(context("FROM scratch\nCOPY . /app/\n", { "a.txt": "a", locked: "secret" }));
          fs.chmodSync(path.join(ctx, "locked"), 0o000);
          const r = build(ctx, [], nobody);
          expectFailure(r, /Dockerfile:2: COPY failed: cannot copy "locked": EACCES: permission denied/);
          fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPY locked /x\n");
          expectFailure(build(ctx, [], nobody), /Dockerfile:2: COPY failed: cannot copy "locked": EACCES/);
          fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPY . /app/\n");
          expectFailure(build(ctx, ["--cache", "--cache-repo", `oci:${path.join(work, `cache${n}`)}`], nobody), /Dockerfile:2: COPY failed: cannot read "locked": EACCES/);
        }, 60_000);

        test("a directory with mode 000 is named", () => {
          const ctx = readable(context("FROM scratch\nCOPY . /app/\n", { "sub/inner": "x" }));
          fs.chmodSync(path.join(ctx, "sub"), 0o000);
          expectFailure(build(ctx, [], nobody), /Dockerfile:2: COPY failed: cannot read directory "sub": EACCES/);
        }, 60_000);
      });
    });
  });
}
