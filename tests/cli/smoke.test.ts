// The CLI entry runs on both runtimes and validates flags before doing any work.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

function kiln(runtime: "bun" | "deno", ...args: string[]) {
  const cmd = runtime === "bun" ? [bin("bun"), "mod.ts", ...args] : [bin("deno"), "run", "-A", "mod.ts", ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.each(["bun", "deno"] as const)("kiln CLI on %s", (rt) => {
  test("--help lists the commands", () => {
    const r = kiln(rt, "--help");
    expect(r.code).toBe(0);
    for (const c of ["build", "parse", "copy", "version"]) expect(r.out).toContain(c);
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
      "--insecure-registry", "--skip-tls-verify", "--reproducible", "--label", "--digest-file", "--verbosity", "--log-format"]) {
      expect(r.out).toContain(f);
    }
  });
});

describe("flag validation", () => {
  test("unknown flag → exit 2 and a kiln: message", () => {
    const r = kiln("bun", "build", "--no-such-flag");
    expect(r.code).toBe(2);
    expect(r.err).toContain("kiln: unknown option '--no-such-flag'");
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
