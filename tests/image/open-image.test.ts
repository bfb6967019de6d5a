// Every image named by a location is obtained the same way: registry pulls and OCI layouts
// through openImage, FROM and COPY --from through the ImageResolver on top of it.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageResolver } from "../../src/executor/images.ts";
import { readOciLayout, writeOciLayout } from "../../src/image/layout.ts";
import { parseImageLocation } from "../../src/image/location.ts";
import { hostPlatform } from "../../src/image/platform.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { openImage } from "../../src/registry/open-image.ts";
import { KilnError, UsageError } from "../../src/util/errors.ts";
import { baseImages, baseLayouts } from "../env.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-open-image-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const client = new RegistryClient();
const what = "argument <src>";

describe("openImage and the ImageResolver", async () => {
  const refs = await baseImages();
  const layout = (await baseLayouts()).busybox;
  const local = readOciLayout(layout, "latest");

  test("a registry reference, docker:// or plain, and an OCI layout give the same image", async () => {
    const plain = await openImage(client, parseImageLocation(refs.busybox, { what }), hostPlatform());
    const docker = await openImage(client, parseImageLocation(`docker://${refs.busybox}`, { what }), hostPlatform());
    expect(plain.image.manifestDigest).toBe(docker.image.manifestDigest);
    expect(plain.ref?.toString()).toBe(refs.busybox);
    const dir = join(tmp, "copy");
    await writeOciLayout(plain.image, dir, "t");
    for (const v of [`oci:${dir}:t`, `oci-layout://${dir}:t`]) {
      const fromLayout = await openImage(client, parseImageLocation(v, { what }), hostPlatform());
      expect(fromLayout.ref).toBeUndefined();
      expect(fromLayout.image.config.rootfs.diff_ids).toEqual(local.config.rootfs.diff_ids);
    }
    await expect(openImage(client, parseImageLocation(`docker-archive:${tmp}/x.tar`, { what }), hostPlatform())).rejects.toThrow(/reading docker archives is not supported/);
  });

  test("FROM names: registry, oci-layout://, scratch; bad ones fail with exit 1 naming the base image, without credentials", async () => {
    const images = new ImageResolver(client, hostPlatform());
    expect((await images.resolve(refs.busybox)).ref?.toString()).toBe(refs.busybox);
    expect((await images.resolve(`oci-layout://${layout}:latest`)).image.manifestDigest).toBe(local.manifestDigest);
    expect((await images.resolve("scratch")).image.layers).toEqual([]);
    const failures: [string, RegExp][] = [
      ["Bad Ref", /^base image: Bad Ref: invalid image reference/],
      [`me:hunter2@${refs.busybox}`, /^base image: \*\*\*@.*credentials do not belong/],
      [`oci-layout://${tmp}/none:x`, /^base image oci-layout:\/\/.*not an OCI image layout/],
      [`docker-archive:${tmp}/a.tar`, /^base image: docker-archive:.*a docker archive is not accepted here/],
    ];
    for (const [name, want] of failures) {
      const err = await images.resolve(name).catch((e) => e);
      expect(err).toBeInstanceOf(KilnError);
      expect(err).not.toBeInstanceOf(UsageError);
      expect(err.message).toMatch(want);
      expect(err.message).not.toContain("hunter2");
    }
  });
});
