// --mount values against BuildKit's Dockerfile reference ("RUN --mount"): option names and
// aliases (target/dst/destination, source/src, ro/readonly, rw/readwrite), the default type
// (bind) and each type's documented defaults.
import { describe, expect, test } from "bun:test";
import { ShellLex } from "../../src/dockerfile/lexer.ts";
import { parseMountSpec, parseMountSpecs, parseSize, splitCsv } from "../../src/dockerfile/mount-spec.ts";

describe("parseMountSpec", () => {
  test("bind is the default type; source defaults to the root of from (the context); read-only unless rw", () => {
    expect(parseMountSpec("target=/src")).toEqual({ type: "bind", target: "/src", from: undefined, source: "/", readwrite: false });
    expect(parseMountSpec("type=bind,src=pkg.json,dst=/app/pkg.json,from=build,rw")).toEqual({ type: "bind", target: "/app/pkg.json", from: "build", source: "pkg.json", readwrite: true });
    expect(parseMountSpec("type=bind,destination=/x,readwrite=true")).toMatchObject({ target: "/x", readwrite: true });
    expect(parseMountSpec("type=bind,target=/x,rw=false")).toMatchObject({ readwrite: false });
  });

  test("cache: id defaults to the target, sharing to shared, mode 0755, uid/gid 0", () => {
    expect(parseMountSpec("type=cache,target=/root/.cache")).toEqual({
      type: "cache", target: "/root/.cache", id: "/root/.cache", readonly: false, sharing: "shared", from: undefined, source: "/", mode: 0o755, uid: 0, gid: 0,
    });
    expect(parseMountSpec("type=cache,id=apt,target=/var/cache/apt,sharing=locked,ro,mode=0700,uid=1000,gid=1000,from=base,source=/c")).toEqual({
      type: "cache", target: "/var/cache/apt", id: "apt", readonly: true, sharing: "locked", from: "base", source: "/c", mode: 0o700, uid: 1000, gid: 1000,
    });
  });

  test("tmpfs: size with units", () => {
    expect(parseMountSpec("type=tmpfs,target=/t")).toEqual({ type: "tmpfs", target: "/t", size: undefined });
    expect(parseMountSpec("type=tmpfs,target=/t,size=64m")).toEqual({ type: "tmpfs", target: "/t", size: 64 * 1024 * 1024 });
    expect(parseSize("1024")).toBe(1024);
    expect(parseSize("2G")).toBe(2 * 1024 ** 3);
  });

  test("secret: id defaults to the target's basename, target to /run/secrets/<id> unless env only; mode 0400", () => {
    expect(parseMountSpec("type=secret,id=aws")).toEqual({ type: "secret", id: "aws", target: "/run/secrets/aws", env: undefined, required: false, mode: 0o400, uid: 0, gid: 0 });
    expect(parseMountSpec("type=secret,target=/root/.npmrc")).toMatchObject({ id: ".npmrc", target: "/root/.npmrc" });
    expect(parseMountSpec("type=secret,id=API_KEY,env=API_KEY")).toMatchObject({ id: "API_KEY", target: undefined, env: "API_KEY" });
    expect(parseMountSpec("type=secret,id=k,env=K,target=/k,required")).toMatchObject({ target: "/k", env: "K", required: true });
    expect(parseMountSpec("type=secret,id=k,required=false,mode=0440,uid=1,gid=2")).toMatchObject({ required: false, mode: 0o440, uid: 1, gid: 2 });
  });

  test("ssh: id default, target /run/buildkit/ssh_agent.N, mode 0600", () => {
    expect(parseMountSpec("type=ssh")).toEqual({ type: "ssh", id: "default", target: "/run/buildkit/ssh_agent.0", required: false, mode: 0o600, uid: 0, gid: 0 });
    expect(parseMountSpecs(["type=ssh", "type=ssh,id=other"], "Dockerfile:2").map((s) => s.target)).toEqual(["/run/buildkit/ssh_agent.0", "/run/buildkit/ssh_agent.1"]);
  });

  test("option values take variables (the caller's expander); from= does not (resolved with the global ARGs)", () => {
    const lex = new ShellLex();
    const vars = new Map([["DIR", "/root/.npm"], ["S", "build"]]);
    expect(parseMountSpec("type=cache,target=$DIR,sharing=locked", 0, (v) => lex.processWord(v, vars))).toMatchObject({ target: "/root/.npm", id: "/root/.npm" });
    expect(parseMountSpec("from=$S,target=/x", 0, (v) => lex.processWord(v, vars))).toMatchObject({ from: "$S" });
  });

  test("CSV quoting as Go's encoding/csv", () => {
    expect(splitCsv(`type=bind,"target=/a,b",source=x`)).toEqual(["type=bind", "target=/a,b", "source=x"]);
    expect(parseMountSpec(`"target=/with,comma"`)).toMatchObject({ target: "/with,comma" });
  });

  test("bad input names the option and the Dockerfile line", () => {
    const bad: [string, string][] = [
      ["type=nfs,target=/x", `unsupported mount type "nfs"`],
      ["type=cache,target=/x,colour=red", `unknown mount option "colour"`],
      ["type=tmpfs,target=/x,id=1", `mount option "id" is not valid for type=tmpfs`],
      ["type=secret,id=a,size=1", `mount option "size" is not valid for type=secret`],
      ["type=cache", "mount type=cache needs a target"],
      ["type=bind,source=x", "mount type=bind needs a target"],
      ["type=secret", "mount type=secret needs an id or a target"],
      ["type=cache,target=/x,sharing=sometimes", `invalid sharing "sometimes"`],
      ["type=cache,target=/x,mode=rwx", `invalid mode "rwx"`],
      ["type=cache,target=/x,uid=-1", `invalid uid "-1"`],
      ["type=secret,id=a,required=maybe", `invalid value "maybe" for mount option required`],
      ["type=tmpfs,target=/x,size=lots", `invalid size "lots"`],
      ["type=bind,target", "mount option target needs a value"],
    ];
    for (const [raw, msg] of bad) {
      expect(() => parseMountSpecs([raw], "Dockerfile:7")).toThrow(`Dockerfile:7: ${msg}`);
    }
    expect(() => parseMountSpecs(["type=tmpfs,target=/x", "type=cache,target=/x/"], "Dockerfile:3")).toThrow("Dockerfile:3: two mounts on /x");
  });
});
