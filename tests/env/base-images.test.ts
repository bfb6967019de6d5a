import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { authRegistry, baseImages, baseLayouts, registry, tlsRegistry } from "../env.ts";
import { buildBaseLayout, cachedLayer, layoutDigest, pushLayout, skopeoRegistryFlags } from "../../scripts/base-images.ts";
import { hostPlatform } from "../../scripts/lib/oci-layout.ts";
import { exec, removeTempDirs, skopeoInspect, tempDir, unpackLayer } from "./helpers.ts";

afterAll(removeTempDirs);

describe("busybox base image", () => {
  test("layout is cached and tagged latest + multi", async () => {
    const a = await baseLayouts();
    const b = await baseLayouts();
    expect(b.busybox).toBe(a.busybox);
    expect(JSON.parse(readFileSync(join(a.busybox, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(layoutDigest(a.busybox, "latest")).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(layoutDigest(a.busybox, "multi")).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test("rootfs is a working static busybox with users, a sticky /tmp and homes", async () => {
    const { file } = await cachedLayer("busybox");
    const root = tempDir("bb-rootfs");
    await unpackLayer(file, root);
    expect(readlinkSync(join(root, "bin/sh"))).toBe("/bin/busybox");
    expect(statSync(join(root, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, "root")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "home/user")).uid).toBe(1000);
    expect(lstatSync(join(root, "bin/busybox")).isFile()).toBe(true);
    const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
    expect(passwd).toContain("root:x:0:0:");
    expect(passwd).toContain("nobody:x:65534:");
    expect(passwd).toContain("user:x:1000:1000:");
    const out = await exec("chroot", [root, "/bin/sh", "-c", "whoami; stat -c %a /tmp; id -u user; echo ok | wc -l"]);
    expect(out.split("\n")).toEqual(["root", "1777", "1000", "1", ""]);
  });

  test("push/pull round trip keeps the manifest digest (OCI, v2s2, multi-platform)", async () => {
    const layouts = await baseLayouts();
    const refs = await baseImages();
    const reg = await registry();
    expect(refs.busybox).toBe(`${reg.host}/busybox:latest`);
    const { layer } = await cachedLayer("busybox");

    const info = await skopeoInspect(refs.busybox);
    expect(info.Digest).toBe(layoutDigest(layouts.busybox));
    expect(info.Layers).toEqual([layer.digest]);
    expect(info.Architecture).toBe(hostPlatform().architecture);
    expect(info.Os).toBe("linux");
    expect(info.Env).toContain("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

    const v2 = await skopeoInspect(refs.busyboxV2s2, true);
    expect(v2.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(v2.layers.map((l: { digest: string }) => l.digest)).toEqual([layer.digest]);

    const idx = await skopeoInspect(refs.busyboxMulti, true);
    expect(idx.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    const archs = idx.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture).sort();
    expect(archs).toEqual([hostPlatform().architecture, hostPlatform().architecture === "arm64" ? "amd64" : "arm64"].sort());
    expect(idx.manifests.map((m: { digest: string }) => m.digest)).toContain(info.Digest);

    const back = join(tempDir("bb-pull"), "layout");
    await exec("skopeo", ["--insecure-policy", "copy", "--quiet", ...skopeoRegistryFlags(reg, "src"), `docker://${refs.busybox}`, `oci:${back}:latest`]);
    expect(layoutDigest(back)).toBe(info.Digest);
    // The registry saw the pushes: its access log is there for tests to assert on.
    expect(readFileSync(reg.logFile, "utf8")).toMatch(/"PUT \/v2\/busybox\/manifests\/latest HTTP\/1\.1" 201/);
  });

  test("pushes to the auth and TLS registries with their credentials / CA", async () => {
    const layouts = await baseLayouts();
    const want = layoutDigest(layouts.busybox);
    const auth = await authRegistry();
    const pushed = await pushLayout(auth, layouts.busybox, "auth/busybox");
    const creds = `--creds=${auth.username}:${auth.password}`;
    expect(JSON.parse(await exec("skopeo", ["inspect", "--tls-verify=false", creds, `docker://${pushed.oci}`])).Digest).toBe(want);
    await expect(exec("skopeo", ["inspect", "--tls-verify=false", `docker://${pushed.oci}`])).rejects.toThrow();

    const tls = await tlsRegistry();
    const pushedTls = await pushLayout(tls, layouts.busybox, "tls/busybox");
    const certDir = `--cert-dir=${join(tls.caFile!, "..")}`;
    expect(JSON.parse(await exec("skopeo", ["inspect", certDir, `docker://${pushedTls.oci}`])).Digest).toBe(want);
  });

  test("deterministic: rebuilding from the cache and from scratch gives the same digests", async () => {
    const layouts = await baseLayouts();
    const again = await buildBaseLayout("busybox", join(tempDir("bb-again"), "layout"));
    expect(again.manifestDigest).toBe(layoutDigest(layouts.busybox));
    const scratchCache = tempDir("bb-cache");
    const scratch = await buildBaseLayout("busybox", join(scratchCache, "out"), scratchCache);
    expect(existsSync(scratch.layerFile) && scratch.layerFile.startsWith(scratchCache)).toBe(true);
    expect(scratch.layer).toEqual((await cachedLayer("busybox")).layer);
    expect(scratch.manifestDigest).toBe(layoutDigest(layouts.busybox));
    expect(layoutDigest(scratch.dir, "multi")).toBe(layoutDigest(layouts.busybox, "multi"));
  });
});
