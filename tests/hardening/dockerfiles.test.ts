// Malformed Dockerfiles and flags through the real CLI: each fails with `kiln: Dockerfile:LINE: …`
// (exit 1) or `kiln: flag --x: …` (exit 2), as README documents, with no stack trace and no output
// written. Cases fail at parse or plan time or on FROM scratch, so no registry is needed, except
// the last test, which checks that failing builds push nothing to the real local registry.
// No case names an image that would be pulled from a remote registry.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { registry } from "../env.ts";

const root = path.join(import.meta.dir, "..", "..");
const bun = path.join(root, "node_modules", ".bin", "bun");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-df-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let n = 0;
/** `raw`: only -c is added (no --no-push, no output paths). */
function kiln(args: string[], dockerfile: string, opts: { raw?: boolean } = {}) {
  const ctx = path.join(work, `c${++n}`);
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, "Dockerfile"), dockerfile);
  fs.writeFileSync(path.join(ctx, "a"), "a");
  const out = path.join(work, `out${n}`);
  const outputs = opts.raw ? [] : ["--no-push", "--oci-layout-path", `${out}.layout`, "--tar-path", `${out}.tar`];
  const full = args[0] === "build" ? [...args, "-c", ctx, ...outputs] : [...args, path.join(ctx, "Dockerfile")];
  const r = spawnSync(bun, [path.join(root, "mod.ts"), ...full], { cwd: work, encoding: "utf8", timeout: 30_000, env: { ...process.env, NO_COLOR: "1" } });
  if (r.error) throw r.error;
  return { code: r.status, err: r.stderr, outputs: [`${out}.layout`, `${out}.tar`].filter((p) => fs.existsSync(p)) };
}

function expectClean(r: ReturnType<typeof kiln>, code: number, message: RegExp): void {
  const last = r.err.trimEnd().split("\n").filter((l) => l.startsWith("kiln:"));
  expect(last.join("\n")).toMatch(message);
  expect(r.code).toBe(code);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).not.toContain("internal error");
  expect(r.outputs).toEqual([]);
}

// [name, Dockerfile, line, message]: `kiln build` exits 1 with `kiln: Dockerfile:LINE: message`.
const dockerfileCases: [string, string, number, RegExp][] = [
  ["unknown instruction", "FROM scratch\nFOO bar\n", 2, /unknown instruction: FOO/],
  ["non-string in exec form", 'FROM scratch\nCMD ["a", 1]\n', 2, /JSON array syntax, arrays must be comprised of strings only/],
  ["unterminated heredoc", "FROM scratch\nCOPY <<EOF /x\nhello\n", 2, /unterminated heredoc <<EOF/],
  ["--from naming an undefined stage index", "FROM scratch\nCOPY --from=5 /a /b\n", 2, /invalid stage index 5/],
  ["--from that is neither a stage nor a reference", "FROM scratch\nCOPY --from=Bad!Name /a /b\n", 2, /invalid image reference "Bad!Name"/],
  ["empty --from", "FROM scratch\nCOPY --from= /a /b\n", 2, /invalid image reference ""/],
  ["circular stage references", "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /x /x\n", 2, /cannot copy from stage "b", it needs to be defined before current stage "a"/],
  ["a stage copying from itself", "FROM scratch AS a\nCOPY --from=a /x /x\n", 2, /circular dependency: stage "a" refers to itself/],
  ["bad --chmod digits", "FROM scratch\nCOPY --chmod=999 a /a\n", 2, /--chmod=999: invalid mode/],
  ["symbolic --chmod", "FROM scratch\nCOPY --chmod=u+x a /a\n", 2, /--chmod=u\+x: invalid mode/],
  ["uppercase image reference", "FROM UPPER/Case:tag\n", 1, /invalid image reference "UPPER\/Case:tag": repository name must be lowercase/],
  ["garbage digest in a reference", "FROM a:b:c@@\n", 1, /invalid image reference "a:b:c@@"/],
  ["duration without unit", "FROM scratch\nHEALTHCHECK --interval=5 CMD true\n", 2, /invalid duration "5"/],
  ["duration that is not a number", "FROM scratch\nHEALTHCHECK --timeout=abc CMD true\n", 2, /invalid duration "abc"/],
  ["negative start period", "FROM scratch\nHEALTHCHECK --start-period=-1s CMD x\n", 2, /start-period/],
  ["negative retries", "FROM scratch\nHEALTHCHECK --retries=-1 CMD true\n", 2, /--retries cannot be negative/],
  ["unknown HEALTHCHECK type", "FROM scratch\nHEALTHCHECK FOO\n", 2, /Unknown type "FOO" in HEALTHCHECK/],
  ["empty FROM", "FROM\n", 1, /FROM requires either one or three arguments/],
  ["FROM x IS y", "FROM scratch IS x\n", 1, /FROM requires either one or three arguments/],
  ["FROM of an undefined ARG", "ARG X\nFROM $X\n", 2, /base name \(\$X\) should not be blank/],
  ["instruction before the first FROM", "ARG V=1\nRUN echo\nFROM scratch\n", 2, /RUN before the first FROM/],
  ["bad stage name", "FROM scratch AS 1bad!\n", 1, /invalid name for build stage: "1bad!"/],
  ["EXPOSE port above 65535", "FROM scratch\nEXPOSE 99999\n", 2, /invalid port in EXPOSE: "99999" \(ports are 0-65535\)/],
  ["EXPOSE word", "FROM scratch\nEXPOSE abc/tcp\n", 2, /invalid port in EXPOSE: "abc\/tcp"/],
  ["EXPOSE protocol", "FROM scratch\nEXPOSE 80/xyz\n", 2, /invalid port in EXPOSE: "80\/xyz"/],
  ["EXPOSE backwards range", "FROM scratch\nEXPOSE 90-80\n", 2, /invalid port range in EXPOSE: "90-80"/],
  ["STOPSIGNAL name", "FROM scratch\nSTOPSIGNAL SIGFOO\n", 2, /Invalid signal: SIGFOO/],
  ["STOPSIGNAL number", "FROM scratch\nSTOPSIGNAL 999\n", 2, /Invalid signal: 999/],
  ["unknown flag on COPY", "FROM scratch\nCOPY --foo=bar a /a\n", 2, /unknown flag: foo/],
  ["--checksum on COPY", "FROM scratch\nCOPY --checksum=sha256:abc a /a\n", 2, /unknown flag: checksum/],
  ["flag without value", "FROM scratch\nCOPY --exclude a /a\n", 2, /missing a value on flag: exclude/],
  ["non-boolean --link", "FROM scratch\nCOPY --link=maybe a /a\n", 2, /expecting boolean value for flag link, not: maybe/],
  ["ENV without value", "FROM scratch\nENV FOO\n", 2, /ENV must have two arguments/],
  ["ENV with an empty name", "FROM scratch\nENV =x\n", 2, /ENV names can not be blank/],
  ["unterminated ${", "FROM scratch\nENV A=${B\n", 2, /failed to process "\$\{B": syntax error: missing '}'/],
  ["${VAR:?} of an unset variable", "FROM scratch\nENV A=${B:?missing}\n", 2, /B: missing/],
  ["unknown --platform word", "FROM --platform=notaplatform scratch\n", 1, /invalid platform "notaplatform": unknown operating system or architecture/],
  ["--platform with four parts", "FROM --platform=linux/amd64/v3/x scratch\n", 1, /invalid platform "linux\/amd64\/v3\/x"/],
  ["COPY with one argument", "FROM scratch\nCOPY a\n", 2, /COPY requires at least two arguments/],
  ["WORKDIR of an empty variable", "FROM scratch\nWORKDIR $NOPE\n", 2, /WORKDIR path can not be empty/],
  ["ONBUILD FROM", "FROM scratch\nONBUILD FROM x\n", 2, /FROM isn't allowed as an ONBUILD trigger/],
  ["ONBUILD ONBUILD", "FROM scratch\nONBUILD ONBUILD RUN x\n", 2, /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/],
  ["SHELL in shell form", "FROM scratch\nSHELL /bin/sh -c\n", 2, /SHELL requires the arguments to be in JSON form/],
  ["bad escape directive", "# escape=x\nFROM scratch\n", 1, /invalid escape token 'x'/],
  ["RUN --mount of an unknown type", "FROM scratch\nRUN --mount=type=bogus true\n", 2, /unsupported mount type "bogus"/],
  ["RUN --network of an unknown mode", "FROM scratch\nRUN --network=weird true\n", 2, /network mode "weird" not supported/],
  ["RUN --security of an unknown mode", "FROM scratch\nRUN --security=lax true\n", 2, /security mode "lax" not supported/],
  ["ADD --checksum of a local file", "FROM scratch\nADD --checksum=sha256:abc a /a\n", 2, /ADD --checksum works only with http\(s\) URL sources/],
  ["--chown of an unknown user", "FROM scratch\nCOPY --chown=nouser a /a\n", 2, /--chown=nouser: unable to find user nouser/],
  ["binary garbage", "\u0000\u0001\u0002\n", 1, /unknown instruction/],
];

// [name, extra args, message]: `kiln build` exits 2 with `kiln: flag --x: message` (or commander's).
const flagCases: [string, string[], RegExp][] = [
  ["--target naming no stage", ["--target", "nope"], /^kiln: flag --target: target stage "nope" could not be found$/],
  ["bad --destination", ["-d", "Bad Ref!!"], /^kiln: flag --destination: Bad Ref!!: invalid image reference/],
  ["bad --cache-ttl", ["--cache-ttl", "5parsecs"], /^kiln: flag --cache-ttl: invalid duration "5parsecs"/],
  ["bad --custom-platform", ["--custom-platform", "bogus"], /^kiln: flag --custom-platform: invalid platform "bogus"/],
  ["--build-arg with an empty key", ["--build-arg", "=x"], /^kiln: flag --build-arg: "=x": empty key/],
  ["--label without =", ["--label", "nolabel"], /^kiln: flag --label: "nolabel": expected KEY=VALUE/],
  ["--registry-certificate without =", ["--registry-certificate", "nohost"], /^kiln: flag --registry-certificate: "nohost": expected KEY=VALUE/],
  ["--compression-level not a number", ["--compression-level", "abc"], /^kiln: flag --compression-level: "abc": expected a whole number/],
  ["--context-sub-path climbing out", ["--context-sub-path", "../.."], /^kiln: flag --context-sub-path: "\.\.\/\.\." leaves the build context/],
  ["missing -f Dockerfile", ["-f", "nope/Dockerfile"], /^kiln: flag --dockerfile: Dockerfile not found/],
  ["unknown flag", ["--frobnicate"], /^kiln: unknown flag --frobnicate$/],
  ["bad --compression choice", ["--compression", "lzma"], /^kiln: flag --compression: "lzma": expected one of gzip, zstd, none$/],
  ["no destination and no --no-push", [], /^kiln: flag --destination: required unless --no-push/],
];

describe("malformed Dockerfiles: kiln: Dockerfile:LINE: message, exit 1", () => {
  test("the table is big enough", () => expect(dockerfileCases.length).toBeGreaterThanOrEqual(30));
  for (const [name, text, line, message] of dockerfileCases) {
    test(name, () => {
      const r = kiln(["build"], text);
      expectClean(r, 1, new RegExp(`^kiln: Dockerfile:${line}: .*${message.source}`));
    });
  }
});

describe("bad flags: kiln: flag --x: message, exit 2", () => {
  for (const [name, args, message] of flagCases) {
    test(name, () => expectClean(kiln(["build", ...args], "FROM scratch\n", { raw: name.startsWith("no destination") }), 2, message));
  }
});

describe("kiln parse reports the same errors", () => {
  // Found only when building: image references (validated when pulled), --chmod/--chown (need
  // the image's files), ADD --checksum (needs the sources).
  const buildOnly = new Set([
    "--from that is neither a stage nor a reference", "empty --from", "bad --chmod digits", "symbolic --chmod",
    "uppercase image reference", "garbage digest in a reference", "ADD --checksum of a local file", "--chown of an unknown user",
  ]);
  test("FILE:LINE: message, exit 1", () => {
    for (const [name, text, line, message] of dockerfileCases) {
      const r = kiln(["parse"], text);
      if (buildOnly.has(name)) {
        expect([name, r.code]).toEqual([name, 0]);
        continue;
      }
      const file = path.join(work, `c${n}`, "Dockerfile");
      expectClean(r, 1, new RegExp(`^kiln: ${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:${line}: .*${message.source}`));
    }
  }, 60_000);

  test("--target naming no stage is a flag error", () => {
    expectClean(kiln(["parse", "--target", "nope"], "FROM scratch AS a\n"), 2, /^kiln: flag --target: target stage "nope" could not be found$/);
  });
});

describe("failed builds push nothing", () => {
  test("parse-time and COPY-time failures leave the destination repository absent", async () => {
    const reg = await registry();
    const cases = ["FROM scratch\nCOPY --chmod=999 a /a\n", "FROM scratch\nCOPY a /a\nCOPY missing /m\n", "FROM scratch\nEXPOSE 99999\n"];
    for (const [i, text] of cases.entries()) {
      const repo = `hardening/failed${i}`;
      const r = kiln(["build", "-d", `${reg.host}/${repo}:v1`, "--insecure-registry", reg.host], text, { raw: true });
      expectClean(r, 1, /^kiln: Dockerfile:\d+: /);
      const res = await fetch(`http://${reg.host}/v2/${repo}/tags/list`);
      expect(res.status).toBe(404);
    }
    // The same destination accepts a good build, so a 404 above means "nothing pushed".
    const ok = kiln(["build", "-d", `${reg.host}/hardening/failed0:v1`, "--insecure-registry", reg.host], "FROM scratch\nCOPY a /a\n", { raw: true });
    expect(ok.err).not.toContain("kiln:");
    expect(ok.code).toBe(0);
    expect((await fetch(`http://${reg.host}/v2/hardening/failed0/tags/list`)).status).toBe(200);
  }, 60_000);
});
