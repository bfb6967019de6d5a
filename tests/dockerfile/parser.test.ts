// Parser behaviour beyond BuildKit's shared cases: heredocs, directives, errors, spans.
import { describe, expect, test } from "bun:test";
import { DockerfileError } from "../../src/util/errors.ts";
import { dumpDockerfile, parseDockerfile } from "../../src/dockerfile/index.ts";

const parse = (text: string) => parseDockerfile(text);
const dump = (text: string) => dumpDockerfile(parse(text));

function errorOf(fn: () => unknown): DockerfileError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    return e as DockerfileError;
  }
  throw new Error("expected a DockerfileError");
}

describe("heredocs", () => {
  test("RUN <<EOF reads the body and keeps it out of the instruction list", () => {
    const ast = parse("FROM a\nRUN <<EOF\necho one\nFROM not-an-instruction\nEOF\nUSER me\n");
    expect(ast.instructions.map((i) => i.keyword)).toEqual(["from", "run", "user"]);
    const run = ast.instructions[1]!;
    expect(run.heredocs).toEqual([{ name: "EOF", fd: 0, expand: true, chomp: false, content: "echo one\nFROM not-an-instruction\n" }]);
    expect([run.line, run.endLine]).toEqual([2, 5]);
    expect(dumpDockerfile(ast)).toBe('(from "a")\n(run "<<EOF")\n(user "me")\n');
  });

  test("<<- strips leading tabs from the terminator line", () => {
    const ast = parse("FROM a\nRUN <<-END\n\techo hi\n\t\tEND\nUSER x\n");
    const run = ast.instructions[1]!;
    expect(run.heredocs[0]!.chomp).toBe(true);
    expect(run.heredocs[0]!.content).toBe("\techo hi\n");
    expect(ast.instructions).toHaveLength(3);
  });

  test("a quoted delimiter (any part) disables expansion", () => {
    for (const [opener, expand] of [["<<EOF", true], ['<<"EOF"', false], ["<<'EOF'", false], ['<<E"O"F', false]] as const) {
      const ast = parse(`FROM a\nRUN cat ${opener}\n$HOME\nEOF\n`);
      expect({ opener, h: ast.instructions[1]!.heredocs[0] }).toEqual({
        opener, h: { name: "EOF", fd: 0, expand, chomp: false, content: "$HOME\n" },
      });
    }
  });

  test("several heredocs on one line are read in order, with fds", () => {
    const ast = parse("FROM a\nRUN cat <<A 3<<B >out\none\nA\ntwo\nB\nRUN true\n");
    const run = ast.instructions[1]!;
    expect(run.heredocs.map((h) => [h.name, h.fd, h.content])).toEqual([["A", 0, "one\n"], ["B", 3, "two\n"]]);
    expect(run.endLine).toBe(6);
    expect(ast.instructions[2]!.line).toBe(7);
  });

  test("COPY <<EOF /dest and ONBUILD heredocs", () => {
    const ast = parse("FROM a\nCOPY <<A <<B /dest/\nfile a\nA\nfile b\nB\nONBUILD RUN <<X\nhi\nX\n");
    expect(dumpDockerfile(ast)).toBe('(from "a")\n(copy "<<A" "<<B" "/dest/")\n(onbuild (run "<<X"))\n');
    expect(ast.instructions[1]!.heredocs.map((h) => h.content)).toEqual(["file a\n", "file b\n"]);
    expect(ast.instructions[2]!.heredocs[0]!.content).toBe("hi\n");
  });

  test("a space after << still opens a heredoc (BuildKit >= 0.22)", () => {
    const ast = parse("FROM a\nRUN cat << EOF > /x\nhello\nEOF\n");
    expect(ast.instructions).toHaveLength(2);
    expect(ast.instructions[1]!.heredocs[0]!.name).toBe("EOF");
  });

  test("no heredoc in JSON form or quoted <<", () => {
    const ast = parse('FROM a\nRUN ["cat", "<<EOF"]\nRUN echo "<<EOF"\nUSER x\n');
    expect(ast.instructions.map((i) => i.heredocs.length)).toEqual([0, 0, 0, 0]);
  });

  test("a missing terminator is an error at the instruction's line", () => {
    const err = errorOf(() => parse("FROM a\n\nRUN <<EOF\necho\n"));
    expect(err.message).toBe("Dockerfile:3: unterminated heredoc <<EOF");
    expect(err.line).toBe(3);
  });
});

describe("directives and escapes", () => {
  test("backtick escape: continuation and literal backslashes", () => {
    const ast = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo done\n");
    expect(ast.escapeToken).toBe("`");
    expect(ast.directives).toEqual({ escape: "`" });
    expect(ast.instructions[1]!.args).toEqual(["dir c:\\   && echo done"]);
  });

  test("directives end at the first non-directive line", () => {
    const ast = parse("# syntax=foo\n# check=skip=all\n\n# escape=`\nFROM a\n");
    expect(ast.directives).toEqual({ syntax: "foo", check: "skip=all" });
    expect(ast.escapeToken).toBe("\\");
  });

  test("duplicate and invalid directives are errors", () => {
    expect(errorOf(() => parse("# escape=`\n# escape=\\\nFROM a\n")).message).toBe(
      "Dockerfile:2: only one escape parser directive can be used",
    );
    expect(errorOf(() => parse("# escape=x\nFROM a\n")).line).toBe(1);
  });

  test("comments and blank lines inside a continuation are skipped but counted", () => {
    const ast = parse("FROM a\nRUN one \\\n# note\n\n  two\nUSER u\n");
    expect(ast.instructions[1]!.args).toEqual(["one   two"]);
    expect([ast.instructions[1]!.line, ast.instructions[1]!.endLine]).toEqual([2, 5]);
    expect(ast.warnings).toHaveLength(1);
  });

  test("an escaped escape at end of line does not continue", () => {
    expect(dump("FROM a\nRUN echo \\\\\nUSER b\n")).toBe('(from "a")\n(run "echo \\\\\\\\")\n(user "b")\n');
  });

  test("a UTF-8 BOM is dropped", () => {
    expect(dump("\ufeffFROM a\n")).toBe('(from "a")\n');
  });
});

describe("forms and errors", () => {
  test("JSON with a non-string element is an error; invalid JSON is shell form", () => {
    expect(errorOf(() => parse('FROM a\nCMD ["a", 1]\n')).message).toContain("Dockerfile:2: when using JSON array syntax");
    expect(dump("FROM a\nCMD [a]\n")).toBe('(from "a")\n(cmd "[a]")\n');
  });

  test("flags: quotes removed, -- ends flags, flags on every instruction", () => {
    expect(dump('FROM a\nCOPY --chown="a b" --link -- --x /y\n')).toBe(
      '(from "a")\n(copy ["--chown=a b" "--link"] "--x" "/y")\n',
    );
  });

  test("ENV/LABEL/ARG argument shapes", () => {
    expect(dump('FROM a\nENV A=1 B="x y"\nLABEL k v w\nARG x y=2\n')).toBe(
      '(from "a")\n(env "A" "1" "=" "B" "\\"x y\\"" "=")\n(label "k" "v w" "")\n(arg "x" "y=2")\n',
    );
    expect(errorOf(() => parse("FROM a\nENV A=1 B\n")).line).toBe(2);
  });

  test("nested ONBUILD and unknown instructions", () => {
    expect(dump("FROM a\nONBUILD ADD --chown=x . /app\nBOGUS whatever\n")).toBe(
      '(from "a")\n(onbuild (add ["--chown=x"] "." "/app"))\n(bogus "")\n',
    );
  });

  test("empty file, only comments, and too-long lines", () => {
    expect(errorOf(() => parse("")).message).toBe("Dockerfile:1: file with no instructions");
    expect(errorOf(() => parse("# a\n\n# b\n")).message).toBe("Dockerfile:3: file with no instructions");
    expect(errorOf(() => parse(`FROM a\nRUN ${"x".repeat(70000)}\n`)).line).toBe(2);
    expect(parse(`FROM a\nRUN ${"x".repeat(60000)}\n`).instructions).toHaveLength(2);
  });

  test("errors name the file given", () => {
    expect(() => parseDockerfile("FROM a\nENV\tONLYKEY\n", "app/Dockerfile.dev")).toThrow(
      "app/Dockerfile.dev:2: ENV must have two arguments",
    );
  });
});
