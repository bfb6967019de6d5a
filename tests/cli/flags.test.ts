// Every flag of kaniko's executor (../shared/reference/kaniko-executor.md), table-driven:
//  1. each accepted syntax (--flag, --flag=true/false, --flag v, --flag=v, -x v, -xv, the
//     deprecated spellings) parses to the same BuildOptions value;
//  2. one real build per flag (through the CLI, against the local registry) shows its effect on
//     the image, the files written or the output. The forms rotate over the rows, so every
//     syntax is also exercised end to end.
// Rows marked `by` have their effect implemented elsewhere (d2: the registry transport; planner:
// --skip-unused-stages; executor: --force-build-metadata): only the parsed value is checked here,
// and the coordinator extends those rows after merging.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { parseBuildCommandLine } from "../../src/cli/build.ts";
import { BUILD_FLAGS } from "../../src/cli/build-flags.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { bun, root, run, type Ran } from "../dist/helpers.ts";
import { makeGitRepo, serveDir, type DirServer } from "./remote-fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-flags-"));
let reg: RegistryHandle;
let busybox: string;
let srv: DirServer;
let n = 0;

// ---- contexts ----
const SCRATCH = join(tmp, "scratch");
const RUNCTX = join(tmp, "run");
const STAGES = join(tmp, "stages");
function writeContexts(): void {
  mkdirSync(join(SCRATCH, "sub"), { recursive: true });
  mkdirSync(join(SCRATCH, "alt"), { recursive: true });
  writeFileSync(join(SCRATCH, "Dockerfile"), "FROM scratch\nARG MSG=default\nCOPY hello.txt /hello.txt\nLABEL from=main msg=$MSG\n");
  writeFileSync(join(SCRATCH, "alt", "Other.Dockerfile"), "FROM scratch\nCOPY hello.txt /alt.txt\nLABEL from=alt\n");
  writeFileSync(join(SCRATCH, "hello.txt"), "hello\n");
  writeFileSync(join(SCRATCH, "sub", "Dockerfile"), "FROM scratch\nCOPY s.txt /s.txt\nLABEL from=sub\n");
  writeFileSync(join(SCRATCH, "sub", "s.txt"), "sub\n");
  // Compressible but not trivially: gzip -1 and -9 give different sizes.
  let big = "";
  for (let i = 0; big.length < 400_000; i++) big += `line ${i} ${(i * 7919) % 1013} ${"abcdefghij".slice(i % 10)}\n`;
  writeFileSync(join(SCRATCH, "big.txt"), big);
  writeFileSync(join(SCRATCH, "Big.Dockerfile"), "FROM scratch\nCOPY big.txt /big.txt\n");
  mkdirSync(STAGES, { recursive: true });
  writeFileSync(join(STAGES, "Dockerfile"), "FROM scratch AS a\nLABEL from=a\nFROM scratch AS b\nLABEL from=b\n");
  mkdirSync(RUNCTX, { recursive: true });
  writeFileSync(join(RUNCTX, "data.txt"), "original\n");
}
const RUN_DOCKERFILE = (base: string) => `FROM ${base}
COPY data.txt /data.txt
RUN mkdir -p /var/run/k /ignored && echo r > /var/run/k/f && echo i > /ignored/f && echo k > /kept
RUN cp -p /data.txt /ref && printf 'CHANGED!' | dd of=/data.txt conv=notrunc 2>/dev/null && touch -r /ref /data.txt && rm /ref
`;

beforeAll(async () => {
  requireTool("tar", "tar");
  requireTool("git", "git");
  reg = await registry();
  busybox = (await baseImages()).busybox;
  writeContexts();
  writeFileSync(join(RUNCTX, "Dockerfile"), RUN_DOCKERFILE(busybox));
  const served = join(tmp, "served");
  mkdirSync(served);
  makeGitRepo(served);
  execFileSync("tar", ["-czf", join(served, "ctx.tar.gz"), "-C", join(SCRATCH, "sub"), "."]);
  srv = await serveDir(served);
}, 300_000);
afterAll(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

// ---- running kiln and reading what it pushed ----
interface Built extends Ran {
  ref: string;
  dir: string;
}

async function kiln(args: string[], env: Record<string, string> = {}): Promise<Built> {
  const ref = `${reg.host}/flags/t${++n}:latest`;
  const dir = join(tmp, `out-${n}`);
  mkdirSync(dir);
  const r = await run(bun, [join(root, "mod.ts"), ...args.map((a) => a.replaceAll("REPO", ref.replace(/:latest$/, "")).replaceAll("REF", ref).replaceAll("OUT", dir))], { env: { ...process.env, NO_COLOR: "1", ...env } });
  return { ...r, ref, dir };
}

const ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
async function manifest(ref: string): Promise<{ status: number; body: { config: { digest: string }; layers: { digest: string; mediaType: string; size: number }[] }; digest: string }> {
  const [repo, tag] = ref.slice(reg.host.length + 1).split(":");
  const res = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT } });
  const text = await res.text();
  return { status: res.status, body: res.ok ? JSON.parse(text) : undefined, digest: res.headers.get("docker-content-digest") ?? "" };
}
async function blob(ref: string, digest: string): Promise<Uint8Array> {
  const repo = ref.slice(reg.host.length + 1).split(":")[0];
  return new Uint8Array(await (await fetch(`http://${reg.host}/v2/${repo}/blobs/${digest}`)).arrayBuffer());
}
async function config(ref: string): Promise<{ architecture: string; created?: string; config: { Labels?: Record<string, string> } }> {
  const m = await manifest(ref);
  expect(m.status).toBe(200);
  return JSON.parse(new TextDecoder().decode(await blob(ref, m.body.config.digest)));
}
/** The paths in layer i (negative: from the end), as `tar -tz` lists them, without "./". */
async function layerFiles(ref: string, i: number): Promise<string[]> {
  const m = (await manifest(ref)).body;
  const l = m.layers.at(i)!;
  const f = join(tmp, `layer-${++n}.tgz`);
  writeFileSync(f, await blob(ref, l.digest));
  return execFileSync("tar", ["-tzf", f], { encoding: "utf8" }).split("\n").filter(Boolean).map((p) => p.replace(/^\.\//, "").replace(/\/$/, ""));
}
const ok = (r: Built) => {
  if (r.code !== 0) throw new Error(`kiln exited ${r.code}\n${r.err}`);
};
const fails = (r: Built, code: number, text: string) => {
  expect(r.code).toBe(code);
  expect(r.err).toContain(text);
  expect(r.err.trim().split("\n").filter((l) => l.startsWith("kiln:")).length).toBe(1);
};
const label = async (r: Built, k: string) => (await config(r.ref)).config.Labels?.[k];
const cacheEntries = (dir: string) => existsSync(join(dir, "index.json")) ? JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests.length : 0;

// ---- the forms of each flag type ----
const on = (f: string) => [[`--${f}`], [`--${f}=true`]];
const off = (f: string) => [[`--${f}=false`]];
const val = (f: string, v: string, short?: string) => [[`--${f}`, v], [`--${f}=${v}`], ...(short ? [[`-${short}`, v], [`-${short}${v}`]] : [])];

type Pick = (o: BuildOptions) => unknown;
interface Row {
  flag: string;
  forms: string[][];
  /** The BuildOptions value every form must give. */
  pick: Pick;
  want: unknown;
  /** Context and flags every form is parsed with (default: the scratch context, --no-push). */
  base?: string[];
  env?: Record<string, string>;
  /** A real build with one of the forms (FORM in args is replaced by it) and what to check. */
  effect?: { args: string[]; env?: Record<string, string>; check: (r: Built) => Promise<void> | void };
  /** Every form is refused with this message (flags kiln does not support). */
  rejects?: string;
  /** The effect is another helper's: only the parsed value is checked here. */
  by?: "d2" | "planner" | "executor" | "host";
}

const S = ["-c", SCRATCH];
const ROWS: Row[] = [
  { flag: "verbosity", forms: val("verbosity", "error", "v"), pick: (o) => o.verbosity, want: "error",
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => { ok(r); expect(r.err).toBe(""); } } },
  { flag: "verbosity (fatal, panic)", forms: [...val("verbosity", "fatal", "v"), ...val("verbosity", "panic")], pick: (o) => o.verbosity, want: "error",
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => { ok(r); expect(r.err).toBe(""); } } },
  { flag: "verbosity (debug)", forms: val("verbosity", "debug", "v"), pick: (o) => o.verbosity, want: "debug",
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => { ok(r); expect(r.err).toMatch(/(GET|HEAD|PUT|POST) /); } } },
  { flag: "log-format", forms: val("log-format", "json"), pick: (o) => o.logFormat, want: "json",
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => {
      ok(r);
      const lines = r.err.trim().split("\n");
      expect(lines.length).toBeGreaterThan(2);
      for (const l of lines) expect(JSON.parse(l)).toHaveProperty("event");
    } } },
  { flag: "log-format (color, not a terminal)", forms: val("log-format", "color"), pick: (o) => o.logFormat, want: "text",
    effect: { args: [...S, "-d", "REF", "FORM", "--compressed-caching=false"], check: (r) => {
      ok(r);
      expect(r.err).toContain("WARN flag --compressed-caching");
      expect(r.err).not.toContain("\x1b[");
    } } },
  { flag: "log-timestamp", forms: on("log-timestamp"), pick: (o) => o.logTimestamp, want: true,
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => {
      ok(r);
      for (const l of r.err.trim().split("\n")) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    } } },
  { flag: "force", forms: on("force"), pick: (o) => o.force, want: true, by: "host" },
  { flag: "dockerfile", forms: val("dockerfile", "alt/Other.Dockerfile", "f"), pick: (o) => o.dockerfile, want: "alt/Other.Dockerfile",
    effect: { args: [...S, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect(await label(r, "from")).toBe("alt"); } } },
  { flag: "context", forms: val("context", SCRATCH, "c"), base: ["--no-push"], pick: (o) => o.context, want: SCRATCH,
    effect: { args: ["-d", "REF", "FORM"], check: async (r) => { ok(r); expect(await layerFiles(r.ref, -1)).toContain("hello.txt"); } } },
  { flag: "context (dir://)", forms: val("context", `dir://${SCRATCH}`, "c"), base: ["--no-push"], pick: (o) => o.context, want: SCRATCH },
  { flag: "context (https://….tar.gz, here http on loopback)", forms: [["--context", "URL/ctx.tar.gz"]], base: ["--no-push"], pick: (o) => o.context.replace(srv.url, "URL"), want: "URL/ctx.tar.gz",
    effect: { args: ["-d", "REF", "--context", "URL/ctx.tar.gz"], check: async (r) => { ok(r); expect(await label(r, "from")).toBe("sub"); } } },
  { flag: "context-sub-path", forms: val("context-sub-path", "sub"), pick: (o) => o.contextSubPath, want: "sub",
    effect: { args: [...S, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect(await label(r, "from")).toBe("sub"); } } },
  { flag: "bucket", forms: val("bucket", "my-bucket", "b"), pick: () => undefined, want: undefined, rejects: "flag --bucket: GCS bucket contexts are not supported by kiln",
    effect: { args: [...S, "-d", "REF", "FORM"], check: (r) => fails(r, 2, "kiln: flag --bucket: GCS bucket contexts are not supported by kiln; download the tarball") } },
  { flag: "destination", forms: val("destination", "127.0.0.1:1/a:b", "d"), base: S, pick: (o) => o.destinations, want: ["127.0.0.1:1/a:b"],
    effect: { args: [...S, "-d", "REF", "--destination=REF-2"], check: async (r) => {
      ok(r);
      expect((await manifest(r.ref)).status).toBe(200);
      expect((await manifest(`${r.ref}-2`)).status).toBe(200);
    } } },
  { flag: "snapshot-mode", forms: [...val("snapshot-mode", "full"), ...val("snapshot-mode", "redo"), ...val("snapshot-mode", "time"), ...val("snapshotMode", "time")], pick: (o) => o.snapshotMode, want: "walk",
    // A RUN that rewrites a file keeping its size and mtime: kiln still sees it (ctime moved).
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--snapshotMode=time"], check: async (r) => {
      ok(r);
      expect(r.err).toContain("flag --snapshotMode is deprecated, use --snapshot-mode");
      expect(await layerFiles(r.ref, -1)).toContain("data.txt");
    } } },
  { flag: "custom-platform", forms: [...val("custom-platform", `linux/${arch() === "x64" ? "amd64" : arch()}`), ...val("customPlatform", `linux/${arch() === "x64" ? "amd64" : arch()}`)], pick: (o) => o.customPlatform, want: `linux/${arch() === "x64" ? "amd64" : arch()}`,
    effect: { args: [...S, "-d", "REF", "--customPlatform", `linux/${arch() === "x64" ? "amd64" : arch()}`], check: async (r) => {
      ok(r);
      expect(r.err).toContain("flag --customPlatform is deprecated");
      expect((await config(r.ref)).architecture).toBe(arch() === "x64" ? "amd64" : arch());
    } } },
  { flag: "build-arg", forms: val("build-arg", "MSG=from-flag"), pick: (o) => o.buildArgs, want: { MSG: "from-flag" },
    effect: { args: [...S, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect(await label(r, "msg")).toBe("from-flag"); } } },
  { flag: "build-arg (KEY from the environment)", forms: val("build-arg", "MSG"), env: { MSG: "from-env" }, pick: (o) => o.buildArgs, want: { MSG: "from-env" },
    effect: { args: [...S, "-d", "REF", "FORM"], env: { MSG: "from-env" }, check: async (r) => { ok(r); expect(await label(r, "msg")).toBe("from-env"); } } },
  { flag: "insecure", forms: on("insecure"), pick: (o) => o.insecureRegistries, want: ["*"], by: "d2" },
  { flag: "skip-tls-verify", forms: on("skip-tls-verify"), pick: (o) => o.skipTlsVerify, want: true, by: "d2" },
  { flag: "insecure-pull", forms: on("insecure-pull"), pick: (o) => o.insecurePull, want: true, by: "d2" },
  { flag: "skip-tls-verify-pull", forms: on("skip-tls-verify-pull"), pick: (o) => o.skipTlsVerifyPull, want: true, by: "d2" },
  { flag: "push-retry", forms: val("push-retry", "3"), pick: (o) => o.pushRetry, want: 3, by: "d2",
    effect: { args: [...S, "-d", "REF", "--push-retry=-1"], check: (r) => fails(r, 2, "kiln: flag --push-retry: -1: must be 0 or more") } },
  { flag: "push-ignore-immutable-tag-errors", forms: on("push-ignore-immutable-tag-errors"), pick: (o) => o.pushIgnoreImmutableTagErrors, want: true, by: "d2" },
  { flag: "image-fs-extract-retry", forms: val("image-fs-extract-retry", "2"), pick: (o) => o.imageFsExtractRetry, want: 2, by: "d2",
    effect: { args: [...S, "-d", "REF", "--image-fs-extract-retry", "-2"], check: (r) => fails(r, 2, "kiln: flag --image-fs-extract-retry: -2: must be 0 or more") } },
  { flag: "image-download-retry", forms: val("image-download-retry", "2"), pick: (o) => o.imageDownloadRetry, want: 2, by: "d2",
    effect: { args: [...S, "-d", "REF", "--image-download-retry=x"], check: (r) => fails(r, 2, 'kiln: flag --image-download-retry: "x": expected a whole number') } },
  { flag: "kaniko-dir", forms: val("kaniko-dir", "/k"), pick: (o) => o.kanikoDir, want: "/k",
    // The build's workspace goes there: under a regular file it cannot, and the error names it.
    effect: { args: [...S, "-d", "REF", "--kaniko-dir", `${SCRATCH}/hello.txt/kdir`], check: (r) => { expect(r.code).not.toBe(0); expect(r.err).toContain(`${SCRATCH}/hello.txt/kdir`); } } },
  { flag: "kaniko-dir (env KANIKO_DIR; the flag wins)", forms: [[]], env: { KANIKO_DIR: "/from-env" }, pick: (o) => o.kanikoDir, want: "/from-env",
    effect: { args: [...S, "-d", "REF", "--kaniko-dir", "OUT"], env: { KANIKO_DIR: `${SCRATCH}/hello.txt/kdir` }, check: (r) => ok(r) } },
  { flag: "tar-path", forms: [...val("tar-path", "/t.tar"), ...val("tarPath", "/t.tar")], pick: (o) => o.tarPath, want: "/t.tar",
    effect: { args: [...S, "--no-push", "--tarPath=OUT/img.tar"], check: (r) => {
      ok(r);
      expect(execFileSync("tar", ["-tf", join(r.dir, "img.tar")], { encoding: "utf8" })).toContain("manifest.json");
    } } },
  { flag: "single-snapshot", forms: on("single-snapshot"), pick: (o) => o.singleSnapshot, want: true,
    effect: { args: ["-c", RUNCTX, "-d", "REF", "FORM"], check: async (r) => {
      ok(r);
      const base = (await manifest(busybox)).body.layers.length;
      expect((await manifest(r.ref)).body.layers.length).toBe(base + 1);
    } } },
  { flag: "reproducible", forms: on("reproducible"), pick: (o) => o.reproducible, want: true,
    effect: { args: [...S, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect((await config(r.ref)).created ?? "1970-01-01T00:00:00Z").toBe("1970-01-01T00:00:00Z"); } } },
  { flag: "target", forms: val("target", "a"), base: ["-c", STAGES, "--no-push"], pick: (o) => o.target, want: "a",
    effect: { args: ["-c", STAGES, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect(await label(r, "from")).toBe("a"); } } },
  { flag: "no-push", forms: on("no-push"), base: [...S, "-d", "x/y"], pick: (o) => o.noPush, want: true,
    effect: { args: [...S, "-d", "REF", "FORM"], check: async (r) => { ok(r); expect((await manifest(r.ref)).status).toBe(404); } } },
  { flag: "no-push (env KANIKO_NO_PUSH; the flag wins)", forms: [[]], base: [...S, "-d", "x/y"], env: { KANIKO_NO_PUSH: "true" }, pick: (o) => o.noPush, want: true,
    effect: { args: [...S, "-d", "REF"], env: { KANIKO_NO_PUSH: "true" }, check: async (r) => { ok(r); expect((await manifest(r.ref)).status).toBe(404); } } },
  { flag: "no-push=false over KANIKO_NO_PUSH=true", forms: off("no-push"), base: [...S, "-d", "x/y"], env: { KANIKO_NO_PUSH: "true" }, pick: (o) => o.noPush, want: false,
    effect: { args: [...S, "-d", "REF", "--no-push=false"], env: { KANIKO_NO_PUSH: "true" }, check: async (r) => { ok(r); expect((await manifest(r.ref)).status).toBe(200); } } },
  { flag: "cache", forms: on("cache"), base: [...S, "-d", "x/y"], pick: (o) => o.cache, want: true,
    effect: { args: [...S, "-d", "REF", "FORM", "--cache-repo", "oci:OUT/cache"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBeGreaterThan(0); } } },
  { flag: "cache-repo", forms: val("cache-repo", "oci:/c"), pick: (o) => o.cacheRepo, want: "oci:/c",
    effect: { args: [...S, "-d", "REF", "--cache", "--cache-repo", "REPO-cache"], check: async (r) => {
      ok(r);
      const repo = `${r.ref.slice(reg.host.length + 1).split(":")[0]}-cache`;
      const tags = await (await fetch(`http://${reg.host}/v2/${repo}/tags/list`)).json() as { tags: string[] };
      expect(tags.tags.length).toBeGreaterThan(0);
    } } },
  { flag: "no-push-cache", forms: on("no-push-cache"), pick: (o) => o.noPushCache, want: true,
    effect: { args: [...S, "-d", "REF", "--cache", "--cache-repo", "oci:OUT/cache", "FORM"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBe(0); } } },
  { flag: "cache-dir", forms: val("cache-dir", "/cache"), pick: (o) => o.cacheDir, want: "/cache",
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--cache-dir", "OUT/cd"], check: async (r) => {
      ok(r);
      const base = (await manifest(busybox)).body.layers[0]!.digest.replace(":", "-");
      expect(readdirSync(join(r.dir, "cd", "blobs"))).toContain(base);
    } } },
  { flag: "cache-ttl", forms: val("cache-ttl", "2h"), pick: (o) => o.cacheTtlMs, want: 2 * 3600_000,
    effect: { args: [...S, "-d", "REF", "--cache-ttl=soon"], check: (r) => fails(r, 2, 'kiln: flag --cache-ttl: invalid duration "soon"') } },
  { flag: "cache-copy-layers (kiln's default: true)", forms: [[]], pick: (o) => o.cacheCopyLayers, want: true,
    effect: { args: [...S, "-d", "REF", "--cache", "--cache-repo", "oci:OUT/cache"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBe(1); } } },
  { flag: "cache-copy-layers=false", forms: off("cache-copy-layers"), pick: (o) => o.cacheCopyLayers, want: false,
    effect: { args: [...S, "-d", "REF", "--cache", "--cache-repo", "oci:OUT/cache", "FORM"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBe(0); } } },
  { flag: "cache-run-layers=false", forms: off("cache-run-layers"), pick: (o) => o.cacheRunLayers, want: false,
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--cache", "--cache-repo", "oci:OUT/cache", "FORM"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBe(1); } } },
  { flag: "cache-run-layers", forms: on("cache-run-layers"), pick: (o) => o.cacheRunLayers, want: true,
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--cache", "--cache-repo", "oci:OUT/cache", "FORM"], check: (r) => { ok(r); expect(cacheEntries(join(r.dir, "cache"))).toBe(3); } } },
  { flag: "compressed-caching", forms: [...on("compressed-caching"), ...off("compressed-caching")], pick: () => "accepted", want: "accepted",
    effect: { args: [...S, "-d", "REF", "--compressed-caching=false"], check: (r) => { ok(r); expect(r.err).toContain("flag --compressed-caching has no effect in kiln"); } } },
  { flag: "digest-file", forms: val("digest-file", "/d"), pick: (o) => o.digestFile, want: "/d",
    effect: { args: [...S, "-d", "REF", "--digest-file=OUT/digest"], check: async (r) => { ok(r); expect(readFileSync(join(r.dir, "digest"), "utf8").trim()).toBe((await manifest(r.ref)).digest); } } },
  { flag: "image-name-with-digest-file", forms: val("image-name-with-digest-file", "/d"), pick: (o) => o.imageNameWithDigestFile, want: "/d",
    effect: { args: [...S, "-d", "REF", "--image-name-with-digest-file", "OUT/name"], check: async (r) => {
      ok(r);
      expect(readFileSync(join(r.dir, "name"), "utf8").trim()).toBe(`${r.ref.replace(":latest", "")}@${(await manifest(r.ref)).digest}`);
    } } },
  { flag: "image-name-tag-with-digest-file", forms: val("image-name-tag-with-digest-file", "/d"), pick: (o) => o.imageNameTagWithDigestFile, want: "/d",
    effect: { args: [...S, "-d", "REF", "--image-name-tag-with-digest-file=OUT/name"], check: async (r) => {
      ok(r);
      expect(readFileSync(join(r.dir, "name"), "utf8").trim()).toBe(`${r.ref}@${(await manifest(r.ref)).digest}`);
    } } },
  { flag: "oci-layout-path", forms: val("oci-layout-path", "/o"), pick: (o) => o.ociLayoutPath, want: "/o",
    effect: { args: [...S, "--no-push", "--oci-layout-path", "OUT/layout"], check: (r) => { ok(r); expect(JSON.parse(readFileSync(join(r.dir, "layout", "index.json"), "utf8")).manifests.length).toBe(1); } } },
  { flag: "compression", forms: val("compression", "zstd"), pick: (o) => o.compression, want: "zstd",
    effect: { args: [...S, "-d", "REF", "--compression=zstd"], check: async (r) => { ok(r); expect((await manifest(r.ref)).body.layers[0]!.mediaType).toContain("zstd"); } } },
  { flag: "compression-level", forms: val("compression-level", "9"), pick: (o) => o.compressionLevel, want: 9,
    // Level 1 and level 9 of the same reproducible layer: 9 is smaller.
    effect: { args: [...S, "-f", "Big.Dockerfile", "-d", "REF", "--reproducible", "--compression-level=9"], check: async (r) => {
      ok(r);
      const low = await kiln([...S, "-f", "Big.Dockerfile", "-d", "REF", "--reproducible", "--compression-level", "1"]);
      ok(low);
      expect((await manifest(r.ref)).body.layers[0]!.size).toBeLessThan((await manifest(low.ref)).body.layers[0]!.size);
    } } },
  { flag: "compression-level (-1: the default)", forms: val("compression-level", "-1"), pick: (o) => o.compressionLevel, want: undefined },
  { flag: "cleanup", forms: on("cleanup"), pick: (o) => o.cleanup, want: true,
    // kiln always removes its own files; with --cleanup as without, the kaniko dir is left empty.
    effect: { args: [...S, "-d", "REF", "FORM", "--kaniko-dir", "OUT/k"], check: (r) => { ok(r); expect(readdirSync(join(r.dir, "k"))).toEqual([]); } } },
  { flag: "insecure-registry", forms: val("insecure-registry", "reg.example:5000"), pick: (o) => o.insecureRegistries, want: ["reg.example:5000"], by: "d2" },
  { flag: "skip-tls-verify-registry", forms: val("skip-tls-verify-registry", "reg.example"), pick: (o) => o.skipTlsVerifyRegistries, want: ["reg.example"], by: "d2" },
  { flag: "registry-certificate", forms: val("registry-certificate", "reg.example=/ca.crt"), pick: (o) => o.registryCertificates, want: { "reg.example": "/ca.crt" }, by: "d2",
    effect: { args: [...S, "-d", "REF", "--registry-certificate", "no-path"], check: (r) => fails(r, 2, 'kiln: flag --registry-certificate: "no-path": expected KEY=VALUE') } },
  { flag: "registry-client-cert", forms: val("registry-client-cert", "reg.example=/c.pem,/k.pem"), pick: (o) => o.registryClientCerts, want: { "reg.example": { cert: "/c.pem", key: "/k.pem" } }, by: "d2",
    effect: { args: [...S, "-d", "REF", "--registry-client-cert=reg.example=/c.pem"], check: (r) => fails(r, 2, 'kiln: flag --registry-client-cert: "reg.example=/c.pem": expected HOST=CERT_FILE,KEY_FILE') } },
  { flag: "registry-map", forms: val("registry-map", "docker.io=m1.example;quay.io=m2.example;docker.io=m3.example"), pick: (o) => o.registryMaps, want: { "docker.io": ["m1.example", "m3.example"], "quay.io": ["m2.example"] }, by: "d2",
    effect: { args: [...S, "-d", "REF", "--registry-map", "docker.io"], check: (r) => fails(r, 2, 'kiln: flag --registry-map: "docker.io": expected ORIGINAL=REPLACEMENT') } },
  { flag: "registry-map (env KANIKO_REGISTRY_MAP)", forms: [[]], env: { KANIKO_REGISTRY_MAP: "docker.io=m.example" }, pick: (o) => o.registryMaps, want: { "docker.io": ["m.example"] }, by: "d2" },
  { flag: "registry-mirror", forms: val("registry-mirror", "m.example"), pick: (o) => o.registryMirrors, want: ["m.example"], by: "d2" },
  { flag: "registry-mirror (env KANIKO_REGISTRY_MIRROR, ;-separated, after the flags)", forms: val("registry-mirror", "f.example"), env: { KANIKO_REGISTRY_MIRROR: "a.example;b.example" }, pick: (o) => o.registryMirrors, want: ["f.example", "a.example", "b.example"], by: "d2" },
  { flag: "skip-default-registry-fallback", forms: on("skip-default-registry-fallback"), pick: (o) => o.skipDefaultRegistryFallback, want: true, by: "d2" },
  { flag: "ignore-var-run (default true)", forms: [[], ...on("ignore-var-run")], pick: (o) => [o.ignoreVarRun, o.ignorePaths], want: [true, ["/var/run"]],
    effect: { args: ["-c", RUNCTX, "-d", "REF"], check: async (r) => {
      ok(r);
      const files = await layerFiles(r.ref, -2);
      expect(files).toContain("kept");
      expect(files.filter((f) => f.startsWith("var/run"))).toEqual([]);
    } } },
  { flag: "ignore-var-run=false", forms: [...off("ignore-var-run"), ...off("whitelist-var-run")], pick: (o) => [o.ignoreVarRun, o.ignorePaths], want: [false, []],
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--whitelist-var-run=false"], check: async (r) => {
      ok(r);
      expect(r.err).toContain("flag --whitelist-var-run is deprecated, use --ignore-var-run");
      expect(await layerFiles(r.ref, -2)).toContain("var/run/k/f");
    } } },
  { flag: "label", forms: val("label", "team=core"), pick: (o) => o.labels, want: { team: "core" },
    effect: { args: [...S, "-d", "REF", "--label=team=core", "--label", "x=y"], check: async (r) => { ok(r); expect(await label(r, "team")).toBe("core"); expect(await label(r, "x")).toBe("y"); } } },
  { flag: "skip-unused-stages", forms: on("skip-unused-stages"), pick: (o) => o.skipUnusedStages, want: true, by: "planner" },
  { flag: "skip-unused-stages (kiln's default true: only what the target needs; the image is the same)", forms: [[]], pick: (o) => o.skipUnusedStages, want: true, by: "planner" },
  { flag: "skip-unused-stages=false (kaniko's default: every stage before the target)", forms: [["--skip-unused-stages=false"]], pick: (o) => o.skipUnusedStages, want: false, by: "planner" },
  { flag: "use-new-run", forms: on("use-new-run"), pick: () => "accepted", want: "accepted",
    effect: { args: [...S, "-d", "REF", "--use-new-run"], check: (r) => { ok(r); expect(r.err).toContain("flag --use-new-run has no effect in kiln"); } } },
  { flag: "git", forms: val("git", "branch=feature,single-branch=true"), base: ["-c", "git://h/r.git", "--no-push"], pick: (o) => o.git, want: { branch: "feature", singleBranch: true },
    effect: { args: ["-c", "git://GITHOST/repo.git", "-d", "REF", "--git", "branch=feature,single-branch=true"], env: { GIT_PULL_METHOD: "http" }, check: async (r) => { ok(r); expect(await label(r, "which")).toBe("feature"); } } },
  { flag: "ignore-path", forms: val("ignore-path", "/ignored"), pick: (o) => o.ignorePaths, want: ["/ignored", "/var/run"],
    effect: { args: ["-c", RUNCTX, "-d", "REF", "--ignore-path=/ignored"], check: async (r) => {
      ok(r);
      const files = await layerFiles(r.ref, -2);
      expect(files).toContain("kept");
      expect(files.filter((f) => f.startsWith("ignored"))).toEqual([]);
    } } },
  { flag: "force-build-metadata", forms: on("force-build-metadata"), pick: (o) => o.forceBuildMetadata, want: true, by: "executor" },
  { flag: "skip-push-permission-check", forms: on("skip-push-permission-check"), pick: (o) => o.skipPushPermissionCheck, want: true, by: "d2" },
];

describe("every form of every flag parses to the same value", () => {
  for (const row of ROWS) {
    test.each(row.forms.map((f) => [f.join(" ") || "(none)", f] as const))(`${row.flag}: %s`, (_shown, form) => {
      const base = row.base ?? [...S, "--no-push"];
      const argv = [...base, ...form].map((a) => a.replace("URL", srv?.url ?? "http://127.0.0.1:1"));
      if (row.rejects) {
        expect(() => parseBuildCommandLine(argv, { ...(row.env ?? {}) })).toThrow(row.rejects);
        return;
      }
      const { opts } = parseBuildCommandLine(argv, { ...(row.env ?? {}) });
      expect(row.pick(opts)).toEqual(row.want);
    });
  }
});

describe("every flag has its effect on a real build", () => {
  ROWS.forEach((row, i) => {
    if (!row.effect) return;
    const form = row.forms[i % row.forms.length]!;
    test(`${row.flag}${row.by ? ` (validation; effect: ${row.by})` : ""}`, async () => {
      const e = row.effect!;
      const args = e.args.flatMap((a) => (a === "FORM" ? form : [a.replace("URL", srv.url).replace("GITHOST", srv.host)]));
      await e.check(await kiln(args, e.env));
    }, 120_000);
  });
});

describe("the table covers kaniko's flags", () => {
  // Every flag kaniko's executor accepts is in the parser's table and in a row above.
  const KANIKO = ["verbosity", "log-format", "log-timestamp", "force", "dockerfile", "context", "context-sub-path", "bucket", "destination",
    "snapshot-mode", "custom-platform", "build-arg", "insecure", "skip-tls-verify", "insecure-pull", "skip-tls-verify-pull", "push-retry",
    "push-ignore-immutable-tag-errors", "image-fs-extract-retry", "image-download-retry", "kaniko-dir", "tar-path", "single-snapshot",
    "reproducible", "target", "no-push", "no-push-cache", "cache", "cache-repo", "cache-dir", "cache-ttl", "cache-copy-layers",
    "cache-run-layers", "compressed-caching", "digest-file", "image-name-with-digest-file", "image-name-tag-with-digest-file",
    "oci-layout-path", "compression", "compression-level", "cleanup", "insecure-registry", "skip-tls-verify-registry",
    "registry-certificate", "registry-client-cert", "registry-map", "registry-mirror", "skip-default-registry-fallback",
    "ignore-var-run", "label", "skip-unused-stages", "use-new-run", "git", "ignore-path", "force-build-metadata",
    "skip-push-permission-check", "snapshotMode", "customPlatform", "tarPath", "whitelist-var-run"];

  test("60 flags, all in the parser and the rows", () => {
    expect(KANIKO.length).toBe(60);
    const parser = new Set(BUILD_FLAGS.map((f) => f.name));
    const rows = ROWS.flatMap((r) => r.forms.flat()).join(" ");
    for (const f of KANIKO) {
      expect(parser.has(f)).toBe(true);
      expect(rows.includes(`--${f}`) || ROWS.some((r) => r.flag.startsWith(f))).toBe(true);
    }
  });

  // The reference lives in ../shared beside the repository (CI has it); in a clone without it this
  // check skips with the reason printed here, and the KANIKO list above stands in for it.
  const reference = join(root, "..", "shared", "reference", "kaniko-executor.md");
  if (!existsSync(reference)) console.log(`skipping the reference-file check: ${reference} is not here; the list above is its copy`);
  test.skipIf(!existsSync(reference))("the reference file lists the same flags", () => {
    const file = reference;
    const text = readFileSync(file, "utf8");
    // The table's rows: "| `--flag` | …", and one row of the deprecated spellings.
    const rows = text.split("\n").filter((l) => l.startsWith("| `--")).map((l) => l.split(" | ")[0]!);
    const named = new Set(rows.flatMap((l) => [...l.matchAll(/`--([A-Za-z-]+)`/g)].map((m) => m[1]!)));
    expect([...named].filter((f) => !KANIKO.includes(f))).toEqual([]);
    expect(KANIKO.filter((f) => !named.has(f))).toEqual([]);
  });
});
