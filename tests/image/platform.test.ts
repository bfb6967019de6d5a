import { describe, expect, test } from "bun:test";
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches, selectManifest } from "../../src/image/platform.ts";
import type { Descriptor } from "../../src/image/types.ts";

const desc = (p: string, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType: "m", digest: `sha256:${p.replace(/\W/g, "").padEnd(64, "0")}`, size: 1, platform: parsePlatform(p), ...extra });

describe("platforms", () => {
  test("parse and normalise", () => {
    expect(parsePlatform("linux/amd64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/aarch64")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(parsePlatform("linux/arm")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(normalizePlatform({ os: "linux", architecture: "x86_64" })).toEqual({ os: "linux", architecture: "amd64" });
    expect(formatPlatform(parsePlatform("linux/arm/v6"))).toBe("linux/arm/v6");
    expect(() => parsePlatform("linux")).toThrow(/os\/arch/);
  });

  test("matching", () => {
    expect(platformMatches({ os: "linux", architecture: "arm64" }, parsePlatform("linux/arm64/v8"))).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, parsePlatform("linux/arm/v7"))).toBe(false);
  });

  test("selectManifest picks exact, then a lower arm variant, and skips attestations", () => {
    const att = desc("unknown/unknown", { annotations: { "vnd.docker.reference.type": "attestation-manifest" } });
    const list = [att, desc("linux/arm/v6"), desc("linux/amd64"), desc("linux/arm64")];
    expect(selectManifest(list, parsePlatform("linux/amd64"), "x")).toBe(list[2]!);
    expect(selectManifest(list, parsePlatform("linux/arm64/v8"), "x")).toBe(list[3]!);
    expect(selectManifest(list, parsePlatform("linux/arm/v7"), "x")).toBe(list[1]!);
    expect(() => selectManifest(list, parsePlatform("linux/s390x"), "h:1/a:b")).toThrow(/h:1\/a:b: no image for platform linux\/s390x.*linux\/amd64/);
  });
});
