// Multi-platform pieces without a build: the --platform list, the index writer, the OCI layout
// of an index (read back by skopeo) and pushIndex against the real registry.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parsePlatformList } from "../../src/image/index-platforms.ts";
import { makeIndex, platformOfConfig } from "../../src/image/index-manifest.ts";
import { writeOciLayoutIndex } from "../../src/image/index-layout.ts";
import { appendLayers, emptyImage, withFormat } from "../../src/image/mutate.ts";
import { layerFromBytes } from "../../src/image/layer.ts";
import { sha256 } from "../../src/image/digest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushIndex } from "../../src/registry/push-index.ts";
import { UsageError } from "../../src/util/errors.ts";
import { registry } from "../env.ts";
import { skopeo } from "../registry/helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-index-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

/** A one-layer image for `platform` whose layer content differs per platform. */
function imageFor(platform: string) {
  const layer = layerFromBytes(gzipSync(new TextEncoder().encode(`files for ${platform}`)), OCI_LAYER_GZIP);
  return appendLayers(emptyImage(platform), [layer], [{ created_by: `RUN build for ${platform}` }]);
}

describe("parsePlatformList (--platform a,b,…)", () => {
  test("keeps order, normalises each entry with the one platform parser, takes repeated flags", () => {
    expect(parsePlatformList("linux/amd64,linux/arm64")).toEqual([{ os: "linux", arch: "amd64" }, { os: "linux", arch: "arm64" }]);
    expect(parsePlatformList(" linux/arm/v7 , linux/arm64/v8,linux/386")).toEqual([{ os: "linux", arch: "arm", variant: "v7" }, { os: "linux", arch: "arm64" }, { os: "linux", arch: "386" }]);
    expect(parsePlatformList(["linux/amd64", "linux/s390x,linux/ppc64le"]).map((p) => p.arch)).toEqual(["amd64", "s390x", "ppc64le"]);
    expect(parsePlatformList("arm64")).toEqual([{ os: "linux", arch: "arm64" }]);
  });

  test("errors name the flag and the bad entry", () => {
    const err = (v: string | string[], flag?: string) => {
      try {
        parsePlatformList(v, flag);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error(`no error for ${v}`);
    };
    expect(err("linux/amd64,linux/arm64/v8/x")).toBe('flag --platform: invalid platform "linux/arm64/v8/x": too many parts (want os/arch[/variant], e.g. linux/amd64, linux/arm64 or linux/arm/v7)');
    expect(err("linux/amd64,bogus")).toContain('flag --platform: invalid platform "bogus"');
    expect(err("linux/amd64,,linux/arm64")).toContain('flag --platform: empty platform in "linux/amd64,,linux/arm64"');
    expect(err("linux/arm64,linux/arm64/v8")).toBe('flag --platform: platform "linux/arm64/v8" is listed twice (as "linux/arm64" too)');
    expect(err("windows/amd64")).toBe('flag --platform: platform "windows/amd64": kiln builds linux images only');
    expect(err("linux/amd64,linux/a b", "--custom-platform")).toContain('flag --custom-platform: invalid platform "linux/a b"');
    expect(err([])).toBe("flag --platform: no platform given");
  });
});

describe("makeIndex: N platform images → one index", () => {
  const amd64 = imageFor("linux/amd64");
  const arm64 = imageFor("linux/arm64");
  const armv7 = imageFor("linux/arm/v7");

  test("OCI index: descriptors with the platforms of the configs, incl. variants arm64/v8 and arm/v7", () => {
    const idx = makeIndex([amd64, arm64, armv7], "oci");
    expect(idx.mediaType).toBe(OCI_INDEX);
    expect(idx.digest).toBe(sha256(idx.bytes));
    const parsed = JSON.parse(new TextDecoder().decode(idx.bytes));
    expect(parsed).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd64.manifestDigest, size: amd64.manifestBytes.length, platform: { architecture: "amd64", os: "linux" } },
        { mediaType: OCI_MANIFEST, digest: arm64.manifestDigest, size: arm64.manifestBytes.length, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
        { mediaType: OCI_MANIFEST, digest: armv7.manifestDigest, size: armv7.manifestBytes.length, platform: { architecture: "arm", os: "linux", variant: "v7" } },
      ],
    });
    // Pure: the same images give the same bytes.
    expect(makeIndex([amd64, arm64, armv7], "oci").digest).toBe(idx.digest);
    expect(makeIndex([arm64, amd64], "oci").digest).not.toBe(makeIndex([amd64, arm64], "oci").digest);
  });

  test("Docker manifest list: children converted to v2s2, no annotations", () => {
    const idx = makeIndex([amd64, arm64], "docker", { annotations: { a: "b" } });
    expect(idx.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(idx.images.map((i) => i.mediaType)).toEqual([DOCKER_MANIFEST, DOCKER_MANIFEST]);
    expect(idx.images[0]!.configDigest).toBe(amd64.configDigest);
    expect(idx.index.manifests.map((m) => m.digest)).toEqual(idx.images.map((i) => i.manifestDigest));
    expect(idx.index.annotations).toBeUndefined();
    expect(makeIndex([amd64], "oci", { annotations: { a: "b" } }).index.annotations).toEqual({ a: "b" });
    // Already v2s2 children are kept byte for byte.
    const v2 = withFormat(amd64, "docker");
    expect(makeIndex([v2], "docker").images[0]).toBe(v2);
  });

  test("platform fields from the config: os.version and os.features kept, arm64 gets v8", () => {
    expect(platformOfConfig({ os: "linux", architecture: "arm64" })).toEqual({ architecture: "arm64", os: "linux", variant: "v8" });
    expect(platformOfConfig({ os: "windows", architecture: "amd64", "os.version": "10.0.20348.2113", "os.features": ["win32k"] })).toEqual({ architecture: "amd64", os: "windows", "os.version": "10.0.20348.2113", "os.features": ["win32k"] });
    expect(() => platformOfConfig({ os: "", architecture: "amd64" }, "src/a")).toThrow("src/a: its config names no os/architecture");
  });

  test("two images of one platform, or none, are errors naming them", () => {
    expect(() => makeIndex([amd64, arm64, imageFor("linux/arm64/v8")], "oci", { labels: ["a", "b", "c"] })).toThrow("b and c are both linux/arm64/v8: an index holds one image per platform");
    expect(() => makeIndex([], "oci")).toThrow("an index needs at least one image");
  });

  test("an OCI layout holds the index and all platforms (skopeo reads each)", async () => {
    const dir = join(tmp, "layout");
    const idx = makeIndex([amd64, arm64], "docker");
    const desc = await writeOciLayoutIndex(idx, dir, "multi");
    const top = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(top.manifests).toEqual([desc]);
    expect(desc.mediaType).toBe(OCI_INDEX);
    const raw = JSON.parse(skopeo("inspect", "--raw", `oci:${dir}:multi`));
    expect(raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    const arm = JSON.parse(skopeo("inspect", "--override-arch=arm64", `oci:${dir}:multi`));
    expect(arm.Architecture).toBe("arm64");
    expect(arm.Layers).toEqual([arm64.layers[0]!.digest]);
    // Written again under another tag: still one entry per tag, no stray child entries.
    await writeOciLayoutIndex(makeIndex([amd64], "oci"), dir, "one");
    const again = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(again.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["multi", "one"]);
  });
});

describe("pushIndex against the registry", async () => {
  const reg = await registry();
  const client = new RegistryClient();

  test("children first by digest, then the index under every destination; pulls back per platform", async () => {
    const amd64 = imageFor("linux/amd64");
    const arm64 = imageFor("linux/arm64");
    const idx = makeIndex([amd64, arm64], "oci");
    const dests = [parseReference(`${reg.host}/platforms/push-index:1`), parseReference(`${reg.host}/platforms/push-index-copy:latest`)];
    const res = await pushIndex(client, idx, dests);
    expect(res.digest).toBe(idx.digest);
    expect(res.pushed.map(String)).toEqual(dests.map((d) => `${d}@${idx.digest}`));
    expect(res.children.map((c) => c.digest)).toEqual([amd64.manifestDigest, arm64.manifestDigest]);
    // The second destination mounted the layers from the first.
    expect(res.blobs.filter((b) => b.destination.repository === "platforms/push-index-copy" && b.digest === arm64.layers[0]!.digest).map((b) => b.action)).toEqual(["mounted"]);
    for (const d of dests) {
      const head = await client.headManifest(d);
      expect(head).toMatchObject({ digest: idx.digest, mediaType: OCI_INDEX });
      const got = await fetchImage(client, d, { platform: { os: "linux", architecture: "arm64" } });
      expect(got.manifestDigest).toBe(arm64.manifestDigest);
      expect(got.config.architecture).toBe("arm64");
    }
    // Children were pushed by digest only: the registry log shows no child manifest PUT under a tag.
    const log = readFileSync(reg.logFile, "utf8");
    expect(log).toContain(`"PUT /v2/platforms/push-index/manifests/${arm64.manifestDigest} HTTP/1.1" 201`);
    expect(log).toMatch(/"PUT \/v2\/platforms\/push-index\/manifests\/1 HTTP\/1\.1" 201/);
    const lines = log.split("\n");
    const putsTo1 = lines.filter((l) => l.includes("PUT /v2/platforms/push-index/manifests/1 "));
    expect(putsTo1.length).toBe(1);
    // All children (in both repositories) before the first index PUT.
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    const firstIndexPut = at("PUT /v2/platforms/push-index/manifests/1 ");
    for (const repo of ["push-index", "push-index-copy"]) {
      for (const c of [amd64, arm64]) expect(at(`PUT /v2/platforms/${repo}/manifests/${c.manifestDigest}`)).toBeLessThan(firstIndexPut);
    }
  });
});
