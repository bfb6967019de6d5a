import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aptSources, debianMirror, parseDeb822, parseOneLine } from "../../scripts/lib/apt-mirror.ts";
import { removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

// Placeholder hosts only: real mirror names must never be written into the repository.
describe("apt mirror discovery", () => {
  test("deb822 stanzas: multi-value fields, disabled stanzas, deb-src ignored", () => {
    const text = [
      "Types: deb deb-src",
      "# a comment",
      "URIs: http://mirror.invalid/debian",
      "Suites: bookworm bookworm-updates",
      "Components: main contrib",
      "",
      "Types: deb",
      "URIs: http://other.invalid/debian",
      "Suites: bookworm",
      "Components: main",
      "Enabled: no",
      "",
      "Types: deb-src",
      "URIs: http://src.invalid/debian",
      "Suites: bookworm",
      "Components: main",
    ].join("\n");
    expect(parseDeb822(text, "x")).toEqual([
      { uri: "http://mirror.invalid/debian", suites: ["bookworm", "bookworm-updates"], components: ["main", "contrib"], file: "x" },
    ]);
  });

  test("one-line format with options and comments", () => {
    const text = "# deb http://commented.invalid/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian/ bookworm main\ndeb-src http://src.invalid/debian bookworm main\n";
    expect(parseOneLine(text, "y")).toEqual([{ uri: "http://one.invalid/debian/", suites: ["bookworm"], components: ["main"], file: "y" }]);
  });

  test("picks the source that serves the suite, skipping security and disabled files", () => {
    const etc = tempDir("apt");
    mkdirSync(join(etc, "sources.list.d"));
    writeFileSync(join(etc, "sources.list"), "");
    writeFileSync(join(etc, "sources.list.d", "a.sources"), "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n");
    writeFileSync(join(etc, "sources.list.d", "b.list.disabled"), "deb http://off.invalid/debian bookworm main\n");
    writeFileSync(join(etc, "sources.list.d", "c.list"), "deb http://main.invalid/debian/ bookworm main\n");
    expect(aptSources(etc).map((s) => s.uri)).toEqual(["http://sec.invalid/debian-security", "http://main.invalid/debian/"]);
    const saved = process.env.KILN_DEBIAN_MIRROR;
    delete process.env.KILN_DEBIAN_MIRROR;
    try {
      expect(debianMirror("bookworm", etc)).toBe("http://main.invalid/debian");
      expect(() => debianMirror("trixie", etc)).toThrow(/no apt source for suite trixie/);
    } finally {
      if (saved !== undefined) process.env.KILN_DEBIAN_MIRROR = saved;
    }
  });

  test("this machine has a usable mirror for bookworm", () => {
    expect(debianMirror("bookworm")).toMatch(/^https?:\/\/\S+$/);
  });
});
