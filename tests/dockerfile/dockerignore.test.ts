// .dockerignore rules with moby/patternmatcher semantics.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IgnoreMatcher, loadDockerignore, parseDockerignore } from "../../src/dockerfile/index.ts";

const m = (text: string) => IgnoreMatcher.fromText(text);

describe("patterns", () => {
  test("file syntax: comments, blank lines, leading /, cleaning, ! prefix", () => {
    expect(parseDockerignore("# comment\n\n  /build/  \n!./build/keep\n  # not a comment\n./a//b/../c\n")).toEqual([
      "build", "!build/keep", "# not a comment", "a/c",
    ]);
  });

  test("a pattern matching a directory excludes everything below it", () => {
    const ig = m("node_modules\n/dist\n");
    expect(ig.matches("node_modules")).toBe(true);
    expect(ig.matches("node_modules/x/y.js")).toBe(true);
    expect(ig.matches("dist/app.js")).toBe(true);
    expect(ig.matches("src/node_modules")).toBe(false);
    expect(ig.matches("distribution")).toBe(false);
  });

  test("** matches any number of directories, * and ? stay within one", () => {
    const ig = m("**/*.log\nsrc/**/test\n*.tmp\ndoc?\n");
    expect(ig.matches("a.log")).toBe(true);
    expect(ig.matches("x/y/z.log")).toBe(true);
    expect(ig.matches("src/test")).toBe(true);
    expect(ig.matches("src/a/b/test/file")).toBe(true);
    expect(ig.matches("top.tmp")).toBe(true);
    expect(ig.matches("dir/top.tmp")).toBe(false);
    expect(ig.matches("docs")).toBe(true);
    expect(ig.matches("docs2")).toBe(false);
  });

  test("! re-includes and the last matching rule wins", () => {
    const ig = m("*.md\n!README.md\nREADME*\n!docs\n");
    expect(ig.matches("CHANGES.md")).toBe(true);
    expect(ig.matches("README.md")).toBe(true); // README* comes after !README.md
    const ig2 = m("docs\n!docs/keep.md\n");
    expect(ig2.matches("docs/other.md")).toBe(true);
    expect(ig2.matches("docs/keep.md")).toBe(false);
    const ig3 = m("**\n!src/**\n!Dockerfile\n");
    expect(ig3.matches("secret.env")).toBe(true);
    expect(ig3.matches("src/main.ts")).toBe(false);
    expect(ig3.matches("Dockerfile")).toBe(false);
  });

  test("canSkipDir only when no ! rule can reach inside", () => {
    const ig = m("vendor\nbuild\n!build/keep/**\n");
    expect(ig.canSkipDir("vendor")).toBe(true);
    expect(ig.canSkipDir("build")).toBe(false);
    const deep = m("vendor\n!**/important.log\n");
    expect(deep.canSkipDir("vendor")).toBe(false); // **/ can reach below
    expect(deep.matches("vendor/a/important.log")).toBe(false);
    expect(m("vendor\n").canSkipDir("src")).toBe(false); // not excluded at all
    expect(m("a\n!b/x\n").canSkipDir("a")).toBe(true);
  });

  test("bad patterns are errors", () => {
    expect(() => m("[abc\n")).toThrow("syntax error in pattern");
    expect(() => m("!\n")).toThrow("illegal exclusion pattern");
  });
});

describe("loadDockerignore", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-ignore-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("<Dockerfile>.dockerignore wins over the context's .dockerignore", async () => {
    mkdirSync(join(dir, "ctx", "docker"), { recursive: true });
    writeFileSync(join(dir, "ctx", ".dockerignore"), "a\n");
    const df = join(dir, "ctx", "docker", "app.Dockerfile");
    expect((await loadDockerignore(join(dir, "ctx"), df)).patterns).toEqual(["a"]);
    writeFileSync(df + ".dockerignore", "b\n");
    const ig = await loadDockerignore(join(dir, "ctx"), df);
    expect(ig.patterns).toEqual(["b"]);
    expect(ig.source).toBe(df + ".dockerignore");
  });

  test("no file means nothing is ignored", async () => {
    const ig = await loadDockerignore(join(dir, "empty-does-not-exist"));
    expect(ig.patterns).toEqual([]);
    expect(ig.matches("anything")).toBe(false);
  });
});
