// Real base images for tests, built offline and reproducibly, cached in .cache/base/:
//   busybox  Debian's busybox-static + applet symlinks + /etc basics          (~1 s)
//   debian   debootstrap --variant=minbase bookworm from the host's apt mirror, slimmed (~1 min, once)
//   busybox for the other architecture (arm64 on an amd64 host, amd64 on arm64): Debian's
//            busybox-static:ARCH through `apt-get download` + `dpkg-deb -x`, and an index of both
//            (layout "multiarch-busybox", pushed as busybox-multi:latest) for multi-platform tests
// Layers are deterministic tars (scripts/lib/deterministic-tar.ts); layouts are hand-written OCI
// image layouts, so the same inputs always give the same manifest digests.
//
//   bun scripts/base-images.ts [--no-debian] [--multi-arch] [--push HOST]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { exec } from "./lib/exec.ts";
import { debianMirror } from "./lib/apt-mirror.ts";
import { busyboxStaticVersion, foreignBusyboxBinary, makeBusyboxRootfs, BUSYBOX_BIN } from "./lib/busybox-rootfs.ts";
import { assertNothingMounted, debootstrapRootfs } from "./lib/debian-rootfs.ts";
import { packRootfs, sha256File, type PackedLayer } from "./lib/deterministic-tar.ts";
import { hostPlatform, imageConfig, LayoutWriter, REF_NAME, type Descriptor, type Platform } from "./lib/oci-layout.ts";
import type { RegistryHandle } from "./registry.ts";

export type BaseImageName = "busybox" | "debian";
/** Layers: the base images' plus busybox for the architecture this host is not. */
type LayerName = BaseImageName | "busybox-foreign";

export interface BaseLayouts {
  busybox: string;
  debian?: string;
}

export interface BaseImageRefs {
  /** OCI manifest, e.g. 127.0.0.1:PORT/busybox:latest */
  busybox: string;
  /** Same image as a Docker v2 schema 2 manifest (…/busybox:v2s2). */
  busyboxV2s2: string;
  /** OCI index: the host platform plus a fake other platform (same layer, different config). */
  busyboxMulti: string;
  debian?: string;
  debianV2s2?: string;
}

/** Real two-architecture busybox images in the registry (multiArchImages() in tests/env.ts). */
export interface MultiArchRefs {
  /** OCI index of linux/amd64 and linux/arm64/v8, e.g. 127.0.0.1:PORT/busybox-multi:latest. */
  index: string;
  /** One single-platform OCI manifest per architecture; the host's is busybox:latest, the other busybox-ARCH:latest. */
  amd64: string;
  arm64: string;
}

export interface BuiltLayout {
  dir: string;
  /** Digest of the host-platform image manifest (tag "latest" in the layout). */
  manifestDigest: string;
  /** The cached gzipped layer and its digests. */
  layerFile: string;
  layer: PackedLayer;
}

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** KILN_BASE_CACHE moves it (e.g. to measure a cold run without wiping the shared cache). */
export const DEFAULT_CACHE_DIR = process.env.KILN_BASE_CACHE || join(REPO_ROOT, ".cache", "base");
/** Every mtime in the layers and every "created" in the configs (2024-01-01T00:00:00Z). */
export const BASE_EPOCH = 1704067200;
export const DEBIAN_SUITE = "bookworm";
export const DEBIAN_VARIANT = "minbase";
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Bump when a recipe changes so stale caches are rebuilt.
const LAYER_RECIPE = { busybox: 1, debian: 1, "busybox-foreign": 1 };
const LAYOUT_RECIPE = 1;

interface LayerRecipe {
  key: string;
  createdBy: string;
  cmd: string[];
  build(rootfs: string): Promise<void>;
}

/** The architecture whose busybox is downloaded: the one of amd64/arm64 that this host is not. */
export function foreignPlatform(): Platform {
  return hostPlatform().architecture === "arm64" ? { architecture: "amd64", os: "linux" } : { architecture: "arm64", os: "linux", variant: "v8" };
}

async function recipe(name: LayerName, cacheDir: string): Promise<LayerRecipe> {
  const arch = hostPlatform().architecture;
  if (name === "busybox-foreign") {
    const version = await busyboxStaticVersion();
    const foreign = foreignPlatform().architecture;
    const binFile = await foreignBusyboxBinary(foreign, cacheDir);
    const bin = await sha256File(binFile);
    return {
      key: keyOf({ r: LAYER_RECIPE[name], version, bin, arch: foreign, epoch: BASE_EPOCH }),
      createdBy: `kiln scripts/base-images.ts: busybox-static:${foreign} ${version}`,
      cmd: ["sh"],
      build: (rootfs) => makeBusyboxRootfs(rootfs, binFile),
    };
  }
  if (name === "busybox") {
    const version = await busyboxStaticVersion();
    const bin = await sha256File(BUSYBOX_BIN);
    return {
      key: keyOf({ r: LAYER_RECIPE.busybox, version, bin, arch, epoch: BASE_EPOCH }),
      createdBy: `kiln scripts/base-images.ts: busybox-static ${version}`,
      cmd: ["sh"],
      build: (rootfs) => makeBusyboxRootfs(rootfs),
    };
  }
  const mirror = debianMirror(DEBIAN_SUITE);
  return {
    key: keyOf({ r: LAYER_RECIPE.debian, mirror, suite: DEBIAN_SUITE, variant: DEBIAN_VARIANT, arch, epoch: BASE_EPOCH }),
    createdBy: `kiln scripts/base-images.ts: debootstrap --variant=${DEBIAN_VARIANT} ${DEBIAN_SUITE}, slimmed`,
    cmd: ["bash"],
    build: (rootfs) => debootstrapRootfs(rootfs, { suite: DEBIAN_SUITE, mirror, variant: DEBIAN_VARIANT }),
  };
}

function keyOf(v: unknown): string {
  return createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);
}

const inflight = new Map<string, Promise<unknown>>();
function once<T>(key: string, f: () => Promise<T>): Promise<T> {
  let p = inflight.get(key) as Promise<T> | undefined;
  if (!p) {
    p = f();
    inflight.set(key, p);
    p.catch(() => inflight.delete(key));
  }
  return p;
}

/** The gzipped rootfs layer for `name`, from cacheDir/layers or built (and cached) now. */
export function cachedLayer(name: LayerName, cacheDir = DEFAULT_CACHE_DIR): Promise<{ file: string; layer: PackedLayer; recipe: LayerRecipe }> {
  return once(`layer:${cacheDir}:${name}`, async () => {
    const r = await recipe(name, cacheDir);
    const stem = name === "busybox-foreign" ? `busybox-${foreignPlatform().architecture}` : name;
    const file = join(cacheDir, "layers", `${stem}-${r.key}.tar.gz`);
    const meta = join(cacheDir, "layers", `${stem}-${r.key}.json`);
    if (existsSync(file) && existsSync(meta)) {
      return { file, layer: JSON.parse(readFileSync(meta, "utf8")) as PackedLayer, recipe: r };
    }
    mkdirSync(join(cacheDir, "layers"), { recursive: true });
    mkdirSync(join(cacheDir, "tmp"), { recursive: true });
    const tmp = mkdtempSync(join(cacheDir, "tmp", `${name}-`));
    try {
      const rootfs = join(tmp, "rootfs");
      mkdirSync(rootfs);
      await r.build(rootfs);
      const layer = await packRootfs(rootfs, join(tmp, "layer.tar"), join(tmp, "layer.tar.gz"), BASE_EPOCH);
      // Rename is atomic, so a concurrent run (another `bun test`) sees either nothing or a whole file.
      renameSync(join(tmp, "layer.tar.gz"), file);
      writeFileSync(`${meta}.${process.pid}`, JSON.stringify(layer));
      renameSync(`${meta}.${process.pid}`, meta);
      return { file, layer, recipe: r };
    } finally {
      assertNothingMounted(tmp);
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/**
 * Writes an OCI layout for `name` into outDir (which must not exist yet) from the cached layer.
 * Tags in index.json: "latest" (host platform), and for busybox also "multi" (an index).
 */
export async function buildBaseLayout(name: BaseImageName, outDir: string, cacheDir = DEFAULT_CACHE_DIR): Promise<BuiltLayout> {
  const { file, layer, recipe: r } = await cachedLayer(name, cacheDir);
  const created = new Date(BASE_EPOCH * 1000).toISOString();
  const w = new LayoutWriter(outDir);
  const layerDesc = w.layerBlob(file, layer);
  const imageFor = (platform: Platform): Descriptor => ({
    ...w.image({
      config: imageConfig({ platform, env: [PATH_ENV], cmd: r.cmd, diffIds: [layer.diffId], created, createdBy: r.createdBy }),
      layers: [layerDesc],
    }),
    platform,
  });
  const host = hostPlatform();
  const main = imageFor(host);
  const entries: Descriptor[] = [{ ...main, annotations: { [REF_NAME]: "latest" } }];
  if (name === "busybox") {
    // The other platform cannot run here; it exists so platform selection has something to pick from.
    const idx = w.index([main, imageFor(foreignPlatform())]);
    entries.push({ ...idx, annotations: { [REF_NAME]: "multi" } });
  }
  w.finish(entries.map(({ platform: _p, ...d }) => d));
  return { dir: outDir, manifestDigest: main.digest, layerFile: file, layer };
}

/**
 * Cached layouts at cacheDir/layouts/<name>-<key>, with a symlink cacheDir/layouts/<name> to the
 * newest. The returned paths are the keyed directories, whose content never changes.
 */
export async function ensureBaseLayouts(opts: { debian?: boolean; cacheDir?: string } = {}): Promise<BaseLayouts> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const busybox = await ensureLayout("busybox", cacheDir);
  if (!opts.debian) return { busybox };
  return { busybox, debian: await ensureLayout("debian", cacheDir) };
}

function ensureLayout(name: BaseImageName, cacheDir: string): Promise<string> {
  return once(`layout:${cacheDir}:${name}`, async () => {
    const { layer } = await cachedLayer(name, cacheDir);
    const key = keyOf({ layer: layer.digest, r: LAYOUT_RECIPE, platform: hostPlatform() });
    return cachedLayoutDir(name, key, cacheDir, (dir) => buildBaseLayout(name, dir, cacheDir));
  });
}

/**
 * Layout "multiarch-busybox": tag "latest" is an OCI index of linux/amd64 and linux/arm64/v8
 * (the host's busybox image, the very manifest of busybox:latest, plus the downloaded one);
 * tags "amd64" and "arm64" name the two image manifests.
 */
export function ensureMultiArchLayout(cacheDir = DEFAULT_CACHE_DIR): Promise<string> {
  return once(`layout:${cacheDir}:multiarch`, async () => {
    const [host, foreign] = await Promise.all([cachedLayer("busybox", cacheDir), cachedLayer("busybox-foreign", cacheDir)]);
    const key = keyOf({ layers: [host.layer.digest, foreign.layer.digest], r: LAYOUT_RECIPE, platform: hostPlatform() });
    return cachedLayoutDir("multiarch-busybox", key, cacheDir, async (outDir) => {
      const created = new Date(BASE_EPOCH * 1000).toISOString();
      const w = new LayoutWriter(outDir);
      const imageOf = (l: typeof host, platform: Platform): Descriptor => ({
        ...w.image({
          config: imageConfig({ platform, env: [PATH_ENV], cmd: l.recipe.cmd, diffIds: [l.layer.diffId], created, createdBy: l.recipe.createdBy }),
          layers: [w.layerBlob(l.file, l.layer)],
        }),
        platform,
      });
      const images = [imageOf(host, hostPlatform()), imageOf(foreign, foreignPlatform())].sort((a, b) => a.platform!.architecture.localeCompare(b.platform!.architecture));
      const idx = w.index(images);
      w.finish([
        { ...idx, annotations: { [REF_NAME]: "latest" } },
        ...images.map(({ platform, ...d }) => ({ ...d, annotations: { [REF_NAME]: platform!.architecture } })),
      ]);
    });
  });
}

/** cacheDir/layouts/<name>-<key>, built by `build` into a temp dir when missing; older keys of `name` are removed. */
async function cachedLayoutDir(name: string, key: string, cacheDir: string, build: (dir: string) => Promise<unknown>): Promise<string> {
  const layouts = join(cacheDir, "layouts");
  const dir = join(layouts, `${name}-${key}`);
  if (!existsSync(join(dir, "index.json"))) {
    mkdirSync(layouts, { recursive: true });
    const tmp = mkdtempSync(join(layouts, `.${name}-`));
    try {
      await build(join(tmp, "layout"));
      try {
        renameSync(join(tmp, "layout"), dir);
      } catch (e) {
        if (!existsSync(join(dir, "index.json"))) throw e; // else a concurrent run won the race
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    // Only "<name>-<16 hex>": "busybox-" must not match another layout such as "busybox-x-<key>".
    const mine = new RegExp(`^${name}-[0-9a-f]{16}$`);
    for (const old of readdirSync(layouts)) {
      if (mine.test(old) && old !== `${name}-${key}`) rmSync(join(layouts, old), { recursive: true, force: true });
    }
  }
  const link = join(layouts, name);
  const tmpLink = `${link}.${process.pid}.tmp`;
  rmSync(tmpLink, { force: true });
  symlinkSync(`${name}-${key}`, tmpLink);
  renameSync(tmpLink, link);
  return dir;
}

/** Digest of the manifest tagged `ref` in an OCI layout's index.json. */
export function layoutDigest(layoutDir: string, ref = "latest"): string {
  const index = JSON.parse(readFileSync(join(layoutDir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const hit = index.manifests.find((m) => m.annotations?.[REF_NAME] === ref);
  if (!hit) throw new Error(`no ${ref} in ${layoutDir}/index.json`);
  return hit.digest;
}

type PushTarget = Pick<RegistryHandle, "host"> & Partial<Pick<RegistryHandle, "username" | "password" | "caFile">>;

/** skopeo flags that reach `reg` as a destination (prefix "dest") or source (prefix "src"). */
export function skopeoRegistryFlags(reg: PushTarget, prefix: "dest" | "src"): string[] {
  const flags: string[] = [];
  if (reg.caFile) flags.push(`--${prefix}-cert-dir=${dirname(reg.caFile)}`);
  else flags.push(`--${prefix}-tls-verify=false`);
  if (reg.username) flags.push(`--${prefix}-creds=${reg.username}:${reg.password ?? ""}`);
  return flags;
}

/** Pushes one layout as NAME:latest (OCI) and NAME:v2s2 (Docker v2 schema 2). */
export async function pushLayout(reg: PushTarget, layoutDir: string, name: string): Promise<{ oci: string; v2s2: string }> {
  const flags = skopeoRegistryFlags(reg, "dest");
  const oci = `${reg.host}/${name}:latest`;
  const v2s2 = `${reg.host}/${name}:v2s2`;
  await exec("skopeo", ["--insecure-policy", "copy", "--quiet", ...flags, `oci:${layoutDir}:latest`, `docker://${oci}`]);
  await exec("skopeo", ["--insecure-policy", "copy", "--quiet", "--format=v2s2", ...flags, `oci:${layoutDir}:latest`, `docker://${v2s2}`]);
  return { oci, v2s2 };
}

/** Builds (if needed) and pushes base images; busybox is always included (its refs are required). */
export async function pushBaseImages(reg: PushTarget, which: BaseImageName[] = ["busybox", "debian"]): Promise<BaseImageRefs> {
  const layouts = await ensureBaseLayouts({ debian: which.includes("debian") });
  const bb = await pushLayout(reg, layouts.busybox, "busybox");
  const multi = `${reg.host}/busybox:multi`;
  await exec("skopeo", ["--insecure-policy", "copy", "--quiet", "--multi-arch=all", ...skopeoRegistryFlags(reg, "dest"), `oci:${layouts.busybox}:multi`, `docker://${multi}`]);
  const refs: BaseImageRefs = { busybox: bb.oci, busyboxV2s2: bb.v2s2, busyboxMulti: multi };
  if (layouts.debian) {
    const deb = await pushLayout(reg, layouts.debian, "debian");
    refs.debian = deb.oci;
    refs.debianV2s2 = deb.v2s2;
  }
  return refs;
}

/**
 * Pushes the multiarch layout: the index as busybox-multi:latest, the foreign image alone as
 * busybox-ARCH:latest (the host's image is busybox:latest, pushed by pushBaseImages).
 */
export async function pushMultiArchImages(reg: PushTarget, hostBusybox: string): Promise<MultiArchRefs> {
  const dir = await ensureMultiArchLayout();
  const flags = skopeoRegistryFlags(reg, "dest");
  const index = `${reg.host}/busybox-multi:latest`;
  const foreign = foreignPlatform().architecture;
  const single = `${reg.host}/busybox-${foreign}:latest`;
  await exec("skopeo", ["--insecure-policy", "copy", "--quiet", "--multi-arch=all", ...flags, `oci:${dir}:latest`, `docker://${index}`]);
  await exec("skopeo", ["--insecure-policy", "copy", "--quiet", ...flags, `oci:${dir}:${foreign}`, `docker://${single}`]);
  return foreign === "arm64" ? { index, amd64: hostBusybox, arm64: single } : { index, amd64: single, arm64: hostBusybox };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const pushAt = args.indexOf("--push");
  const debian = !args.includes("--no-debian");
  const multiArch = args.includes("--multi-arch");
  const t0 = Date.now();
  const layouts: Record<string, string | undefined> = { ...(await ensureBaseLayouts({ debian })) };
  if (multiArch) layouts["multiarch-busybox"] = await ensureMultiArchLayout();
  for (const [name, dir] of Object.entries(layouts)) if (dir) console.log(`${name}\t${layoutDigest(dir)}\t${dir}`);
  console.error(`layouts ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (pushAt >= 0) {
    const host = args[pushAt + 1];
    if (!host) throw new Error("--push needs HOST (e.g. 127.0.0.1:5000)");
    const refs = await pushBaseImages({ host }, debian ? ["busybox", "debian"] : ["busybox"]);
    for (const ref of Object.values(refs)) console.log(ref);
    if (multiArch) for (const ref of new Set(Object.values(await pushMultiArchImages({ host }, refs.busybox)))) console.log(ref);
  }
}
