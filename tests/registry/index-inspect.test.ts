// `kiln index inspect` against the real registry (Bun and Deno): a two-platform index pushed from
// the busybox layout, a single manifest, the same index in an OCI layout, and bad input.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readOciLayout } from "../../src/image/layout.ts";
import { OciLayoutWriter } from "../../src/image/layout-writer.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { withConfig } from "../../src/image/mutate.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { pushImage } from "../../src/registry/push.ts";
import { baseLayouts, registry } from "../env.ts";
import { kilnCommand, runtimes } from "./kiln-runtimes.ts";

const esc = (s: string) => s.replace(/[.+*?^$()[\]{}|\\/]/g, "\\$&");
const tmp = mkdtempSync(join(tmpdir(), "kiln-index-inspect-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

const kiln = kilnCommand("index inspect");

describe("kiln index inspect", async () => {
  const reg = await registry();
  const client = new RegistryClient();
  const busybox = readOciLayout((await baseLayouts()).busybox, "latest");
  const amd64 = withConfig(busybox, { ...busybox.config, os: "linux", architecture: "amd64" });
  const arm = withConfig(amd64, { ...amd64.config, architecture: "arm", variant: "v7" });
  const layerSize = amd64.layers.reduce((n, l) => n + l.size, 0);
  const repo = `${reg.host}/inspect/busybox`;
  const entry = (img: typeof amd64, platform: Record<string, string>, annotations?: Record<string, string>) => ({
    mediaType: img.mediaType,
    digest: img.manifestDigest,
    size: img.manifestBytes.length,
    platform,
    ...(annotations ? { annotations } : {}),
  });
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      entry(amd64, { os: "linux", architecture: "amd64" }),
      entry(arm, { os: "linux", architecture: "arm", variant: "v7" }),
      // An attestation as BuildKit writes it: listed, never taken for a platform image.
      entry(amd64, { os: "unknown", architecture: "unknown" }, { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64.manifestDigest }),
    ],
  };
  const indexBytes = new TextEncoder().encode(JSON.stringify(index));
  await pushImage(client, amd64, parseReference(`${repo}:amd64`));
  await pushImage(client, arm, parseReference(`${repo}:arm`));
  const indexDigest = await client.putManifest(parseReference(`${repo}:multi`), indexBytes, OCI_INDEX);

  for (const rt of Object.keys(runtimes)) {
    test(`${rt}: a two-platform index, as text and as JSON`, () => {
      const text = kiln(rt, `docker://${repo}:multi`);
      expect(text.code).toBe(0);
      const lines = text.out.split("\n");
      expect(lines.slice(0, 5)).toEqual([`docker://${repo}:multi`, `  media type  ${OCI_INDEX}`, `  digest      ${indexDigest}`, `  size        ${indexBytes.length} B`, "  manifests   3"]);
      expect(lines[5]).toMatch(new RegExp(`^    linux/amd64 +${amd64.manifestDigest}  ${esc(OCI_MANIFEST)}  ${amd64.manifestBytes.length} B  image .*, 1 layer$`));
      expect(lines[6]).toMatch(new RegExp(`^    linux/arm/v7 +${arm.manifestDigest}  ${esc(OCI_MANIFEST)}  ${arm.manifestBytes.length} B  image .*, 1 layer$`));
      expect(lines[7]).toMatch(/^ {4}unknown\/unknown +sha256:\S+ {2}.*attestation-manifest$/);

      const j = kiln(rt, "--json", `${repo}:multi`);
      expect(j.code).toBe(0);
      expect(JSON.parse(j.out)).toEqual({
        reference: `docker://${repo}:multi`,
        mediaType: OCI_INDEX,
        digest: indexDigest,
        size: indexBytes.length,
        manifests: [
          { platform: "linux/amd64", mediaType: OCI_MANIFEST, digest: amd64.manifestDigest, size: amd64.manifestBytes.length, imageSize: amd64.configBytes.length + layerSize, layers: 1 },
          { platform: "linux/arm/v7", mediaType: OCI_MANIFEST, digest: arm.manifestDigest, size: arm.manifestBytes.length, imageSize: arm.configBytes.length + layerSize, layers: 1 },
          { platform: "unknown/unknown", mediaType: OCI_MANIFEST, digest: amd64.manifestDigest, size: amd64.manifestBytes.length, referenceType: "attestation-manifest" },
        ],
      });
    });
  }

  test("a single manifest shows the platform from its config", () => {
    const j = kiln("bun", "--json", `${repo}:arm`);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out)).toEqual({ reference: `docker://${repo}:arm`, platform: "linux/arm/v7", mediaType: OCI_MANIFEST, digest: arm.manifestDigest, size: arm.manifestBytes.length, imageSize: arm.configBytes.length + layerSize, layers: 1 });
    const t = kiln("bun", `${repo}:arm`);
    const [platform, image] = t.out.split("\n").slice(-2);
    expect(platform).toBe("  platform    linux/arm/v7");
    expect(image).toMatch(/^ {2}image {7}[\d.]+ KiB, 1 layer$/);
  });

  test("the same index in an OCI layout", async () => {
    const dir = join(tmp, "layout");
    const w = new OciLayoutWriter(dir).init();
    await w.putImage(amd64);
    await w.putImage(arm);
    w.putBytes(indexBytes);
    await w.addManifest({ mediaType: OCI_INDEX, digest: indexDigest, size: indexBytes.length }, "multi");
    const fromRegistry = JSON.parse(kiln("bun", "--json", `${repo}:multi`).out);
    const fromLayout = kiln("deno", "--json", `oci:${dir}:multi`);
    expect(fromLayout.code).toBe(0);
    expect(JSON.parse(fromLayout.out)).toEqual({ ...fromRegistry, reference: `oci:${dir}:multi` });
  });

  test("bad input: exit 2 naming the argument; a missing image exits 1", () => {
    const bad = kiln("bun", `docker-archive:${tmp}/x.tar`);
    expect(bad.code).toBe(2);
    expect(bad.err).toStartWith(`kiln: argument <ref>: docker-archive:${tmp}/x.tar: a docker archive is not accepted here`);
    const creds = kiln("bun", `u:hunter2@${repo}:multi`);
    expect(creds.code).toBe(2);
    expect(creds.err).toContain(`***@${repo}:multi`);
    expect(creds.err).not.toContain("hunter2");
    const missing = kiln("bun", `${repo}:nope`);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("manifest unknown");
  });
});
