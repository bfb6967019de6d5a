// `kiln parse` end to end, as a user runs it.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findData } from "./conformance-data.ts";

const CLI = fileURLToPath(new URL("./kiln-cli.ts", import.meta.url));
const conformance = findData();
const CASES = "root" in conformance ? join(conformance.root, "parser/testfiles") : "";
// The --dump case compares against BuildKit's own result bytes, so it needs BuildKit's data; without
// it (a clone with no ../shared and no KILN_CONFORMANCE_DIR) it skips with the reason printed here.
if (!CASES) console.log(`skipping kiln parse --dump against BuildKit's bytes: ${"why" in conformance ? conformance.why : ""}`);
const dir = mkdtempSync(join(tmpdir(), "kiln-parse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("kiln parse", () => {
  test.skipIf(!CASES && process.env.KILN_CONFORMANCE_REQUIRED !== "1")("--dump prints BuildKit's result bytes", () => {
    const r = kiln("parse", "--dump", join(CASES, "lk4d4-the-edge-case-generator", "Dockerfile"));
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync(join(CASES, "lk4d4-the-edge-case-generator", "result"), "utf8"));
  });

  test("a malformed Dockerfile: FILE:LINE: message, exit 1, no stack trace", () => {
    const p = file("Dockerfile.bad", "FROM alpine\nRUN ok\nCMD [\"a\", 1]\n");
    for (const args of [["parse", p], ["parse", "--dump", p]]) {
      const r = kiln(...args);
      expect(r.code).toBe(1);
      expect(r.err).toStartWith(`kiln: ${p}:3: when using JSON array syntax`);
      expect(r.err).not.toContain("    at ");
    }
    const unknown = kiln("parse", file("Dockerfile.unknown", "FROM a\nCOPPY x y\n"));
    expect([unknown.code, unknown.err.trim()]).toEqual([1, `kiln: ${join(dir, "Dockerfile.unknown")}:2: unknown instruction: COPPY`]);
  });

  test("stages with expanded instructions; --build-arg, --target and --json", () => {
    const p = file("Dockerfile", "ARG V=1\nFROM alpine:$V AS base\nARG V\nWORKDIR /app/$V\nFROM base AS final\nRUN make\n");
    const human = kiln("parse", "--build-arg", "V=2", "--target", "base", p);
    expect(human.code).toBe(0);
    expect(human.out).toContain("stage 0 (base): FROM alpine:2  [target]");
    expect(human.out).toContain("WORKDIR /app/2");
    expect(human.out).toContain("(skipped) RUN make");
    const json = kiln("parse", "--json", p);
    expect(json.code).toBe(0);
    const data = JSON.parse(json.out);
    expect(data.target).toBe(1);
    expect(data.stages[1].baseStage).toBe(0);
    expect(data.stages[0].instructions[1]).toMatchObject({ kind: "workdir", path: "/app/1", line: 4 });
  });

  test("a missing file is a clear error", () => {
    const r = kiln("parse", join(dir, "nope"));
    expect(r.code).toBe(1);
    expect(r.err).toStartWith("kiln: cannot read");
  });
});
