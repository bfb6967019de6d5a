// BuildKit's own parser and lexer test data, read byte for byte from the shared folder.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dumpDockerfile, parseDockerfile, ShellLex } from "../../src/dockerfile/index.ts";

const ROOT = fileURLToPath(new URL("../../../shared/conformance/buildkit/", import.meta.url));
if (!existsSync(`${ROOT}FORMAT.md`)) throw new Error(`BuildKit conformance data not found at ${ROOT}`);

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const read = (path: string) => utf8.decode(readFileSync(ROOT + path));

describe("parser cases", () => {
  const positive = readdirSync(ROOT + "parser/testfiles").sort();
  const negative = readdirSync(ROOT + "parser/testfiles-negative").sort();

  test("all positive cases dump exactly to result", () => {
    let ran = 0;
    for (const name of positive) {
      const ast = parseDockerfile(read(`parser/testfiles/${name}/Dockerfile`));
      expect({ name, dump: dumpDockerfile(ast) }).toEqual({ name, dump: read(`parser/testfiles/${name}/result`) });
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(33);
  });

  test("all negative cases fail to parse", () => {
    let ran = 0;
    for (const name of negative) {
      expect(() => parseDockerfile(read(`parser/testfiles-negative/${name}/Dockerfile`)), name).toThrow();
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(4);
  });

  test("line spans match testfile-line", () => {
    const ast = parseDockerfile(read("parser/testfile-line/Dockerfile"));
    expect([ast.startLine, ast.endLine]).toEqual([5, 31]);
    expect(ast.instructions.map((i) => [i.line, i.endLine])).toEqual([[5, 5], [11, 12], [17, 31]]);
  });
});

describe("shell lexer tables", () => {
  test("envVarTest: every Linux row", () => {
    const env = new Map([["PWD", "/home"], ["SHELL", "bash"], ["KOREAN", "한국어"], ["NULL", ""]]);
    const lex = new ShellLex("\\");
    let ran = 0;
    for (const raw of read("shell/envVarTest").split("\n")) {
      if (raw.startsWith("#") || raw.trim() === "") continue;
      const fields = raw.trim().split("|").map((s) => s.trim());
      expect(fields.length).toBe(3);
      const [platform, input, want] = fields as [string, string, string];
      if (platform === "W") continue;
      let got: string;
      try {
        got = lex.processWord(input, env);
      } catch {
        got = "error";
      }
      expect({ input, got }).toEqual({ input, got: want });
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(228);
  });

  test("wordsTest: every row", () => {
    const env = new Map<string, string>();
    const lex = new ShellLex("\\");
    let ran = 0;
    let envRows = 0;
    for (const raw of read("shell/wordsTest").split("\n")) {
      if (raw === "" || raw.startsWith("#")) continue;
      if (raw.startsWith("ENV ")) {
        const def = raw.slice(3).replace(/^ +/, "");
        const eq = def.indexOf("=");
        env.set(def.slice(0, eq), def.slice(eq + 1));
        envRows++;
        continue;
      }
      const parts = raw.split("|");
      expect(parts.length).toBe(2);
      const input = parts[0]!.trim();
      const want = parts[1]!.replace(/^ +/, "").split(",");
      let got: string[];
      try {
        got = lex.processWords(input, env);
      } catch {
        got = ["error"];
      }
      expect({ input, got }).toEqual({ input, got: want });
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(24);
    expect(envRows).toBeGreaterThanOrEqual(4);
  });
});
