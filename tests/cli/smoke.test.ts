// The CLI entry runs on both runtimes and validates flags before doing any work.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { commandOf } from "../../src/cli/main.ts";
import { root, runtimes } from "../registry/kiln-runtimes.ts";

/** Unlike kilnCommand's runner: output untrimmed (the tests check whole lines) and NO_COLOR set. */
function kiln(runtime: "bun" | "deno", ...args: string[]) {
  const [exe, ...pre] = runtimes[runtime]!;
  const r = spawnSync(exe!, [...pre, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.each(["bun", "deno"] as const)("kiln CLI on %s", (rt) => {
  test("--help lists the commands", () => {
    const r = kiln(rt, "--help");
    expect(r.code).toBe(0);
    for (const c of ["build", "plan", "warm", "parse", "copy", "version"]) expect(r.out).toContain(c);
  });

  test("version names the runtime", () => {
    const r = kiln(rt, "version");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`runtime ${rt} \\d+\\.\\d+`));
  });

  test("build --help shows kaniko's flags", () => {
    const r = kiln(rt, "build", "--help");
    expect(r.code).toBe(0);
    for (const f of ["--dockerfile", "--context", "--destination", "--no-push", "--tar-path", "--oci-layout-path",
      "--build-arg", "--target", "--cache", "--cache-repo", "--cache-dir", "--cache-ttl", "--insecure",
      "--insecure-registry", "--skip-tls-verify", "--reproducible", "--label", "--digest-file", "--verbosity", "--log-format",
      "--registry-mirror", "--snapshot-mode", "--ignore-var-run", "--kaniko-dir"]) {
      expect(r.out).toContain(f);
    }
  });
});

describe("kaniko's entry names", () => {
  test("as executor, a subcommand name still selects it (index too); flags mean build", () => {
    expect(commandOf(["index", "inspect", "r/a:1"], "executor")).toEqual({ command: "index", rest: ["inspect", "r/a:1"] });
    expect(commandOf(["version"], "executor")).toEqual({ command: "version", rest: [] });
    expect(commandOf(["--no-push"], "executor")).toEqual({ command: "build", rest: ["--no-push"] });
    expect(commandOf(["-i", "busybox"], "warmer")).toEqual({ command: "warm", rest: ["-i", "busybox"] });
  });
});

describe("flag validation", () => {
  test("unknown flag → exit 2 and a kiln: message with a guess", () => {
    const r = kiln("bun", "build", "--no-such-flag");
    expect(r.code).toBe(2);
    expect(r.err).toBe("kiln: unknown flag --no-such-flag\n");
    const typo = kiln("bun", "build", "--destinaton=x");
    expect(typo.code).toBe(2);
    expect(typo.err).toBe("kiln: unknown flag --destinaton (did you mean --destination?)\n");
  });

  test("kaniko's entry: flags without a subcommand are `kiln build`", () => {
    const r = kiln("bun", "--cache=true", "--no-push", "-c", "/nonexistent/ctx");
    expect(r.code).toBe(2);
    expect(r.err).toBe("kiln: flag --context: /nonexistent/ctx: no such file or directory\n");
    const help = kiln("bun", "--help");
    expect(help.out).toContain("Commands:");
  });

  test("a positional word is refused", () => {
    const r = kiln("bun", "build", "--no-push", ".");
    expect(r.code).toBe(2);
    expect(r.err).toContain('kiln: unexpected argument "."');
  });

  test("s3://, gs://, az:// contexts name the flag and what to use instead", () => {
    for (const scheme of ["s3", "gs", "az"]) {
      const r = kiln("bun", "--no-push", "--context", `${scheme}://bucket/ctx.tar.gz`);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`kiln: flag --context: ${scheme}://bucket/ctx.tar.gz: ${scheme}:// contexts are not supported by kiln; download the archive and pass --context tar://FILE, or an https:// URL of a .tar.gz\n`);
    }
  });

  test("a malformed --git option names the flag", () => {
    const r = kiln("bun", "--no-push", "--context", "git://h/r.git", "--git", "depth=1");
    expect(r.code).toBe(2);
    expect(r.err).toContain('kiln: flag --git: unknown key "depth"');
  });

  test("kiln warm reads the pull flags as build does: the same one-line errors", () => {
    for (const [flag, want] of [
      ["--image-download-retry=x", 'kiln: flag --image-download-retry: "x": expected a whole number\n'],
      ["--registry-map=nohost", 'kiln: flag --registry-map: "nohost": expected ORIGINAL=REPLACEMENT (pairs separated by ;)\n'],
      ["--registry-client-cert=h=only-cert.pem", 'kiln: flag --registry-client-cert: "h=only-cert.pem": expected HOST=CERT_FILE,KEY_FILE\n'],
    ]) {
      const build = kiln("bun", "build", "--no-push", flag!);
      const warm = kiln("bun", "warm", "--image", "busybox", flag!);
      expect([build.code, build.err]).toEqual([2, want!]);
      expect([warm.code, warm.err]).toEqual([2, want!]);
    }
  });

  test("bad duration names the flag", () => {
    const r = kiln("bun", "build", "--no-push", "--cache-ttl", "soon");
    expect(r.code).toBe(2);
    expect(r.err).toContain('kiln: flag --cache-ttl: invalid duration "soon"');
  });

  test("missing context names the path", () => {
    const r = kiln("bun", "build", "--no-push", "-c", "/nonexistent/ctx");
    expect(r.code).toBe(2);
    expect(r.err).toContain("kiln: flag --context: /nonexistent/ctx: no such file or directory");
  });

  test("a push needs a destination", () => {
    const r = kiln("bun", "build", "-c", root);
    expect(r.code).toBe(2);
    expect(r.err).toContain("flag --destination");
  });

  test("--cache without a repo to infer from", () => {
    const r = kiln("bun", "build", "--no-push", "--cache", "-c", root);
    expect(r.code).toBe(2);
    expect(r.err).toContain("flag --cache: needs --cache-repo");
  });

  test("bad --build-arg", () => {
    const r = kiln("bun", "build", "--no-push", "--build-arg", "=x", "-c", root);
    expect(r.code).toBe(2);
    expect(r.err).toContain('flag --build-arg: "=x": empty key');
  });

  test("no stack trace on errors", () => {
    const r = kiln("bun", "build", "--no-push", "--cache-ttl", "1y");
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
