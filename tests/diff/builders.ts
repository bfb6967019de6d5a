// The two builders of the differential test, each giving the unpacked image's tree and config:
// buildah (the reference) and kiln's CLI. Both images are unpacked by umoci, a neutral peer.
import fs from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { captureTree, type RunConfig, type Tree } from "./compare.ts";
import { loadCase, REPO, type Case } from "./cases.ts";
import type { ImageIndex, ImageManifest } from "../../src/image/types.ts";

const BUN = join(REPO, "node_modules", ".bin", "bun");

export interface DiffEnv {
  registry: string;
  busybox: string;
  debian?: string;
  http: string;
}

/** Runs a command; throws with the tail of its output when it fails or outlives timeoutMs. */
export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 180_000);
    child.on("error", rej);
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      if (code === 0) return res(stdout);
      const tail = (Buffer.concat(err).toString() + stdout).trim().split("\n").slice(-15).join("\n");
      rej(new Error(`${cmd} ${args.slice(0, 6).join(" ")} … ${timedOut ? "timed out" : `exited ${code}`}:\n${tail}`));
    });
  });
}

function buildArgs(c: Case, env: DiffEnv, extra: Record<string, string>): string[] {
  const vars: Record<string, string> = { http: env.http, registry: env.registry, busybox: env.busybox };
  const base = c.base === "debian" ? env.debian : env.busybox;
  if (!base) throw new Error(`${c.name}: the debian base image is missing`);
  const all: Record<string, string> = { BASE: base, ...c.args, ...extra };
  return Object.entries(all).flatMap(([k, v]) => ["--build-arg", `${k}=${v.replace(/\{\{(\w+)\}\}/g, (_, n) => vars[n] ?? `{{${n}}}`)}`]);
}

/** --secret flags (same syntax for buildah and kiln). */
function secretArgs(c: Case): string[] {
  return Object.entries(c.secrets).flatMap(([id, file]) => ["--secret", `id=${id},src=${join(c.dir, file)}`]);
}

export interface Built {
  tree: Tree;
  config: RunConfig;
  ms: number;
}

// overlay, not vfs: vfs finds changes by comparing size and mtime, so it misses a rewrite that keeps
// both (shadow-utils' /etc/group- backup) and turns a hardlink to a lower-layer file into a copy.
// overlay records what the RUN touched, as Docker does. KILN_DIFF_STORAGE_DRIVER=vfs to compare.
const STORAGE_DRIVER = process.env.KILN_DIFF_STORAGE_DRIVER ?? "overlay";

/** buildah in a private storage root, deleted afterwards.
 *  `tamper` edits the unpacked rootfs before it is captured: the self-check's deliberate mutations. */
export async function buildWithBuildah(c: Case, env: DiffEnv, work: string, tamper?: (rootfs: string) => void): Promise<Built> {
  const t0 = Date.now();
  const store = join(work, "buildah-store");
  const g = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", STORAGE_DRIVER];
  // docker format: buildah's OCI configs drop HEALTHCHECK, SHELL and ONBUILD.
  const build = (cc: Case, tag: string, extra: Record<string, string>) =>
    run("buildah", [...g, "build", "--format", "docker", "--isolation", "chroot", "--layers=false", "--tls-verify=false", ...buildArgs(cc, env, extra), ...secretArgs(cc), ...(cc.target ? ["--target", cc.target] : []), "-f", join(cc.dir, cc.buildahDockerfile), "-t", tag, cc.dir]);
  try {
    const extra: Record<string, string> = {};
    if (c.parent) {
      const ref = `${env.registry}/diff/${c.name}-parent-buildah:latest`;
      await build(loadCase(c.parent), "localhost/diff-parent", {});
      await run("buildah", [...g, "push", "--tls-verify=false", "localhost/diff-parent", `docker://${ref}`]);
      extra.PARENT = ref;
    }
    await build(c, "localhost/diff", extra);
    const layout = join(work, "buildah-oci");
    await run("buildah", [...g, "push", "localhost/diff", `oci:${layout}:diff`]);
    const inspect = JSON.parse(await run("buildah", [...g, "inspect", "--type", "image", "localhost/diff"]));
    const tree = await unpack(layout, join(work, "buildah-bundle"), tamper);
    return { tree, config: inspect.Docker?.config ?? {}, ms: Date.now() - t0 };
  } finally {
    await removeStore(store, g);
  }
}

// Never rm -rf through a live overlay mount: unmount whatever buildah left under the store first.
async function removeStore(store: string, g: string[]): Promise<void> {
  if (!fs.existsSync(store)) return;
  await run("buildah", [...g, "umount", "--all"]).catch(() => {});
  const mounted = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]).filter((m) => m?.startsWith(store)).sort().reverse();
  for (const m of mounted) await run("umount", [m]);
  fs.rmSync(store, { recursive: true, force: true });
}

export async function buildWithKiln(c: Case, env: DiffEnv, work: string): Promise<Built> {
  const t0 = Date.now();
  const kiln = (cc: Case, out: string[], extra: Record<string, string>) =>
    run(BUN, ["mod.ts", "build", "--context", cc.dir, "--dockerfile", "Dockerfile", ...out, ...buildArgs(cc, env, extra), ...secretArgs(cc), ...(cc.target ? ["--target", cc.target] : []), "--insecure-registry", env.registry, "--cache-mount-dir", join(work, "kiln-cache-mounts")], { cwd: REPO });
  const extra: Record<string, string> = {};
  if (c.parent) {
    const ref = `${env.registry}/diff/${c.name}-parent-kiln:latest`;
    await kiln(loadCase(c.parent), ["--destination", ref], {});
    extra.PARENT = ref;
  }
  const layout = join(work, "kiln-oci");
  await kiln(c, ["--no-push", "--oci-layout-path", layout], extra);
  const config = tagLayout(layout, "diff");
  const tree = await unpack(layout, join(work, "kiln-bundle"));
  return { tree, config, ms: Date.now() - t0 };
}

/** A JSON blob of the layout, typed as the caller expects it to be. */
function blob<T>(layout: string, digest: string): T {
  return JSON.parse(fs.readFileSync(join(layout, "blobs", ...digest.split(":")), "utf8"));
}

// umoci unpacks by tag; kiln's layout is tagged however kiln tags it, so (re)tag its image as `tag`.
// Returns the image config's runtime part.
export function tagLayout(layout: string, tag: string): RunConfig {
  const idx = JSON.parse(fs.readFileSync(join(layout, "index.json"), "utf8"));
  if (!idx.manifests?.length) throw new Error(`${layout}: index.json lists no image`);
  let desc = idx.manifests[0];
  if (desc.mediaType?.includes("index") || desc.mediaType?.includes("manifest.list")) {
    const arch = { x64: "amd64", arm64: "arm64" }[process.arch as string] ?? process.arch;
    const inner = blob<ImageIndex>(layout, desc.digest).manifests;
    desc = inner.find((m) => m.platform?.architecture === arch) ?? inner[0];
  }
  const manifest = blob<ImageManifest>(layout, desc.digest);
  fs.writeFileSync(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { "org.opencontainers.image.ref.name": tag } }] }));
  return blob<{ config?: RunConfig }>(layout, manifest.config.digest).config ?? {};
}

async function unpack(layout: string, bundle: string, tamper?: (rootfs: string) => void): Promise<Tree> {
  await run("umoci", ["unpack", "--image", `${layout}:diff`, bundle]);
  try {
    tamper?.(join(bundle, "rootfs"));
    return captureTree(join(bundle, "rootfs"));
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
}
