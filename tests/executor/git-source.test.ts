// ADD <git URL> (BuildKit git sources) against a dumb-HTTP git server on 127.0.0.1: which sources
// are git (BuildKit's util/gitutil/git_ref.go ParseGitRef: an http(s) URL only when its path ends
// in ".git"), refs, tags, commits and #ref:subdir, --keep-git-dir (BuildKit's default: no .git),
// --checksum=<commit> (moby/buildkit#5975), file times = the commit's time (BuildKit's
// git.mtime=commit, moby/buildkit#6600), the errors, and a cached build that does not clone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { copyInto, describeSources, type CopySpec } from "../../src/executor/copy/index.ts";
import { parseGitSource } from "../../src/executor/git-source.ts";
import { registry, baseImages, requireTool } from "../env.ts";
import { serveDir, type DirServer } from "../cli/remote-fixtures.ts";
import { imageFiles } from "./image-files.ts";
import { hitMiss, kilnBuildAsync } from "./kiln-build.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-git-source-"));
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t", GIT_CONFIG_NOSYSTEM: "1", HOME: "/nonexistent" };
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
let srv: DirServer;
const commits: Record<string, string> = {};
let work = "";
let bare = "";

/** Commit `files` on the current branch of the work tree and publish it to the served bare repo. */
function commit(name: string, files: Record<string, string>, date: number): string {
  for (const [f, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
    fs.writeFileSync(path.join(work, f), data);
  }
  git(work, "add", "-A");
  execFileSync("git", ["commit", "-q", "-m", name], { cwd: work, env: { ...GIT_ENV, GIT_COMMITTER_DATE: `@${date} +0000`, GIT_AUTHOR_DATE: `@${date} +0000` } });
  return (commits[name] = git(work, "rev-parse", "HEAD"));
}
function publish(): void {
  fs.rmSync(bare, { recursive: true, force: true });
  git(path.dirname(bare), "clone", "-q", "--bare", work, bare);
  git(bare, "update-server-info");
}

beforeAll(async () => {
  requireTool("git", "git");
  const served = path.join(tmp, "served");
  work = path.join(tmp, "work");
  bare = path.join(served, "repo.git");
  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(served);
  git(work, "init", "-q", "-b", "main");
  commit("first", { "which.txt": "first\n", "sub/inner.txt": "inner first\n" }, 1_600_000_000);
  fs.chmodSync(path.join(work, "which.txt"), 0o755);
  commit("second", { "which.txt": "second\n", "sub/inner.txt": "inner second\n" }, 1_700_000_000);
  git(work, "tag", "-a", "v1", "-m", "v1", commits.first!);
  git(work, "checkout", "-q", "-b", "feature");
  commit("feature", { "which.txt": "feature\n" }, 1_650_000_000);
  git(work, "checkout", "-q", "main");
  fs.writeFileSync(path.join(served, "plain.txt"), "plain\n");
  publish();
  srv = await serveDir(served);
});
afterAll(async () => {
  await srv?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("which sources are git (BuildKit's ParseGitRef)", () => {
  test.each([
    ["https://example.invalid/org/repo.git", { remote: "https://example.invalid/org/repo.git" }],
    ["https://example.invalid/org/repo.git#v1.2:docs", { remote: "https://example.invalid/org/repo.git", ref: "v1.2", subdir: "docs" }],
    ["http://example.invalid/repo.git#main", { remote: "http://example.invalid/repo.git", ref: "main" }],
    ["git://example.invalid/repo#:sub", { remote: "git://example.invalid/repo", subdir: "sub" }],
    ["ssh://git@example.invalid/repo", { remote: "ssh://git@example.invalid/repo" }],
    ["git@example.invalid:org/repo.git#main", { remote: "git@example.invalid:org/repo.git", ref: "main" }],
  ])("%s is git", (src, want) => expect(parseGitSource(src)).toEqual(want));
  test.each(["https://example.invalid/file.tar.gz", "https://example.invalid/repo.git.tar", "https://example.invalid/repo?x=.git", "github.com/org/repo", "./repo.git", "repo.git", "user@host"])("%s is not", (src) => {
    expect(parseGitSource(src)).toBeUndefined();
  });
});

let n = 0;
function spec(over: Partial<CopySpec>): CopySpec {
  const rootfs = path.join(tmp, `rootfs-${++n}`);
  fs.mkdirSync(rootfs);
  return { rootfs, sourceRoot: tmp, sources: [], dest: "/app/", workdir: "/", isAdd: true, tmpDir: tmp, ...over };
}
const R = (s: CopySpec, p: string) => path.join(s.rootfs, p);
const url = (frag = "") => `${srv.url}/repo.git${frag}`;

describe("ADD <git URL>", () => {
  test("default branch: the files, no .git, owner 0:0, times = the commit's time", async () => {
    const s = spec({ sources: [url()] });
    await copyInto(s);
    expect(fs.readFileSync(R(s, "app/which.txt"), "utf8")).toBe("second\n");
    expect(fs.readFileSync(R(s, "app/sub/inner.txt"), "utf8")).toBe("inner second\n");
    expect(fs.existsSync(R(s, "app/.git"))).toBe(false);
    expect(fs.statSync(R(s, "app/which.txt")).mtimeMs / 1000).toBe(1_700_000_000);
    expect(fs.statSync(R(s, "app/sub")).mtimeMs / 1000).toBe(1_700_000_000);
    expect(fs.statSync(R(s, "app/which.txt")).mode & 0o777).toBe(0o755);
    if (process.getuid?.() === 0) expect(fs.statSync(R(s, "app/which.txt")).uid).toBe(0);
  });

  test.each([
    ["#feature", "feature\n"],
    ["#v1 (annotated tag: its commit)", "first\n"],
    ["#refs/heads/feature", "feature\n"],
    ["#COMMIT", "first\n"],
  ])("%s", async (frag, want) => {
    const f = frag.split(" ")[0]!.replace("COMMIT", commits.first!);
    const s = spec({ sources: [url(f)] });
    await copyInto(s);
    expect(fs.readFileSync(R(s, "app/which.txt"), "utf8")).toBe(want);
  });

  test("#ref:subdir copies that directory's contents; a missing one is an error", async () => {
    const s = spec({ sources: [url("#v1:sub")], dest: "/x" });
    await copyInto(s);
    expect(fs.readdirSync(R(s, "x"))).toEqual(["inner.txt"]);
    expect(fs.readFileSync(R(s, "x/inner.txt"), "utf8")).toBe("inner first\n");
    await expect(copyInto(spec({ sources: [url("#main:nope")] }))).rejects.toThrow(/subdirectory "nope" is not a directory/);
  });

  test("submodules are checked out too", async () => {
    // A second repository, served next to the first, added as a submodule on a branch.
    const lib = path.join(tmp, "lib-work");
    fs.mkdirSync(lib);
    git(lib, "init", "-q", "-b", "main");
    fs.writeFileSync(path.join(lib, "lib.txt"), "lib\n");
    git(lib, "add", "-A");
    git(lib, "commit", "-q", "-m", "lib");
    const libBare = path.join(path.dirname(bare), "lib.git");
    git(tmp, "clone", "-q", "--bare", lib, libBare);
    git(libBare, "update-server-info");
    git(work, "checkout", "-q", "-b", "with-sub");
    // Added from the local path (git here blocks this process, which serves HTTP), then pointed at the server.
    git(work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", libBare, "vendor/lib");
    git(work, "config", "-f", ".gitmodules", "submodule.vendor/lib.url", `${srv.url}/lib.git`);
    commit("with-sub", {}, 1_720_000_000);
    git(work, "checkout", "-q", "main");
    publish();
    const s = spec({ sources: [url("#with-sub")] });
    await copyInto(s);
    expect(fs.readFileSync(R(s, "app/vendor/lib/lib.txt"), "utf8")).toBe("lib\n");
    expect(fs.existsSync(R(s, "app/vendor/lib/.git"))).toBe(false);
  });

  test("--keep-git-dir keeps .git at the checked-out commit", async () => {
    const s = spec({ sources: [url("#feature")], keepGitDir: true });
    await copyInto(s);
    expect(git(R(s, "app"), "rev-parse", "HEAD")).toBe(commits.feature!);
  });

  test("--checksum pins the commit", async () => {
    await copyInto(spec({ sources: [url("#main")], checksum: commits.second! }));
    await expect(copyInto(spec({ sources: [url("#main")], checksum: commits.first! }))).rejects.toThrow(`checksum mismatch: expected commit ${commits.first}, main is ${commits.second}`);
    await expect(copyInto(spec({ sources: [url()], checksum: "sha256:" + "0".repeat(64) }))).rejects.toThrow(/give the full commit id/);
  });

  test("the copy takes the commit the cache key holds: a ref that moved in between is an error", async () => {
    const src = url("#main");
    await copyInto(spec({ sources: [src], gitCommits: { [src]: commits.second! } }));
    await expect(copyInto(spec({ sources: [src], gitCommits: { [src]: commits.first! } }))).rejects.toThrow(`main moved from ${commits.first} to ${commits.second} during the build`);
  });

  test("a ref that does not exist is an error naming it; nothing is written", async () => {
    const s = spec({ sources: [url("#nope")] });
    await expect(copyInto(s)).rejects.toThrow(`ADD ${url("#nope")}: git ref "nope" does not exist in ${url()}`);
    expect(fs.readdirSync(s.rootfs)).toEqual([]);
  });

  test("without git the error says how to install it", async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmp, "no-bin");
    try {
      await expect(copyInto(spec({ sources: [url()] }))).rejects.toThrow(/needs the git command, which is not installed \(apt-get install git/);
    } finally {
      process.env.PATH = saved;
    }
  });

  test("an http URL without .git is a plain download", async () => {
    const s = spec({ sources: [`${srv.url}/plain.txt`] });
    await copyInto(s);
    expect(fs.readFileSync(R(s, "app/plain.txt"), "utf8")).toBe("plain\n");
  });

  test("the cache key reads the resolved commit (ls-remote, no clone)", async () => {
    const before = srv.requests.length;
    const [e] = await describeSources(spec({ sources: [url("#v1")] }));
    expect(e).toMatchObject({ path: url("#v1"), type: "git", digest: "git:" + commits.first });
    const asked = srv.requests.slice(before);
    expect(asked).toContain("/repo.git/info/refs");
    expect(asked.filter((r) => r.includes("/objects/"))).toEqual([]);
  });
});

test("kiln build: ADD of a git source, cached by commit; a new commit is a miss", async () => {
  const reg = await registry();
  const bases = await baseImages();
  const ctx = path.join(tmp, "ctx");
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${bases.busybox}\nADD ${url("#main")} /src\nRUN cat /src/which.txt > /out\n`);
  // Not spawnSync: the git server runs in this process and must keep answering.
  const build = async (tag: string) => {
    const b = await kilnBuildAsync(tmp, ctx, `${reg.host}/git/app:${tag}`, ["--cache", "--cache-repo", `${reg.host}/git/cache`]);
    expect(b.code, b.err).toBe(0);
    return hitMiss(b);
  };
  expect(await build("a")).toBe("MM");
  const img = await imageFiles(`${reg.host}/git/app:a`);
  expect(img.content.get("out")).toBe("second\n");
  expect(img.files.has("src/.git")).toBe(false);
  const before = srv.requests.length;
  expect(await build("b")).toBe("HH");
  expect(srv.requests.slice(before).filter((r) => r.includes("/objects/"))).toEqual([]); // no clone
  commit("third", { "which.txt": "third\n" }, 1_710_000_000);
  publish();
  expect(await build("c")).toBe("MM");
  expect((await imageFiles(`${reg.host}/git/app:c`)).content.get("out")).toBe("third\n");
  // A ref that does not exist: exit 1, the Dockerfile line and the ref named, nothing pushed.
  fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${bases.busybox}\nADD ${url("#nope")} /src\n`);
  const bad = await kilnBuildAsync(tmp, ctx, `${reg.host}/git/app:bad`, []);
  expect(bad.code).toBe(1);
  expect(bad.err).toContain(`Dockerfile:2: ADD ${url("#nope")}: git ref "nope" does not exist in ${url()}`);
  await expect(imageFiles(`${reg.host}/git/app:bad`)).rejects.toThrow();
}, 300_000);
