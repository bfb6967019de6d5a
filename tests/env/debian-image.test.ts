// The debian base image: the first run on a machine debootstraps (~30 s with a near mirror, a few
// minutes with a far one); after that everything comes from .cache/base.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { baseImages, baseLayouts } from "../env.ts";
import { buildBaseLayout, cachedLayer, layoutDigest, BASE_EPOCH } from "../../scripts/base-images.ts";
import { packRootfs } from "../../scripts/lib/deterministic-tar.ts";
import { exec, removeTempDirs, skopeoInspect, tempDir, unpackLayer } from "./helpers.ts";

afterAll(removeTempDirs);

const SLOW = 600_000;

describe("debian base image", () => {
  test("builds, pushes, and inspects with the layout's digest", async () => {
    const layouts = await baseLayouts({ debian: true });
    expect(layouts.debian).toBeTruthy();
    const refs = await baseImages({ debian: true });
    expect(refs.debian).toMatch(/\/debian:latest$/);
    const info = await skopeoInspect(refs.debian!);
    expect(info.Digest).toBe(layoutDigest(layouts.debian!));
    expect(info.Layers).toEqual([(await cachedLayer("debian")).layer.digest]);
    const v2 = await skopeoInspect(refs.debianV2s2!, true);
    expect(v2.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const cfg = await exec("skopeo", ["inspect", "--tls-verify=false", "--config", `docker://${refs.debian}`]);
    expect(JSON.parse(cfg).config.Cmd).toEqual(["bash"]);
  }, SLOW);

  test("rootfs is slim, runs bash and dpkg, and carries no build-host state", async () => {
    const { file } = await cachedLayer("debian");
    const root = tempDir("deb-rootfs");
    await unpackLayer(file, root);
    expect(readFileSync(join(root, "etc/resolv.conf"), "utf8")).toBe("");
    expect(readFileSync(join(root, "etc/hostname"), "utf8").trim()).toBe("");
    expect(readdirSync(join(root, "var/lib/apt/lists")).filter((n) => n !== "partial")).toEqual([]);
    expect(readdirSync(join(root, "usr/share/man"))).toEqual([]);
    expect(readdirSync(join(root, "dev"))).toEqual([]);
    expect(existsSync(join(root, "usr/share/doc/bash/copyright"))).toBe(true);
    expect(readdirSync(join(root, "usr/share/doc/bash"))).toEqual(["copyright"]);
    const out = await exec("chroot", [root, "/bin/bash", "-c", "cut -d. -f1 /etc/debian_version; dpkg-query -W -f='${Status}' bash"]);
    expect(out).toBe("12\ninstall ok installed");
  }, SLOW);

  test("deterministic: the layout rebuilt from the cache and the layer repacked from its own tree are identical", async () => {
    const layouts = await baseLayouts({ debian: true });
    const again = await buildBaseLayout("debian", join(tempDir("deb-again"), "layout"));
    expect(again.manifestDigest).toBe(layoutDigest(layouts.debian!));

    const dir = tempDir("deb-repack");
    const root = join(dir, "rootfs");
    await exec("mkdir", [root]);
    await unpackLayer(again.layerFile, root);
    const repacked = await packRootfs(root, join(dir, "l.tar"), join(dir, "l.tar.gz"), BASE_EPOCH);
    expect(repacked).toEqual(again.layer);
  }, SLOW);
});
