// Pull → OCI layout → push → docker archive against the real registry, checked by skopeo.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { readOciLayout, writeOciLayout } from "../../src/image/layout.ts";
import { writeDockerArchive } from "../../src/image/docker-archive.ts";
import { DOCKER_MANIFEST, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { hostPlatform, formatPlatform } from "../../src/image/platform.ts";
import { withFormat } from "../../src/image/mutate.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { skopeo } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-roundtrip-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const debian = process.env.KILN_TEST_DEBIAN !== "0";

describe("registry → layout → registry, registry → docker archive", async () => {
  const reg = await registry();
  const refs = await baseImages({ debian });
  const client = new RegistryClient();
  const sources: [string, string, string][] = [
    ["busybox oci", refs.busybox, OCI_MANIFEST],
    ["busybox v2s2", refs.busyboxV2s2, DOCKER_MANIFEST],
  ];
  if (debian) sources.push(["debian oci", refs.debian!, OCI_MANIFEST], ["debian v2s2", refs.debianV2s2!, DOCKER_MANIFEST]);

  for (const [name, src, mediaType] of sources) {
    test(name, async () => {
      const ref = parseReference(src);
      const img = await fetchImage(client, ref);
      expect(img.mediaType).toBe(mediaType);
      const head = await client.headManifest(ref);
      expect(head?.digest).toBe(img.manifestDigest);

      // A layout holds OCI manifests (skopeo reads nothing else): v2s2 is converted, OCI kept byte for byte.
      const asOci = withFormat(img, "oci");
      expect(asOci === img).toBe(mediaType === OCI_MANIFEST);
      const dir = join(tmp, name.replace(" ", "-"));
      const desc = await writeOciLayout(img, dir, "t1");
      expect(desc.digest).toBe(asOci.manifestDigest);
      expect(skopeo("inspect", "--raw", `oci:${dir}:t1`).trim()).toBe(new TextDecoder().decode(asOci.manifestBytes));

      const back = readOciLayout(dir, "t1");
      expect(back.manifestDigest).toBe(asOci.manifestDigest);
      expect(back.configDigest).toBe(img.configDigest);
      const dest = parseReference(`${reg.host}/roundtrip/${name.replace(" ", "-")}:copy`);
      const res = await pushImage(client, back, dest);
      expect(res.digest).toBe(asOci.manifestDigest);
      const inspected = JSON.parse(skopeo("inspect", "--tls-verify=false", `docker://${dest}`));
      expect(inspected.Digest).toBe(asOci.manifestDigest);
      // registry → layout → registry → layout gives the same bytes again.
      const again = await fetchImage(client, dest);
      await writeOciLayout(again, dir, "t2");
      expect(readOciLayout(dir, "t2").manifestDigest).toBe(asOci.manifestDigest);
      // skopeo copies it out again byte for byte.
      skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${dest}`, `oci:${join(tmp, "skopeo-" + name.replace(" ", "-"))}:x`);

      const tar = join(tmp, `${name.replace(" ", "-")}.tar`);
      await writeDockerArchive(img, tar, [`example.com/app/${name.replace(" ", "-")}:v1`]);
      const fromTar = JSON.parse(skopeo("inspect", `docker-archive:${tar}`));
      expect(fromTar.Layers.length).toBe(img.layers.length);
      expect(fromTar.Architecture).toBe(img.config.architecture);
      const manifestJson = JSON.parse(skopeo("inspect", "--raw", "--config", `docker-archive:${tar}`));
      expect(manifestJson.rootfs.diff_ids).toEqual(img.config.rootfs.diff_ids);
      skopeo("copy", "--quiet", `docker-archive:${tar}`, `oci:${join(tmp, "fromtar-" + name.replace(" ", "-"))}:x`);
    });
  }

  test("an index resolves to the host platform", async () => {
    const ref = parseReference(refs.busyboxMulti);
    const top = await client.getManifest(ref);
    const index = JSON.parse(new TextDecoder().decode(top.bytes));
    expect(index.manifests.length).toBe(2);
    const img = await fetchImage(client, ref);
    const want = index.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === hostPlatform().architecture);
    expect(img.manifestDigest).toBe(want.digest);
    expect(formatPlatform({ os: img.config.os, architecture: img.config.architecture })).toBe(formatPlatform({ os: "linux", architecture: hostPlatform().architecture }));
    const other = index.manifests.find((m: { digest: string }) => m.digest !== want.digest);
    const picked = await fetchImage(client, ref, { platform: other.platform });
    expect(picked.manifestDigest).toBe(other.digest);
  });

  test("manifest by tag, by digest, tags list, delete", async () => {
    const img = await fetchImage(client, parseReference(refs.busybox));
    const dest = parseReference(`${reg.host}/roundtrip/ops:a`);
    await pushImage(client, img, [dest, dest.withTag("b")]);
    expect((await client.listTags(dest)).sort()).toEqual(["a", "b"]);
    const byDigest = await client.getManifest(dest.withDigest(img.manifestDigest));
    expect(byDigest.digest).toBe(img.manifestDigest);
    await client.deleteManifest(dest.withDigest(img.manifestDigest));
    expect(await client.headManifest(dest)).toBeUndefined();
    await expect(client.getManifest(dest)).rejects.toThrow(/manifest unknown: .*roundtrip\/ops:a/);
  });
});
