// Differential test harness: builds one case of tests/diff/cases/ with buildah and with kiln,
// unpacks both images with umoci (a neutral peer) and compares trees and configs (compare.ts).
import fs from "node:fs";
import os from "node:os";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { baseImages, registry, requireTool } from "../env.ts";
import { captureTree, diffConfigs, diffTrees, type Difference, type RunConfig, type Tree } from "./compare.ts";
import { isAllowed, loadAllowList, type AllowEntry } from "./allowlist.ts";
import { fileServer } from "./http.ts";

export const DIFF_DIR = dirname(fileURLToPath(import.meta.url));
export const CASES_DIR = join(DIFF_DIR, "cases");
export const REPO = resolve(DIFF_DIR, "../..");
export const ALLOWLIST_FILE = join(REPO, "docs", "diff-allowlist.md");
const BUN = join(REPO, "node_modules", ".bin", "bun");

export interface Case {
  name: string;
  dir: string;
  /** what the case is for: the Dockerfile's leading "# covers:" comment */
  covers: string;
  base: "busybox" | "debian";
  /** extra build args; values may use {{http}}, {{registry}}, {{busybox}} */
  args: Record<string, string>;
  /** a case dir to build and push first with the same builder, passed as build arg PARENT (ONBUILD) */
  parent?: string;
  target?: string;
  /** buildah 1.28 (Debian bookworm) has no heredocs: such cases give it an equivalent Dockerfile */
  buildahDockerfile: string;
}

export function loadCase(name: string): Case {
  const dir = join(CASES_DIR, name);
  const specFile = join(dir, "case.json");
  const spec = fs.existsSync(specFile) ? JSON.parse(fs.readFileSync(specFile, "utf8")) : {};
  const df = fs.readFileSync(join(dir, "Dockerfile"), "utf8");
  const covers = /^# covers: (.*)$/m.exec(df)?.[1] ?? "";
  return { name, dir, covers, base: spec.base ?? "busybox", args: spec.args ?? {}, parent: spec.parent, target: spec.target, buildahDockerfile: spec.buildahDockerfile ?? "Dockerfile" };
}

/** Every case, sorted; a case that is only some other case's parent is still a case of its own. */
export function loadCases(): Case[] {
  return fs.readdirSync(CASES_DIR).filter((n) => fs.existsSync(join(CASES_DIR, n, "Dockerfile"))).sort().map(loadCase);
}

export interface DiffEnv {
  registry: string;
  busybox: string;
  debian?: string;
  http: string;
}

export async function diffEnv(debian: boolean): Promise<DiffEnv> {
  requireTool("buildah", "buildah");
  requireTool("umoci", "umoci");
  const reg = await registry();
  const bases = await baseImages({ debian });
  return { registry: reg.host, busybox: bases.busybox, debian: bases.debian, http: await fileServer(CASES_DIR) };
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
    run("buildah", [...g, "build", "--format", "docker", "--isolation", "chroot", "--layers=false", "--tls-verify=false", ...buildArgs(cc, env, extra), ...(cc.target ? ["--target", cc.target] : []), "-f", join(cc.dir, cc.buildahDockerfile), "-t", tag, cc.dir]);
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
    run(BUN, ["mod.ts", "build", "--context", cc.dir, "--dockerfile", "Dockerfile", ...out, ...buildArgs(cc, env, extra), ...(cc.target ? ["--target", cc.target] : []), "--insecure-registry", env.registry], { cwd: REPO });
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

function blob(layout: string, digest: string): any {
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
    const inner = blob(layout, desc.digest).manifests;
    desc = inner.find((m: any) => m.platform?.architecture === arch) ?? inner[0];
  }
  const manifest = blob(layout, desc.digest);
  fs.writeFileSync(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { "org.opencontainers.image.ref.name": tag } }] }));
  return blob(layout, manifest.config.digest).config ?? {};
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

export interface CaseResult {
  failures: Difference[];
  allowed: { d: Difference; why: AllowEntry }[];
  buildahMs: number;
  kilnMs: number;
}

export function compareBuilt(name: string, buildah: Built, kiln: Built, allow: AllowEntry[]): Pick<CaseResult, "failures" | "allowed"> {
  const all = [...diffConfigs(buildah.config, kiln.config), ...diffTrees(buildah.tree, kiln.tree)];
  const failures: Difference[] = [];
  const allowed: CaseResult["allowed"] = [];
  for (const d of all) {
    const why = isAllowed(d, name, allow);
    if (why) allowed.push({ d, why });
    else failures.push(d);
  }
  return { failures, allowed };
}

/** kiln first: while the executor is unfinished that fails fast, before spending time on buildah. */
export async function runCase(c: Case): Promise<CaseResult> {
  const env = await diffEnv(c.base === "debian");
  const allow = loadAllowList(ALLOWLIST_FILE);
  const work = fs.mkdtempSync(join(os.tmpdir(), `kiln-diff-${c.name}-`));
  try {
    const kiln = await buildWithKiln(c, env, work);
    const buildah = await buildWithBuildah(c, env, work);
    return { ...compareBuilt(c.name, buildah, kiln, allow), buildahMs: buildah.ms, kilnMs: kiln.ms };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function formatFailures(c: Case, r: CaseResult, limit = 25): string {
  const lines = [`${c.name} (${c.covers}): ${r.failures.length} difference(s) kiln vs buildah not in docs/diff-allowlist.md:`];
  for (const d of r.failures.slice(0, limit)) lines.push(`  ${d.text}`);
  if (r.failures.length > limit) lines.push(`  … and ${r.failures.length - limit} more`);
  return lines.join("\n");
}

/** At most n promises of fn in flight (two cores: two builds at a time). */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>) => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
