// Malformed Dockerfiles and flags through the real CLI: each fails with `kiln: Dockerfile:LINE: …`
// (exit 1) or `kiln: flag --x: …` (exit 2), as README documents, with no stack trace and no output
// written. Cases fail at parse or plan time or on FROM scratch, so no registry is needed, except
// the last test, which checks that failing builds push nothing to the real local registry.
// No case names an image that would be pulled from a remote registry. Every case runs in each form
// kiln ships in: Bun, Deno and the compiled executable.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { registry } from "../env.ts";
import { dockerfileCases } from "./dockerfile-cases.ts";
import { FORMS, kilnArgv, kilnArgvSync, type Form } from "./forms.ts";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-df-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
beforeAll(async () => void (await kilnArgv("binary")), 300_000);

/** The form the cases below run kiln in (each describe block sets it for its tests). */
let form: Form = "bun";

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
  const [cmd, ...pre] = kilnArgvSync(form);
  const r = spawnSync(cmd!, [...pre, ...full], { cwd: work, encoding: "utf8", timeout: 30_000, env: { ...process.env, NO_COLOR: "1" } });
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

for (const f of FORMS) {
  describe(`kiln in ${f}`, () => {
    beforeAll(() => {
      form = f;
    });

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
        "--from that is neither a stage nor a reference", "empty --from", "bad --chmod digits", "bad symbolic --chmod",
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
          const repo = `hardening/failed-${f}${i}`;
          const r = kiln(["build", "-d", `${reg.host}/${repo}:v1`, "--insecure-registry", reg.host], text, { raw: true });
          expectClean(r, 1, /^kiln: Dockerfile:\d+: /);
          const res = await fetch(`http://${reg.host}/v2/${repo}/tags/list`);
          expect(res.status).toBe(404);
        }
        // The same destination accepts a good build, so a 404 above means "nothing pushed".
        const ok = kiln(["build", "-d", `${reg.host}/hardening/failed-${f}0:v1`, "--insecure-registry", reg.host], "FROM scratch\nCOPY a /a\n", { raw: true });
        expect(ok.err).not.toContain("kiln:");
        expect(ok.code).toBe(0);
        expect((await fetch(`http://${reg.host}/v2/hardening/failed-${f}0/tags/list`)).status).toBe(200);
      }, 60_000);
    });
  });
}
