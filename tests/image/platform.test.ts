import { describe, expect, test } from "bun:test";
import {
  formatPlatform, hostPlatform, normalizePlatform, parsePlatform, parsePlatformFlag, platformMatches, selectManifest,
} from "../../src/image/platform.ts";
import { UsageError } from "../../src/util/errors.ts";
import type { Descriptor } from "../../src/image/types.ts";

const desc = (p: string, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType: "m", digest: `sha256:${p.replace(/\W/g, "").padEnd(64, "0")}`, size: 1, platform: parsePlatform(p), ...extra });

describe("platforms", () => {
  test("parse and normalise as containerd does", () => {
    expect(parsePlatform("linux/amd64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("Linux/X86_64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/amd64/v1")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/amd64/v3")).toEqual({ os: "linux", architecture: "amd64", variant: "v3" });
    // arm64's v8 is the default and is dropped; aarch64 is arm64; v9 keeps one spelling.
    for (const t of ["linux/aarch64", "linux/arm64", "linux/arm64/v8", "linux/arm64/8", "arm64"]) {
      expect(parsePlatform(t)).toEqual({ os: "linux", architecture: "arm64" });
    }
    expect(parsePlatform("linux/arm64/9.0")).toEqual({ os: "linux", architecture: "arm64", variant: "v9" });
    expect(parsePlatform("linux/arm")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(parsePlatform("linux/arm/6")).toEqual({ os: "linux", architecture: "arm", variant: "v6" });
    expect(parsePlatform("linux/armhf")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(parsePlatform("linux/armel")).toEqual({ os: "linux", architecture: "arm", variant: "v6" });
    expect(parsePlatform("linux/i386")).toEqual({ os: "linux", architecture: "386" });
    expect(parsePlatform("windows/amd64")).toEqual({ os: "windows", architecture: "amd64" });
    expect(parsePlatform("linux")).toEqual(hostPlatform());
    expect(normalizePlatform({ os: "linux", architecture: "x86_64" })).toEqual({ os: "linux", architecture: "amd64" });
    expect(formatPlatform(parsePlatform("linux/arm/v6"))).toBe("linux/arm/v6");
  });

  test("malformed or unknown platforms fail in one wording", () => {
    const cases: [string, RegExp][] = [
      ["../../x", /"\.\." is not a platform component/],
      ["linux/../x", /"\.\." is not a platform component/],
      ["linux//amd64", /empty part/],
      ["linux/amd64/v8/x", /too many parts/],
      ["linux/amd 64", /"amd 64" is not a platform component/],
      ["plan10/amd64", /unknown operating system "plan10"/],
      ["linux/amd65", /unknown architecture "amd65"/],
      ["foo", /unknown operating system or architecture/],
    ];
    for (const [text, why] of cases) {
      expect(() => parsePlatform(text)).toThrow(why);
      expect(() => parsePlatform(text)).toThrow(/^invalid platform ".*": .* \(want os\/arch\[\/variant\], e\.g\. linux\/amd64/);
    }
  });

  test("flags: the error names the flag; a build refuses an OS kiln cannot build", () => {
    expect(parsePlatformFlag("--platform", "windows/amd64")).toEqual({ os: "windows", architecture: "amd64" });
    expect(() => parsePlatformFlag("--custom-platform", "windows/amd64", { build: true })).toThrow(
      /^flag --custom-platform: platform windows\/amd64: kiln builds Linux images only$/,
    );
    expect(() => parsePlatformFlag("--custom-platform", "linux/nope")).toThrow(/^flag --custom-platform: invalid platform "linux\/nope"/);
    let err: unknown;
    try {
      parsePlatformFlag("--platform", "x/y/z/w");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
  });

  test("matching", () => {
    expect(platformMatches({ os: "linux", architecture: "arm64" }, parsePlatform("linux/arm64/v8"))).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, parsePlatform("linux/arm/v7"))).toBe(false);
  });

  test("selectManifest picks exact, then a lower arm variant, and skips attestations", () => {
    const att = desc("linux/amd64", { platform: { os: "unknown", architecture: "unknown" }, annotations: { "vnd.docker.reference.type": "attestation-manifest" } });
    const list = [att, desc("linux/arm/v6"), desc("linux/amd64"), desc("linux/arm64")];
    expect(selectManifest(list, parsePlatform("linux/amd64"), "x")).toBe(list[2]!);
    expect(selectManifest(list, parsePlatform("linux/arm64/v8"), "x")).toBe(list[3]!);
    expect(selectManifest(list, parsePlatform("linux/arm/v7"), "x")).toBe(list[1]!);
    expect(() => selectManifest(list, parsePlatform("linux/s390x"), "h:1/a:b")).toThrow(/h:1\/a:b: no image for platform linux\/s390x.*linux\/amd64/);
  });
});
