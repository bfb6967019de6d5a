// `kiln build --platform linux/amd64,linux/arm64` end to end on the real registry: one index with
// both platforms, the arm64 RUN really under QEMU (uname -m), a cached rebuild that moves no layer
// bytes, a changed arm64 base that invalidates only arm64, the fan-out path (one process per
// platform + `kiln index create`) giving the same index digest, and bad input pushing nothing.
import { beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseReference } from "../../src/image/reference.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX } from "../../src/image/media-types.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { makeIndex } from "../../src/image/index-manifest.ts";
import { withConfig } from "../../src/image/mutate.ts";
import type { Image } from "../../src/image/image.ts";
import type { ImageConfig } from "../../src/image/types.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { pushIndex } from "../../src/registry/push-index.ts";
import { multiArchImages, registry, type RegistryHandle } from "../env.ts";
import { accessLog, logSize } from "../registry/helpers.ts";
import { bun, root, run, type Ran } from "../dist/helpers.ts";
import { ensureEmulation } from "./binfmt-env.ts";
import { checkEmulation } from "../../src/run/binfmt.ts";

const ARM64 = { os: "linux", architecture: "arm64" };
const AMD64 = { os: "linux", architecture: "amd64" };
const tmp = mkdtempSync(join(tmpdir(), "kiln-multi-build-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const emulation = ensureEmulation(process.arch === "arm64" ? AMD64 : ARM64);
if (!emulation.ok) console.log(`SKIP multi-platform builds with RUN: ${emulation.reason}`);
// RUN steps for arm64 need QEMU through binfmt_misc (registered by ensureEmulation when root can,
// as in CI); without it these skip with the reason printed above. Bad-input tests need no QEMU.
const needsQemu = emulation.ok ? test : test.skip;

let reg: RegistryHandle;
let base: string; // our own copy of the two-platform busybox index, so a test may move it
let ctx: string;
const client = new RegistryClient();

function kiln(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return run(bun, [join(root, "mod.ts"), ...args], { env: { ...process.env, NO_COLOR: "1", ...env } });
}
function ok(r: Ran): Ran {
  if (r.code !== 0) throw new Error(`kiln exited ${r.code}\n${r.err}`);
  return r;
}
async function rawManifest(ref: string): Promise<{ status: number; json?: { mediaType: string; manifests: { digest: string; platform: Record<string, string> }[] } }> {
  const r = parseReference(ref);
  const res = await fetch(`http://${r.registry}/v2/${r.repository}/manifests/${r.tag}`, { headers: { accept: `${OCI_INDEX}, application/vnd.oci.image.manifest.v1+json` } });
  return { status: res.status, json: res.ok ? ((await res.json()) as never) : undefined };
}
/** A file's content from the last layer of `ref`'s image for `platform`. */
async function fileInLastLayer(ref: string, platform: { os: string; architecture: string }, path: string): Promise<string> {
  const img = await fetchImage(client, parseReference(ref), { platform });
  const f = join(tmp, `layer-${Math.random().toString(36).slice(2)}.tgz`);
  const chunks: Uint8Array[] = [];
  for await (const c of await img.layers.at(-1)!.open()) chunks.push(c);
  writeFileSync(f, Buffer.concat(chunks));
  return execFileSync("tar", ["-xzOf", f, path], { encoding: "utf8" });
}
interface Row { platform: string; hit: boolean; instruction: string }
const report = (file: string): Row[] => JSON.parse(readFileSync(file, "utf8"));

beforeAll(async () => {
  reg = await registry();
  const multi = await multiArchImages();
  base = `${reg.host}/mp/base:1`;
  const [amd, arm] = await Promise.all([multi.amd64, multi.arm64].map((r) => fetchImage(client, parseReference(r))));
  await pushIndex(client, makeIndex([amd!, arm!], "oci"), parseReference(base), { mountFrom: [parseReference(multi.amd64), parseReference(multi.arm64)] });
  ctx = join(tmp, "ctx");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), [
    `FROM ${base} AS build`,
    "ARG TARGETARCH",
    "RUN uname -m > /arch && echo \"$TARGETARCH\" > /targetarch",
    `FROM ${base}`,
    "COPY --from=build /arch /targetarch /",
    "RUN cat /arch",
    "",
  ].join("\n"));
}, 300_000);

describe("kiln build --platform linux/amd64,linux/arm64", () => {
  const dest = () => `${reg.host}/mp/app:1`;
  let firstDigest = "";

  needsQemu("one command: an index of two images, the arm64 RUN ran as aarch64, lines prefixed by platform", async () => {
    const out = join(tmp, "first");
    mkdirSync(out);
    const r = ok(await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/arm64", "-d", dest(), "--cache", "--cache-repo", `${reg.host}/mp/cache`, "--reproducible", "--digest-file", join(out, "digest"), "--cache-report", join(out, "report.json")]));
    const m = await rawManifest(dest());
    expect(m.json?.mediaType).toBe(OCI_INDEX);
    expect(m.json?.manifests.map((d) => d.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]);
    firstDigest = readFileSync(join(out, "digest"), "utf8");
    expect(firstDigest).toMatch(/^sha256:/);
    expect((await client.headManifest(parseReference(dest())))?.digest).toBe(firstDigest);
    expect(await fileInLastLayer(dest(), ARM64, "arch")).toBe("aarch64\n");
    expect(await fileInLastLayer(dest(), ARM64, "targetarch")).toBe("arm64\n");
    expect(await fileInLastLayer(dest(), AMD64, "arch")).toBe("x86_64\n");
    expect((await fetchImage(client, parseReference(dest()), { platform: ARM64 })).config.architecture).toBe("arm64");
    expect(r.err).toContain("[linux/arm64] ");
    expect(r.err).toContain("[linux/amd64] ");
    expect(r.err.split("\n").some((l) => l.startsWith("[linux/arm64] ") && l.endsWith("aarch64"))).toBe(true);
    expect(report(join(out, "report.json")).every((x) => !x.hit)).toBe(true);
  }, 600_000);

  needsQemu("a fully cached rebuild: every step a hit, no layer uploaded or downloaded, the same index", async () => {
    const out = join(tmp, "warm");
    mkdirSync(out);
    const from = logSize(reg.logFile);
    ok(await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/arm64", "-d", dest(), "--cache", "--cache-repo", `${reg.host}/mp/cache`, "--reproducible", "--digest-file", join(out, "digest"), "--cache-report", join(out, "report.json")]));
    const rows = report(join(out, "report.json"));
    expect(rows.length).toBe(6);
    expect(rows.every((x) => x.hit)).toBe(true);
    expect(readFileSync(join(out, "digest"), "utf8")).toBe(firstDigest);
    const log = accessLog(reg.logFile, from);
    expect(log.filter((l) => /"(PUT|PATCH) \/v2\/[^ ]*\/blobs\/uploads\//.test(l))).toEqual([]);
    // No layer of the bases or of the built images is downloaded (configs may be).
    const layers = new Set<string>();
    for (const platform of [AMD64, ARM64]) {
      for (const ref of [dest(), base]) for (const l of (await fetchImage(client, parseReference(ref), { platform })).layers) layers.add(l.digest);
    }
    expect(layers.size).toBeGreaterThanOrEqual(4);
    const gets = log.filter((l) => /"GET \/v2\/[^ ]*\/blobs\/sha256:/.test(l));
    expect(gets.filter((l) => [...layers].some((d) => l.includes(d)))).toEqual([]);
  }, 600_000);

  needsQemu("--image-format docker: a manifest list; --oci-layout-path holds the index with both platforms", async () => {
    const ref = `${reg.host}/mp/app:docker`;
    const layout = join(tmp, "layout");
    ok(await kiln(["build", "-c", ctx, "--platform", "linux/amd64", "--platform", "linux/arm64", "-d", ref, "--cache", "--cache-repo", `${reg.host}/mp/cache`, "--reproducible", "--image-format", "docker", "--oci-layout-path", layout]));
    const res = await fetch(`http://${reg.host}/v2/mp/app/manifests/docker`, { headers: { accept: DOCKER_MANIFEST_LIST } });
    const list = (await res.json()) as { mediaType: string; manifests: { mediaType: string; platform: unknown }[] };
    expect(list.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(list.manifests.map((m) => [m.mediaType, m.platform])).toEqual([[DOCKER_MANIFEST, { architecture: "amd64", os: "linux" }], [DOCKER_MANIFEST, { architecture: "arm64", os: "linux", variant: "v8" }]]);
    const indexJson = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: { digest: string; mediaType: string }[] };
    expect(indexJson.manifests.map((m) => m.mediaType)).toEqual([OCI_INDEX]);
    const inner = JSON.parse(readFileSync(join(layout, "blobs", ...indexJson.manifests[0]!.digest.split(":")), "utf8")) as { manifests: { platform: { architecture: string } }[] };
    expect(inner.manifests.map((m) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    expect(readOciLayout(layout, undefined, ARM64).config.architecture).toBe("arm64");
  }, 600_000);

  needsQemu("fan-out: one kiln per platform, then kiln index create, gives the one-command build's index digest", async () => {
    for (const p of ["amd64", "arm64"]) ok(await kiln(["build", "-c", ctx, "--platform", `linux/${p}`, "-d", `${reg.host}/mp/fan:1-${p}`, "--reproducible"]));
    const single = await rawManifest(`${reg.host}/mp/fan:1-arm64`);
    expect(single.json?.mediaType).toBe("application/vnd.oci.image.manifest.v1+json"); // one --platform value: one image, not an index
    ok(await kiln(["index", "create", `${reg.host}/mp/fan:1`, `${reg.host}/mp/fan:1-amd64`, `${reg.host}/mp/fan:1-arm64`]));
    expect((await client.headManifest(parseReference(`${reg.host}/mp/fan:1`)))?.digest).toBe(firstDigest);
  }, 600_000);

  needsQemu("a new arm64 base under the same tag invalidates arm64 only", async () => {
    const [amd, arm] = await Promise.all([AMD64, ARM64].map((platform) => fetchImage(client, parseReference(base), { platform })));
    const cfg = structuredClone(arm!.config) as ImageConfig;
    cfg.config = { ...(cfg.config ?? {}), Labels: { moved: "yes" } };
    const moved: Image = withConfig(arm!, cfg);
    await pushImage(client, moved, parseReference(`${reg.host}/mp/base@${moved.manifestDigest}`), { mountFrom: [parseReference(base)] });
    await pushIndex(client, makeIndex([amd!, moved], "oci"), parseReference(base));
    const out = join(tmp, "moved");
    mkdirSync(out);
    ok(await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/arm64", "-d", dest(), "--cache", "--cache-repo", `${reg.host}/mp/cache`, "--reproducible", "--cache-report", join(out, "report.json")]));
    const rows = report(join(out, "report.json"));
    expect(rows.filter((x) => x.platform === "linux/amd64").map((x) => x.hit)).toEqual([true, true, true]);
    expect(rows.filter((x) => x.platform === "linux/arm64").map((x) => x.hit)).toEqual([false, false, false]);
  }, 600_000);

  needsQemu("FROM --platform decides what the stage pulls (a single-platform build on this host)", async () => {
    const dir = join(tmp, "from-platform");
    mkdirSync(dir);
    const foreign = process.arch === "arm64" ? "linux/amd64" : "linux/arm64";
    writeFileSync(join(dir, "Dockerfile"), `FROM --platform=${foreign} ${base}\nRUN uname -m > /arch\n`);
    const ref = `${reg.host}/mp/fromplatform:1`;
    ok(await kiln(["build", "-c", dir, "-d", ref]));
    const img = await fetchImage(client, parseReference(ref));
    expect(img.config.architecture).toBe(foreign.split("/")[1]);
    expect(await fileInLastLayer(ref, { os: "linux", architecture: foreign.split("/")[1]! }, "arch")).toBe(process.arch === "arm64" ? "x86_64\n" : "aarch64\n");
  }, 600_000);
});

describe("kiln build --platform with FROM scratch (no RUN, no QEMU needed)", () => {
  test("each platform's scratch stage has its own cache keys and config platform", async () => {
    const dir = join(tmp, "scratch");
    mkdirSync(dir);
    writeFileSync(join(dir, "f"), "same bytes for every platform\n");
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY f /f\n");
    const ref = `${reg.host}/mp/scratch:1`;
    const rep = join(tmp, "scratch-report.json");
    ok(await kiln(["build", "-c", dir, "--platform", "linux/amd64,linux/arm64", "-d", ref, "--cache", "--cache-repo", `${reg.host}/mp/scratch-cache`, "--cache-report", rep]));
    const rows = JSON.parse(readFileSync(rep, "utf8")) as (Row & { key: string; layer: string })[];
    expect(rows.map((r) => r.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    expect(rows[0]!.key).not.toBe(rows[1]!.key);
    expect(rows[0]!.layer).toBe(rows[1]!.layer); // identical COPY inputs: the same blob, by digest
    const m = await rawManifest(ref);
    expect(m.json?.manifests.map((d) => d.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]);
  }, 300_000);
});

describe("kiln build --platform: bad input pushes nothing", () => {
  const nothingAt = async (ref: string) => expect((await rawManifest(ref)).status).toBe(404);

  test("an unknown platform string", async () => {
    const ref = `${reg.host}/mp/bad1:1`;
    const r = await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/bogus", "-d", ref]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`flag --platform: invalid platform "linux/bogus": unknown architecture "bogus"`);
    await nothingAt(ref);
  });

  test("--platform with --custom-platform", async () => {
    const r = await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/arm64", "--custom-platform", "linux/amd64", "-d", `${reg.host}/mp/bad2:1`]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("flag --platform: not with --custom-platform");
  });

  needsQemu("--tar-path with several platforms: one image per platform, each destination tag suffixed with it", async () => {
    const tar = join(tmp, "x.tar");
    ok(await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/arm64", "--no-push", "-d", `${reg.host}/mp/tar:1`, "--tar-path", tar]));
    const manifest = JSON.parse(execFileSync("tar", ["-xOf", tar, "manifest.json"], { encoding: "utf8" })) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    expect(manifest.map((m) => m.RepoTags)).toEqual([[`${reg.host}/mp/tar:1-linux-amd64`], [`${reg.host}/mp/tar:1-linux-arm64-v8`]]);
    // Each entry is a whole image of its platform: its config names the architecture.
    const archs = manifest.map((m) => (JSON.parse(execFileSync("tar", ["-xOf", tar, m.Config], { encoding: "utf8" })) as { architecture: string }).architecture);
    expect(archs).toEqual(["amd64", "arm64"]);
    const listed = execFileSync("tar", ["-tf", tar], { encoding: "utf8" }).trim().split("\n");
    for (const m of manifest) for (const l of m.Layers) expect(listed).toContain(l);
  });

  test("a base without the platform: the error lists the platforms it has; the other platform is not pushed", async () => {
    const ref = `${reg.host}/mp/bad3:1`;
    const r = await kiln(["build", "-c", ctx, "--platform", "linux/amd64,linux/s390x", "-d", ref]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("Dockerfile:1");
    expect(r.err).toContain("no image for platform linux/s390x (index has: linux/amd64, linux/arm64/v8)");
    await nothingAt(ref);
  }, 300_000);

  test("--custom-platform and a single-platform base of another platform: an error naming what it is", async () => {
    const multi = await multiArchImages();
    const dir = join(tmp, "single-base");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), `FROM ${multi.amd64}\nRUN true\n`);
    const ref = `${reg.host}/mp/bad6:1`;
    const r = await kiln(["build", "-c", dir, "--custom-platform", "linux/arm64", "-d", ref]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`Dockerfile:1: base image ${multi.amd64}: no image for platform linux/arm64 (it is a single-platform image, has: linux/amd64)`);
    await nothingAt(ref);
  }, 300_000);

  test("no binfmt handler for the foreign platform: one line naming the RUN and how to register QEMU", async () => {
    const fake = join(tmp, "binfmt");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "status"), "enabled\n");
    const ref = `${reg.host}/mp/bad4:1`;
    const foreign = process.arch === "arm64" ? "linux/amd64" : "linux/arm64";
    const r = await kiln(["build", "-c", ctx, "--platform", `linux/${process.arch === "arm64" ? "arm64" : "amd64"},${foreign}`, "-d", ref], { KILN_BINFMT_MISC_DIR: fake });
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`Dockerfile:3: RUN for ${foreign === "linux/arm64" ? "linux/arm64" : foreign} needs QEMU user emulation and no binfmt_misc handler is registered for it`);
    expect(r.err).toContain("update-binfmts --enable qemu-");
    await nothingAt(ref);
  }, 300_000);

  test("a RUN of a binary for an architecture without a handler: the error names it, not a bare ENOEXEC", async () => {
    // A riscv64 ELF header (no handler is registered for it here; the kernel refuses it with ENOEXEC).
    if (emulationFor("riscv64")) return console.log("SKIP ENOEXEC test: this machine runs riscv64 binaries");
    const dir = join(tmp, "enoexec");
    mkdirSync(dir);
    const elf = new Uint8Array(128);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    elf.set([2, 0, 243, 0], 16);
    writeFileSync(join(dir, "rv"), elf, { mode: 0o755 });
    writeFileSync(join(dir, "Dockerfile"), `FROM ${base}\nCOPY --chmod=755 rv /rv\nRUN ["/rv"]\n`);
    const ref = `${reg.host}/mp/bad5:1`;
    const r = await kiln(["build", "-c", dir, "-d", ref]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("/rv is a linux/riscv64 binary and this host is linux/");
    expect(r.err).toContain("update-binfmts --enable qemu-riscv64");
    await nothingAt(ref);
  }, 300_000);
});

function emulationFor(architecture: string): boolean {
  return checkEmulation({ os: "linux", architecture }).ok;
}
