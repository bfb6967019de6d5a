// Word expansion: pattern modifiers, quoting, escapes and word splitting.
import { describe, expect, test } from "bun:test";
import { ShellLex } from "../../src/dockerfile/index.ts";

const lex = new ShellLex("\\");
const word = (w: string, env: Record<string, string>) => lex.processWord(w, new Map(Object.entries(env)));

describe("pattern modifiers", () => {
  test("# and ## remove the shortest and longest prefix", () => {
    const env = { P: "/usr/local/lib/libfoo.so.1" };
    expect(word("${P#*/}", env)).toBe("usr/local/lib/libfoo.so.1");
    expect(word("${P##*/}", env)).toBe("libfoo.so.1");
    expect(word("${P#/usr}", env)).toBe("/local/lib/libfoo.so.1");
    expect(word("${P#nomatch}", env)).toBe("/usr/local/lib/libfoo.so.1");
    expect(word("${FOO#*x*y}", { FOO: "xxyy" })).toBe("y");
    expect(word("${FOO##*x}", { FOO: "xxyy" })).toBe("yy");
  });

  test("% and %% remove the shortest and longest suffix", () => {
    const env = { F: "archive.tar.gz" };
    expect(word("${F%.*}", env)).toBe("archive.tar");
    expect(word("${F%%.*}", env)).toBe("archive");
    expect(word("${F%.?z}", env)).toBe("archive.tar");
    expect(word("${FOO%%\\**}", { FOO: "xx**" })).toBe("xx");
    expect(word("${UNSET%x}", {})).toBe("");
  });

  test("/ replaces the first match, // every match", () => {
    const env = { V: "1.2.3", FOO: "/foo*/*/*.txt", N: "\\*/" };
    expect(word("${V/./-}", env)).toBe("1-2.3");
    expect(word("${V//./-}", env)).toBe("1-2-3");
    expect(word("${V//[0-9]/x}", env)).toBe("1.2.3"); // no bracket expressions: [ is literal
    expect(word("${FOO/$N/.} - ${FOO//$N/.}", env)).toBe("/foo.*/*.txt - /foo..*.txt");
    expect(word("${FOO//\\//\\/}", { FOO: "/tmp/foo.txt" })).toBe("\\/tmp\\/foo.txt");
  });

  test("// follows Go: no second replacement for an empty match right after a match", () => {
    expect(word("${V//*/y}", { V: "abc" })).toBe("y");
    expect(word("${V//?/-}", { V: "héé" })).toBe("---");
  });

  test("modifiers that are not supported are errors", () => {
    for (const w of ["${V:#x}", "${V:%x}", "${V=x}", "${V:=x}", "${V", "${}", "${V/x}", "${V#\\a}"]) {
      expect(() => word(w, { V: "v" }), w).toThrow();
    }
  });
});

describe("defaults, alternatives and errors", () => {
  test("set, empty and unset", () => {
    const env = { SET: "s", EMPTY: "" };
    expect(word("${SET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}", env)).toBe("s|d||d");
    expect(word("${SET:+a}|${EMPTY:+a}|${EMPTY+a}|${UNSET+a}", env)).toBe("a||a|");
    expect(word("${EMPTY?}", env)).toBe("");
    expect(() => word("${UNSET:?must be set}", env)).toThrow("UNSET: must be set");
    expect(() => word("${EMPTY:?}", env)).toThrow("EMPTY: is not allowed to be empty");
  });
});

describe("quotes, escapes and splitting", () => {
  test("escape token changes with the directive", () => {
    const tick = new ShellLex("`");
    expect(tick.processWord("C:\\path `$HOME", new Map([["HOME", "/h"]]))).toBe("C:\\path $HOME");
  });

  test("ProcessWords splits after expansion, not inside quotes", () => {
    const env = new Map([["A", "x  y"]]);
    expect(lex.processWords('$A "$A" \'$A\' a\\ b ""', env)).toEqual(["x", "y", "x  y", "$A", "a b"]);
  });
});
