// Pure parts of the multi-platform build: which platforms a build makes (--platform /
// --custom-platform), how many run at once, and the platform tag on log lines.
import { describe, expect, test } from "bun:test";
import { buildTargets, platformConcurrency } from "../../src/executor/multi-platform.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { UsageError } from "../../src/util/errors.ts";
import { Logger } from "../../src/util/log.ts";

const opts = (over: Partial<BuildOptions>) => over as BuildOptions;

describe("buildTargets", () => {
  test("no flag: one image for the host (planner default)", () => {
    expect(buildTargets(opts({}))).toEqual({ multi: false, platforms: [undefined] });
  });
  test("--custom-platform: one image for it", () => {
    expect(buildTargets(opts({ customPlatform: "linux/arm64/v8" }))).toEqual({ multi: false, platforms: [{ os: "linux", arch: "arm64" }] });
  });
  test("one --platform value: one image, not an index (as buildx)", () => {
    expect(buildTargets(opts({ platforms: ["linux/arm/v7"] }))).toEqual({ multi: false, platforms: [{ os: "linux", arch: "arm", variant: "v7" }] });
  });
  test("a list, repeated flags: an index over them, in order", () => {
    expect(buildTargets(opts({ platforms: ["linux/arm64,linux/amd64", "linux/arm/v7"] }))).toEqual({
      multi: true, platforms: [{ os: "linux", arch: "arm64" }, { os: "linux", arch: "amd64" }, { os: "linux", arch: "arm", variant: "v7" }],
    });
  });
  test("refused: both flags, in-container, a duplicate", () => {
    expect(() => buildTargets(opts({ platforms: ["linux/amd64"], customPlatform: "linux/amd64" }))).toThrow(UsageError);
    // A tarball of several platforms holds one image each (outputs.ts), so it is no reason to refuse.
    expect(buildTargets(opts({ platforms: ["linux/amd64,linux/arm64"], tarPath: "x.tar" })).multi).toBe(true);
    expect(() => buildTargets(opts({ platforms: ["linux/amd64,linux/arm64"], root: "/" }))).toThrow(/in-container/);
    expect(() => buildTargets(opts({ platforms: ["linux/arm64,linux/arm64/v8"] }))).toThrow(/listed twice/);
    // One platform in a tarball is fine.
    expect(buildTargets(opts({ platforms: ["linux/arm64"], tarPath: "x.tar" })).multi).toBe(false);
  });
});

describe("platformConcurrency", () => {
  test("at most 2 by default, never more than the platforms or below 1", () => {
    expect(platformConcurrency(1, {})).toBe(1);
    expect(platformConcurrency(5, {})).toBeGreaterThanOrEqual(1);
    expect(platformConcurrency(5, {})).toBeLessThanOrEqual(2);
  });
  test("KILN_PLATFORM_PARALLELISM sets it; a bad value is an error", () => {
    expect(platformConcurrency(5, { KILN_PLATFORM_PARALLELISM: "4" })).toBe(4);
    expect(platformConcurrency(3, { KILN_PLATFORM_PARALLELISM: "8" })).toBe(3);
    expect(() => platformConcurrency(3, { KILN_PLATFORM_PARALLELISM: "0" })).toThrow(/KILN_PLATFORM_PARALLELISM/);
  });
});

describe("Logger.withTag", () => {
  test("text lines and RUN output get the platform first; JSON events a platform field", () => {
    const lines: string[] = [];
    const text = new Logger("info", "text", (l) => lines.push(l)).withTag("platform", "linux/arm64");
    text.info("STEP 1/2: RUN uname -m");
    text.output("[stage 1/1]", new TextEncoder().encode("aarch64\n"));
    expect(lines).toEqual(["[linux/arm64] STEP 1/2: RUN uname -m", "[linux/arm64] [stage 1/1] aarch64"]);
    const json: string[] = [];
    new Logger("info", "json", (l) => json.push(l)).withTag("platform", "linux/amd64").info("hi", { event: "step" });
    expect(JSON.parse(json[0]!)).toMatchObject({ platform: "linux/amd64", msg: "hi", event: "step" });
  });
});
