// kiln's executor image (examples/executor) and its debug variant, built by kiln and pushed to the
// real test registry: kaniko's paths and environment, that the binary runs with only the libraries
// staged under /kiln, and that it works the way kaniko's image does: run as a container (own
// mount+pid namespace, /proc, /sys, /dev, resolv.conf, volumes bind-mounted), it builds in "/" and
// the result equals the same build made on the host, without kiln's own files or the runtime's
// mounts. kaniko's documented GitLab CI script and Kubernetes Job args run verbatim (only the
// image name differs), against registries with basic auth and with TLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authRegistry, baseImages, registry, requireTool, tlsRegistry, type RegistryHandle } from "../env.ts";
import { bun, compiledKiln, must, root, run } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-dist-executor-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let busybox: string;
let executor: string;
let debug: string;
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
  debug = `${reg.host}/kiln/executor:test-debug`;
  await must(bun, ["mod.ts", "build", "-c", ctx, "-f", join(root, "examples/executor/Dockerfile.debug"), "--build-arg", `EXECUTOR=${executor}`, "-d", debug]);
}, 300_000);

let n = 0;
/** skopeo copy to an OCI layout, then umoci unpack: the image's root filesystem and runtime config. */
async function unpack(ref: string): Promise<{ rootfs: string; config: { process: { args: string[]; env: string[]; cwd?: string } } }> {
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

const KANIKO_ENV = ["HOME=/root", "USER=root", "DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs"];

describe("the executor image", () => {
  test("has kaniko's entrypoint, paths and environment, plus kiln's", async () => {
    const cfg = JSON.parse(await must("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${executor}`]));
    expect(cfg.config.Entrypoint).toEqual(["/kaniko/executor"]);
    expect(cfg.config.WorkingDir).toBe("/workspace");
    expect(cfg.config.Env).toEqual(expect.arrayContaining([...KANIKO_ENV, "PATH=/usr/local/bin:/kaniko", "KILN_ROOT=/", "KILN_WORKDIR=/kiln/work"]));
  });

  test("the debug variant adds busybox under /busybox and to PATH, nothing else", async () => {
    const cfg = JSON.parse(await must("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${debug}`]));
    expect(cfg.config.Entrypoint).toEqual(["/kaniko/executor"]);
    expect(cfg.config.Env).toEqual(expect.arrayContaining([...KANIKO_ENV, "PATH=/usr/local/bin:/kaniko:/busybox"]));
    const plain = walk((await unpack(executor)).rootfs);
    const dbg = walk((await unpack(debug)).rootfs);
    const added = dbg.filter((p) => !plain.includes(p));
    expect(added).toContain("busybox/sh");
    expect(added).toContain("busybox/busybox");
    expect(added.filter((p) => !p.startsWith("busybox/"))).toEqual([]);
  });

  test("holds only /kiln (binary, exactly ldd's libraries, CA certs, .docker), kaniko's names, nsswitch.conf and /workspace", async () => {
    const { rootfs } = await unpack(executor);
    const ldd = (await must("ldd", [binary])).split("\n").map((l) => l.match(/(\/\S+) \(0x/)?.[1]).filter(Boolean).map((p) => p!.split("/").pop()!);
    expect(ldd.length).toBeGreaterThan(0);
    expect(walk(rootfs).sort()).toEqual([
      "etc/", "etc/nsswitch.conf", "kiln/", "kiln/.docker/", "kiln/executor", "kiln/lib/",
      ...ldd.map((l) => `kiln/lib/${l}`), "kiln/ssl/", "kiln/ssl/certs/", "kiln/ssl/certs/ca-certificates.crt", "workspace/",
      "kaniko/", "kaniko/.docker/", "kaniko/executor", "kaniko/warmer", "kaniko/ssl/", "kaniko/ssl/certs/", "kaniko/ssl/certs/ca-certificates.crt",
    ].sort());
    expect(readlinkSync(join(rootfs, "kaniko", "executor"))).toBe("/kiln/executor");
  });

  test("runs in a chroot with nothing but those files: `version`, and the command picked by the name", async () => {
    const { rootfs } = await unpack(executor);
    mkdirSync(join(rootfs, "proc"));
    const inRoot = (...cmd: string[]) => run("/usr/bin/unshare", ["--mount", "--pid", "--fork", `--root=${rootfs}`, "--mount-proc", ...cmd], { env: { PATH: "/usr/local/bin:/kaniko" } });
    for (const exe of ["/kiln/executor", "/kaniko/executor"]) {
      const r = await inRoot(exe, "version");
      expect(r.err).toBe("");
      expect(r.out).toMatch(/^kiln \d+\.\d+\.\d+\ncommit \S+\nruntime bun /);
      expect(r.code).toBe(0);
    }
    // Named executor, flags alone are `kiln build`; named warmer, `kiln warm`.
    const build = await inRoot("/kaniko/executor", "--help");
    expect(build.out).toContain("Usage: kiln build [flags]");
    const warm = await inRoot("/kaniko/warmer", "--help");
    expect(warm.out).toContain("Usage: kiln warm [flags]");
    const bad = await inRoot("/kaniko/executor", "--cahce");
    expect([bad.code, bad.err]).toEqual([2, "kiln: unknown flag --cahce (did you mean --cache?)\n"]);
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

/**
 * What a container runtime does, minus the image pull: namespaces, mounts (volumes are HOST:PATH
 * arguments before "--"), the image's working directory, then the command.
 */
const SANDBOX = `set -e
R=$1; W=$2; shift 2
/bin/mount --bind "$R" "$R"  # a runtime's rootfs is a mount point (overlay): "/" must be one here too
/bin/mount -t proc proc "$R/proc"
/bin/mount -t sysfs sysfs "$R/sys"
/bin/mount --rbind /dev "$R/dev"
while [ "$1" != "--" ]; do
  /bin/mkdir -p "$R\${1#*:}"
  /bin/mount --bind "\${1%%:*}" "$R\${1#*:}"
  shift
done
shift
: > "$R/etc/resolv.conf"
/bin/mount --bind /etc/resolv.conf "$R/etc/resolv.conf"
exec /usr/bin/unshare --root="$R" --wd="$W" "$@"`;

interface Container {
  /** The image's environment as a runtime sets it, plus `env`. */
  env?: Record<string, string>;
  /** HOST:PATH bind mounts (volumes). */
  volumes?: string[];
  /** The command; default the image's entrypoint followed by `args`. */
  command?: string[];
  args?: string[];
}

/** Run a fresh copy of `image` the way Docker/Kubernetes would; returns its exit and output. */
async function runContainer(image: string, c: Container): Promise<{ code: number | null; out: string; err: string; rootfs: string }> {
  const { rootfs, config } = await unpack(image);
  for (const d of ["proc", "sys", "dev"]) mkdirSync(join(rootfs, d), { recursive: true });
  const env = Object.fromEntries(config.process.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  const cmd = c.command ?? [...config.process.args, ...(c.args ?? [])];
  // container=oci is what Podman/CRI-O put there to say "container".
  const r = await run("/usr/bin/unshare", ["--mount", "--pid", "--fork", "--propagation", "private", "/bin/sh", "-c", SANDBOX, "sh", rootfs, config.process.cwd ?? "/",
    ...(c.volumes ?? []), "--", ...cmd], { env: { ...env, container: "oci", ...(c.env ?? {}) } });
  if (r.code !== 0) console.error(r.out, r.err);
  return { ...r, rootfs };
}

/** The build context every image test builds. */
function appContext(name: string, dockerfile = "Dockerfile"): string {
  const app = join(tmp, name);
  mkdirSync(join(app, "app"), { recursive: true });
  writeFileSync(join(app, dockerfile), DOCKERFILE.replace("ARG BASE\nFROM $BASE", `FROM ${busybox}`));
  writeFileSync(join(app, "app", "hello.txt"), "hello from the executor\n");
  writeFileSync(join(app, "app", "secret.txt"), "s3cret\n");
  return app;
}

/** Layers the build added hold its changes and nothing of kiln's, kaniko's, the context's or the mounts. */
async function expectCleanLayers(layers: string[][]): Promise<void> {
  const added = layers.slice(-2).flat().join("\n");
  expect(added).toContain("data/out.txt");
  expect(added).toContain("bin/.wh.vi");
  expect(added).toContain("app/hello.txt");
  const baseLayers = JSON.parse(await must("skopeo", ["inspect", "--tls-verify=false", `docker://${busybox}`])).Layers.length;
  for (const line of layers.slice(baseLayers).flat()) {
    expect(line).not.toMatch(/ (\.\/)?(kiln|kaniko|busybox|workspace|builds|proc|sys|dev)(\/|$)| (\.\/)?etc\/(resolv|nsswitch)\.conf/);
  }
}

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

    const ctrRef = `${reg.host}/kiln/in-container:container`;
    const r = await runContainer(executor, { volumes: [`${app}:/workspace`], args: ["--context", "dir:///workspace", "--destination", ctrRef, "--root", "/", ...common] });
    expect(r.code).toBe(0);
    // kiln's own files survived the base image being unpacked over "/".
    expect(existsSync(join(r.rootfs, "kiln", "lib", "libc.so.6"))).toBe(true);
    expect(createHash("sha256").update(readFileSync(join(r.rootfs, "kiln", "executor"))).digest("hex"))
      .toBe(createHash("sha256").update(readFileSync(join(ctx, "kiln", "executor"))).digest("hex"));

    const host = await describeImage(hostRef);
    const ctr = await describeImage(ctrRef);
    expect(ctr.config).toEqual(host.config);
    expect(ctr.layers).toEqual(host.layers);
    await expectCleanLayers(ctr.layers);
  });
});

// kaniko's GitLab CI job (GitLab's "Use kaniko to build Docker images" page and kaniko's README):
// the debug image, `entrypoint: [""]`, this script. Only the image name differs in a real job.
const GITLAB_SCRIPT = [
  "mkdir -p /kaniko/.docker",
  `echo "{\\"auths\\":{\\"\${CI_REGISTRY}\\":{\\"auth\\":\\"$(printf "%s:%s" "\${CI_REGISTRY_USER}" "\${CI_REGISTRY_PASSWORD}" | base64 | tr -d '\\n')\\"}}}" > /kaniko/.docker/config.json`,
  `/kaniko/executor --context "\${CI_PROJECT_DIR}" --dockerfile "\${CI_PROJECT_DIR}/Dockerfile" --destination "\${CI_REGISTRY_IMAGE}:\${CI_COMMIT_TAG}"`,
];

/** The pushed image, read with the registry's credentials (if any). */
async function describeOn(reg2: RegistryHandle, ref: string): Promise<{ layers: string[][] }> {
  const dir = join(tmp, `layout-${++n}`);
  const creds = reg2.username ? ["--src-creds", `${reg2.username}:${reg2.password}`] : [];
  await must("skopeo", ["copy", "--quiet", "--src-tls-verify=false", ...creds, `docker://${ref}`, `oci:${dir}:x`]);
  const blob = (d: string) => join(dir, "blobs", ...d.split(":"));
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
  const layers: string[][] = [];
  for (const l of manifest.layers) layers.push((await must("tar", ["--numeric-owner", "-tvzf", blob(l.digest)])).trim().split("\n").filter(Boolean).sort());
  return { layers };
}

describe("kaniko's documented CI recipes, verbatim", () => {
  const registries: [string, () => Promise<RegistryHandle>][] = [["basic auth", authRegistry], ["TLS", tlsRegistry]];

  test.each(registries)("GitLab CI script through the debug image (registry with %s)", async (_kind, start) => {
    const target = await start();
    const project = appContext(`gitlab-${++n}`);
    const image = `${target.host}/group/project`;
    const r = await runContainer(debug, {
      // entrypoint: [""] — the runner runs the job's script with the image's shell.
      command: ["/busybox/sh", "-c", `set -e\n${GITLAB_SCRIPT.join("\n")}`],
      volumes: [`${project}:/builds/group/project`],
      env: {
        CI_PROJECT_DIR: "/builds/group/project", CI_REGISTRY: target.host, CI_REGISTRY_IMAGE: image, CI_COMMIT_TAG: "v1.0",
        CI_REGISTRY_USER: target.username ?? "", CI_REGISTRY_PASSWORD: target.password ?? "",
      },
    });
    expect(r.code).toBe(0);
    // The credentials went where kaniko's recipe puts them, and never into the log.
    expect(readFileSync(join(r.rootfs, "kaniko", ".docker", "config.json"), "utf8")).toContain('"auths"');
    if (target.password) expect(r.out + r.err).not.toContain(target.password);
    await expectCleanLayers((await describeOn(target, `${image}:v1.0`)).layers);
  });

  test("GitLab CI script with a wrong password fails with exit 1 and pushes nothing", async () => {
    const target = await authRegistry();
    const project = appContext(`gitlab-bad-${++n}`);
    const image = `${target.host}/group/denied`;
    const r = await runContainer(debug, {
      command: ["/busybox/sh", "-c", `set -e\n${GITLAB_SCRIPT.join("\n")}`],
      volumes: [`${project}:/builds/group/project`],
      env: { CI_PROJECT_DIR: "/builds/group/project", CI_REGISTRY: target.host, CI_REGISTRY_IMAGE: image, CI_COMMIT_TAG: "v1.0", CI_REGISTRY_USER: target.username!, CI_REGISTRY_PASSWORD: "wrong-password" },
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^kiln: .*(401|unauthorized|denied|credential)/im);
    const list = await run("skopeo", ["list-tags", "--tls-verify=false", "--creds", `${target.username}:${target.password}`, `docker://${image}`]);
    expect(list.out).not.toContain("v1.0");
  });

  // kaniko's Kubernetes example: the executor image, the context on a volume at /workspace,
  // the registry secret mounted as /kaniko/.docker/config.json, and these args.
  const K8S_ARGS = (dest: string) => ["--dockerfile=Dockerfile", "--context=dir:///workspace", `--destination=${dest}`, "--cache=true"];

  test.each([["no auth", registry], ["basic auth", authRegistry]] as [string, () => Promise<RegistryHandle>][])("Kubernetes Job args through the plain image (registry with %s)", async (_kind, start) => {
    const target = await start();
    const app = appContext(`k8s-${++n}`);
    const secret = join(tmp, `secret-${n}`);
    mkdirSync(secret);
    const auths = target.username ? { [target.host]: { auth: Buffer.from(`${target.username}:${target.password}`).toString("base64") } } : {};
    writeFileSync(join(secret, "config.json"), JSON.stringify({ auths }));
    const dest = `${target.host}/app:1.0`;
    const r = await runContainer(executor, { volumes: [`${app}:/workspace`, `${secret}:/kaniko/.docker`], args: K8S_ARGS(dest) });
    expect(r.code).toBe(0);
    await expectCleanLayers((await describeOn(target, dest)).layers);
  });
});
