// kiln's executor image (examples/executor), built by kiln and pushed to the real test registry:
// its config, that the binary runs with only the libraries staged under /kiln, and that it works
// the way kaniko's image does: run as a container (own mount+pid namespace, /proc, /sys, /dev,
// resolv.conf, the context bind-mounted at /workspace), `--root /` builds in "/" and the result
// equals the same build made on the host, without kiln's own files or the runtime's mounts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { bun, compiledKiln, must, root, run } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-dist-executor-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let busybox: string;
let executor: string;
let binary: string;
const ctx = join(tmp, "executor-ctx");

beforeAll(async () => {
  for (const [t, p] of [["skopeo", "skopeo"], ["umoci", "umoci"], ["patchelf", "patchelf"], ["unshare", "util-linux"], ["chroot", "coreutils"], ["tar", "tar"]]) requireTool(t!, p!);
  reg = await registry();
  busybox = (await baseImages()).busybox;
  binary = await compiledKiln();
  await must("sh", [join(root, "examples/executor/prepare.sh"), ctx, binary]);
  executor = `${reg.host}/kiln/executor:test`;
  await must(bun, ["mod.ts", "build", "-c", ctx, "-f", join(root, "examples/executor/Dockerfile"), "-d", executor]);
}, 300_000);

let n = 0;
/** skopeo copy to an OCI layout, then umoci unpack: the image's root filesystem and runtime config. */
async function unpack(ref: string): Promise<{ rootfs: string; config: { process: { args: string[]; env: string[] } } }> {
  const dir = join(tmp, `unpack-${++n}`);
  mkdirSync(dir);
  await must("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}/layout:x`]);
  await must("umoci", ["unpack", "--image", `${dir}/layout:x`, `${dir}/bundle`]);
  return { rootfs: join(dir, "bundle", "rootfs"), config: JSON.parse(readFileSync(join(dir, "bundle", "config.json"), "utf8")) };
}

function walk(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = `${prefix}${e.name}`;
    return e.isDirectory() ? [`${rel}/`, ...walk(join(dir, e.name), `${rel}/`)] : [rel];
  });
}

describe("the executor image", () => {
  test("has kaniko's entrypoint shape and environment", async () => {
    const cfg = JSON.parse(await must("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${executor}`]));
    expect(cfg.config.Entrypoint).toEqual(["/kiln/executor", "build"]);
    expect(cfg.config.Env).toEqual(expect.arrayContaining(["PATH=/kiln", "DOCKER_CONFIG=/kiln/.docker", "SSL_CERT_FILE=/kiln/ssl/certs/ca-certificates.crt"]));
  });

  test("holds only /kiln (binary, exactly ldd's libraries, CA certs, .docker), nsswitch.conf and /workspace", async () => {
    const { rootfs } = await unpack(executor);
    const ldd = (await must("ldd", [binary])).split("\n").map((l) => l.match(/(\/\S+) \(0x/)?.[1]).filter(Boolean).map((p) => p!.split("/").pop()!);
    expect(ldd.length).toBeGreaterThan(0);
    expect(walk(rootfs).sort()).toEqual([
      "etc/", "etc/nsswitch.conf", "kiln/", "kiln/.docker/", "kiln/executor", "kiln/lib/",
      ...ldd.map((l) => `kiln/lib/${l}`), "kiln/ssl/", "kiln/ssl/certs/", "kiln/ssl/certs/ca-certificates.crt", "workspace/",
    ].sort());
  });

  test("runs `/kiln/executor version` in a chroot with nothing but those files", async () => {
    const { rootfs } = await unpack(executor);
    mkdirSync(join(rootfs, "proc"));
    const r = await run("/usr/bin/unshare", ["--mount", "--pid", "--fork", `--root=${rootfs}`, "--mount-proc", "/kiln/executor", "version"], { env: { PATH: "/kiln" } });
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^kiln \d+\.\d+\.\d+\ncommit \S+\nruntime bun /);
    expect(r.code).toBe(0);
  });
});

// The in-container test build: a COPY, a RUN that adds, changes and deletes, metadata.
const DOCKERFILE = `ARG BASE
FROM $BASE
COPY app/ /app/
RUN mkdir -p /data && echo built > /data/out.txt && rm /bin/vi && chmod 600 /app/secret.txt
WORKDIR /app
ENV GREETING=hello
CMD ["cat", "/app/hello.txt"]
`;

/** The image's config and, per layer, a `tar -tv` listing (reproducible builds: no timestamps). */
async function describeImage(ref: string): Promise<{ config: Record<string, unknown>; layers: string[][] }> {
  const dir = join(tmp, `layout-${++n}`);
  await must("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}:x`]);
  const blob = (d: string) => join(dir, "blobs", ...d.split(":"));
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8"));
  const layers: string[][] = [];
  for (const l of manifest.layers) {
    const out = await must("tar", ["--numeric-owner", "--full-time", "-tvzf", blob(l.digest)]);
    layers.push(out.trim().split("\n").filter(Boolean).sort());
  }
  const c = config.config;
  return { config: { Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels }, layers };
}

/** What a container runtime does, minus the image pull: namespaces, mounts, chroot, the image's env. */
const SANDBOX = `set -e
R=$1; C=$2; shift 2
/bin/mount --bind "$R" "$R"  # a runtime's rootfs is a mount point (overlay): "/" must be one here too
/bin/mount -t proc proc "$R/proc"
/bin/mount -t sysfs sysfs "$R/sys"
/bin/mount --rbind /dev "$R/dev"
/bin/mount --bind "$C" "$R/workspace"
: > "$R/etc/resolv.conf"
/bin/mount --bind /etc/resolv.conf "$R/etc/resolv.conf"
exec /usr/sbin/chroot "$R" "$@"`;

describe("in-container mode (kaniko's model)", () => {
  test("the image builds into its own / and pushes what a host build pushes, minus kiln and the mounts", async () => {
    const app = join(tmp, "app-ctx");
    mkdirSync(join(app, "app"), { recursive: true });
    writeFileSync(join(app, "Dockerfile"), DOCKERFILE);
    writeFileSync(join(app, "app", "hello.txt"), "hello from the executor\n");
    writeFileSync(join(app, "app", "secret.txt"), "s3cret\n");
    const common = ["--build-arg", `BASE=${busybox}`, "--reproducible"];

    const hostRef = `${reg.host}/kiln/in-container:host`;
    await must(bun, ["mod.ts", "build", "-c", app, "-d", hostRef, ...common]);

    const { rootfs, config } = await unpack(executor);
    for (const d of ["proc", "sys", "dev"]) mkdirSync(join(rootfs, d), { recursive: true });
    const executorSha = createHash("sha256").update(readFileSync(join(rootfs, "kiln", "executor"))).digest("hex");
    const ctrRef = `${reg.host}/kiln/in-container:container`;
    // The image's Env as a runtime sets it; container=oci is what Podman/CRI-O put there to say "container".
    const env = Object.fromEntries(config.process.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    const r = await run("/usr/bin/unshare", ["--mount", "--pid", "--fork", "--propagation", "private", "/bin/sh", "-c", SANDBOX, "sh", rootfs, app,
      ...config.process.args, "--context", "dir:///workspace", "--destination", ctrRef, "--root", "/", ...common], { env: { ...env, HOME: "/root", container: "oci" } });
    if (r.code !== 0) console.error(r.out, r.err);
    expect(r.code).toBe(0);

    const host = await describeImage(hostRef);
    const ctr = await describeImage(ctrRef);
    expect(ctr.config).toEqual(host.config);
    expect(ctr.layers).toEqual(host.layers);
    // Not vacuous: the build's own changes are there (added file, whiteout for the deletion).
    const added = ctr.layers.slice(-2).flat().join("\n");
    expect(added).toContain("data/out.txt");
    expect(added).toContain("bin/.wh.vi");
    expect(added).toContain("app/hello.txt");
    // Nothing of kiln's, the context's or the runtime's mounts in the layers the build made.
    const baseLayers = JSON.parse(await must("skopeo", ["inspect", "--tls-verify=false", `docker://${busybox}`])).Layers.length;
    for (const line of ctr.layers.slice(baseLayers).flat()) {
      expect(line).not.toMatch(/ (\.\/)?(kiln|workspace|proc|sys|dev)(\/|$)| (\.\/)?etc\/(resolv|nsswitch)\.conf/);
    }
    // kiln's own files survived the base image being unpacked over "/".
    expect(createHash("sha256").update(readFileSync(join(rootfs, "kiln", "executor"))).digest("hex")).toBe(executorSha);
    expect(existsSync(join(rootfs, "kiln", "lib", "libc.so.6"))).toBe(true);
  });
});
