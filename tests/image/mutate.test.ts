import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { appendHistory, appendLayers, canonicalize, emptyImage, toManifest, withContainerConfig, withCreated, withFormat } from "../../src/image/mutate.ts";
import { layerFromBytes } from "../../src/image/layer.ts";
import { readOciLayout, writeOciLayout } from "../../src/image/layout.ts";
import { DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_GZIP, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { sha256 } from "../../src/image/digest.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-mutate-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const tarBytes = new TextEncoder().encode("pretend this is a tar");
const layer = layerFromBytes(gzipSync(tarBytes), OCI_LAYER_GZIP);

describe("pure image functions", () => {
  test("emptyImage, appendLayers: diff_ids and history follow, the input is unchanged", () => {
    const base = emptyImage("linux/arm/v6");
    expect(base.config).toMatchObject({ os: "linux", architecture: "arm", variant: "v6", rootfs: { diff_ids: [] } });
    // containerd's normalisation: arm64's default variant v8 is not written.
    expect(emptyImage("linux/arm64/v8").config.variant).toBeUndefined();
    expect(layer.diffId).toBe(sha256(tarBytes));
    const img = appendLayers(base, [layer], [{ created_by: "ENV A=1", empty_layer: true }, { created_by: "RUN x" }]);
    expect(img.config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(img.config.history!.map((h) => h.created_by)).toEqual(["ENV A=1", "RUN x"]);
    expect(img.manifest.layers).toEqual([{ mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.size }]);
    expect(base.layers.length).toBe(0);
    expect(img.manifestDigest).toBe(sha256(img.manifestBytes));
    expect(img.manifest.config.digest).toBe(sha256(img.configBytes));
    expect(() => appendLayers(base, [layer], [{ created_by: "ENV", empty_layer: true }])).toThrow(/1 layers but 0 non-empty/);
    expect(() => (img.config as { os: string }).os = "x").toThrow();
  });

  test("same inputs, same digest; canonicalize strips times", () => {
    const a = withCreated(appendLayers(emptyImage("linux/amd64"), [layer]), new Date("2024-05-01T10:00:00.123Z"));
    const b = withCreated(appendLayers(emptyImage("linux/amd64"), [layer]), new Date("2024-05-01T10:00:00.123Z"));
    expect(a.manifestDigest).toBe(b.manifestDigest);
    const c = canonicalize(appendHistory(a, [{ created: "2024-06-01T00:00:00Z", created_by: "CMD" }]));
    expect(c.config.created).toBe("1970-01-01T00:00:00Z");
    expect(c.config.history!.every((h) => h.created === "1970-01-01T00:00:00Z")).toBe(true);
    expect(canonicalize(c).manifestDigest).toBe(c.manifestDigest);
  });

  test("withContainerConfig and withFormat", () => {
    const img = withContainerConfig(appendLayers(emptyImage("linux/amd64"), [layer]), { Env: ["PATH=/bin"], Cmd: ["sh"] });
    expect(img.config.config).toEqual({ Env: ["PATH=/bin"], Cmd: ["sh"] });
    const d = withFormat(img, "docker");
    expect(d.mediaType).toBe(DOCKER_MANIFEST);
    expect(d.manifest.config.mediaType).toBe(DOCKER_CONFIG);
    expect(d.manifest.layers[0]!.mediaType).toBe(DOCKER_LAYER_GZIP);
    expect(d.configDigest).toBe(img.configDigest);
    expect(withFormat(d, "oci").manifestDigest).toBe(img.manifestDigest);
    expect(toManifest(img, "docker").digest).toBe(d.manifestDigest);
    expect(toManifest(img).mediaType).toBe(OCI_MANIFEST);
  });

  test("OCI layout write/read keeps the digest and several tags", async () => {
    const a = appendLayers(emptyImage("linux/amd64"), [layer]);
    const b = withContainerConfig(a, { Cmd: ["b"] });
    const dir = join(tmp, "layout");
    await writeOciLayout(a, dir, "a");
    await writeOciLayout(b, dir, "b");
    await writeOciLayout(b, dir, "a"); // re-tag replaces
    expect(readOciLayout(dir, "a").manifestDigest).toBe(b.manifestDigest);
    expect(() => readOciLayout(dir)).toThrow(/holds 2 images.*a, b|holds 2 images.*b, a/);
    expect(() => readOciLayout(dir, "zz")).toThrow(/no image tagged "zz"/);
  });
});
