// Remote contexts (src/executor/context-remote.ts) against servers on 127.0.0.1: git over
// git's dumb HTTP protocol (git:// with GIT_PULL_METHOD=http, and http://….git), branches, tags,
// refs and commits, --git options, tar.gz archives, and the errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchRemoteContext, isRemoteContext } from "../../src/executor/context-remote.ts";
import { openContext } from "../../src/executor/context.ts";
import { requireTool } from "../env.ts";
import { makeRegistryCerts } from "../../scripts/lib/registry-certs.ts";
import { makeGitRepo, serveDir, type DirServer, type GitFixture } from "./remote-fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-context-remote-"));
let srv: DirServer;
let tlsSrv: DirServer;
let repo: GitFixture;
let n = 0;
const fresh = () => {
  const d = join(tmp, `ctx-${++n}`);
  mkdirSync(d);
  return d;
};
const which = (dir: string) => readFileSync(join(dir, "which.txt"), "utf8").trim();
const httpEnv = { ...process.env, GIT_PULL_METHOD: "http" };

beforeAll(async () => {
  requireTool("git", "git");
  requireTool("tar", "tar");
  const served = join(tmp, "served");
  mkdirSync(served);
  repo = makeGitRepo(served);
  const src = join(tmp, "tar-src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "Dockerfile"), "FROM scratch\nCOPY which.txt /\n");
  writeFileSync(join(src, "which.txt"), "tarball\n");
  writeFileSync(join(src, "sub", "x"), "x\n");
  execFileSync("tar", ["-czf", join(served, "context.tar.gz"), "-C", src, "."]);
  srv = await serveDir(served);
  requireTool("openssl", "openssl");
  // A server certificate for 127.0.0.1 from a CA that neither git nor the system trusts.
  const certs = await makeRegistryCerts(join(tmp, "certs"));
  tlsSrv = await serveDir(served, { key: readFileSync(certs.keyFile, "utf8"), cert: readFileSync(certs.certFile, "utf8") });
});
afterAll(async () => {
  await srv?.close();
  await tlsSrv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("git contexts", () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ["git:// (pulled over http with GIT_PULL_METHOD=http), default branch", "git://HOST/repo.git", {}, "main"],
    ["http://….git", "http://HOST/repo.git", {}, "main"],
    ["#branch", "git://HOST/repo.git#feature", {}, "feature"],
    ["#refs/heads/branch", "git://HOST/repo.git#refs/heads/feature", {}, "feature"],
    ["#refs/tags/tag", "git://HOST/repo.git#refs/tags/v1", {}, "first"],
    ["--git branch=", "git://HOST/repo.git", { branch: "feature" }, "feature"],
    ["--git branch=,single-branch=true", "git://HOST/repo.git", { branch: "feature", singleBranch: true }, "feature"],
    ["--git recurse-submodules=true (no submodules: still a clone)", "git://HOST/repo.git", { recurseSubmodules: true }, "main"],
  ];
  test.each(cases)("%s", async (_name, url, git, want) => {
    const dir = await fetchRemoteContext(url.replace("HOST", srv.host), fresh(), git, httpEnv);
    expect(which(dir)).toBe(want);
  });

  test("#ref#commit checks out that commit", async () => {
    const dir = await fetchRemoteContext(`git://${srv.host}/repo.git#main#${repo.commits.first}`, fresh(), {}, httpEnv);
    expect(which(dir)).toBe("first");
  });

  test("#ref that is not a branch or tag (a pull request) is fetched after the clone", async () => {
    const dir = await fetchRemoteContext(`git://${srv.host}/repo.git#refs/pull/1/head`, fresh(), {}, httpEnv);
    expect(execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).trim()).toBe(repo.commits.feature!);
  });

  test("single-branch clones only that branch", async () => {
    const dir = await fetchRemoteContext(`git://${srv.host}/repo.git`, fresh(), { branch: "feature", singleBranch: true }, httpEnv);
    const remotes = execFileSync("git", ["-C", dir, "branch", "-r"], { encoding: "utf8" });
    expect(remotes).toContain("origin/feature");
    expect(remotes).not.toContain("origin/main");
  });

  test("https with a certificate git does not trust: refused, unless insecure-skip-tls=true", async () => {
    const url = `${tlsSrv.url}/repo.git`;
    await expect(fetchRemoteContext(url, fresh(), {}, httpEnv)).rejects.toThrow(`build context ${url}: git clone:`);
    const dir = await fetchRemoteContext(url, fresh(), { insecureSkipTls: true }, httpEnv);
    expect(which(dir)).toBe("main");
  });

  test("openContext takes a git context and reads its Dockerfile", async () => {
    process.env.GIT_PULL_METHOD = "http";
    try {
      const ctx = await openContext({ context: `git://${srv.host}/repo.git#feature`, dockerfile: "Dockerfile", workDir: fresh() });
      expect(ctx.dockerfileText).toContain("LABEL which=feature");
    } finally {
      delete process.env.GIT_PULL_METHOD;
    }
  });

  test("a missing repository: one line naming the context, no credentials", async () => {
    let err: Error | undefined;
    try {
      await fetchRemoteContext(`http://user:s3cr3tpass@${srv.host}/nope.git`, fresh(), {}, httpEnv);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toStartWith(`build context http://${srv.host}/nope.git: git clone:`);
    expect(err?.message).not.toContain("s3cr3tpass");
    expect(err?.message).not.toContain("\n");
  });

  test("no git installed: says so and how to install it", async () => {
    let err: Error | undefined;
    try {
      await fetchRemoteContext(`git://${srv.host}/repo.git`, fresh(), {}, { ...httpEnv, PATH: join(tmp, "empty-path") });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain("needs the git command, which is not installed (apt-get install git");
  });
});

describe("tar.gz contexts over http(s)", () => {
  test("downloaded and unpacked", async () => {
    const dir = await fetchRemoteContext(`${srv.url}/context.tar.gz`, fresh());
    expect(which(dir)).toBe("tarball");
    expect(readFileSync(join(dir, "sub", "x"), "utf8")).toBe("x\n");
  });

  test("a 404 names the URL and the status", async () => {
    await expect(fetchRemoteContext(`${srv.url}/missing.tar.gz`, fresh())).rejects.toThrow(`build context ${srv.url}/missing.tar.gz: HTTP 404`);
  });

  test("not an archive", async () => {
    await expect(fetchRemoteContext(`${srv.url}/repo.git/HEAD`, fresh())).rejects.toThrow(`build context ${srv.url}/repo.git/HEAD`);
  });
});

test("isRemoteContext", () => {
  expect(["git://h/r", "https://h/c.tar.gz", "http://h/r.git"].map(isRemoteContext)).toEqual([true, true, true]);
  expect(["/dir", "dir://x", "tar://stdin", "s3://b/k"].map(isRemoteContext)).toEqual([false, false, false, false]);
});
