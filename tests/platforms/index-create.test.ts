// `kiln index create` against the real registry, with the real amd64 and arm64 busybox images:
// the index it assembles, that no layer is downloaded, and that bad input pushes nothing.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createIndex } from "../../src/cli/index-create.ts";
import { parseReference } from "../../src/image/reference.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { KilnError, UsageError } from "../../src/util/errors.ts";
import { baseImages, multiArchImages, registry } from "../env.ts";
import { accessLog, logSize, skopeo } from "../registry/helpers.ts";

const root = join(import.meta.dir, "../..");
const tmp = mkdtempSync(join(tmpdir(), "kiln-index-create-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

describe("kiln index create", async () => {
  const reg = await registry();
  const refs = await baseImages();
  const multi = await multiArchImages();
  const client = new RegistryClient();
  const layerOf = async (ref: string) => (await fetchImage(client, parseReference(ref))).layers[0]!.digest;
  const amd64Layer = await layerOf(multi.amd64);
  const arm64Layer = await layerOf(multi.arm64);

  test("the test registry holds a real two-architecture busybox index", async () => {
    const raw = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${multi.index}`));
    expect(raw.mediaType).toBe(OCI_INDEX);
    expect(raw.manifests.map((m: { platform: unknown }) => m.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]);
    const arm = JSON.parse(skopeo("inspect", "--tls-verify=false", "--override-arch=arm64", `docker://${multi.index}`));
    expect(arm).toMatchObject({ Architecture: "arm64", Layers: [arm64Layer] });
    expect(arm64Layer).not.toBe(amd64Layer);
  });

  test("from two repositories: mounts the blobs, puts the children by digest, downloads no layer", async () => {
    const target = `${reg.host}/platforms/app:1`;
    const from = logSize(reg.logFile);
    const seen: string[] = [];
    const res = await createIndex(target, [multi.amd64, multi.arm64], { onSource: (src, platform) => seen.push(`${platform} ${src}`) });
    expect(seen).toEqual([`linux/amd64 ${multi.amd64}`, `linux/arm64/v8 ${multi.arm64}`]);
    // The same bytes as the index the test environment wrote independently (scripts/base-images.ts).
    expect(res.digest).toBe(JSON.parse(skopeo("inspect", "--tls-verify=false", `docker://${multi.index}`)).Digest);
    expect(res.pushed.map(String)).toEqual([`${target}@${res.digest}`]);
    const log = accessLog(reg.logFile, from);
    for (const layer of [amd64Layer, arm64Layer]) {
      expect(log.filter((l) => l.includes(`GET /v2/`) && l.includes(`/blobs/${layer}`))).toEqual([]);
      expect(log.some((l) => l.includes(`POST /v2/platforms/app/blobs/uploads/?mount=${layer.replace(":", "%3A")}&from=busybox`))).toBe(true);
    }
    // Only the two small configs (already read to learn the platforms) are uploaded.
    const configs = await Promise.all([multi.amd64, multi.arm64].map(async (r) => (await fetchImage(client, parseReference(r))).configDigest.replace(":", "%3A")));
    const uploads = log.filter((l) => /"(PUT|PATCH) \/v2\/platforms\/app\/blobs\/uploads\//.test(l));
    expect(uploads.map((l) => configs.find((c) => l.includes(`digest=${c}`)))).toEqual(configs);
    const head = await client.headManifest(parseReference(target));
    expect(head).toMatchObject({ digest: res.digest, mediaType: OCI_INDEX });
    const arm = await fetchImage(client, parseReference(target), { platform: { os: "linux", architecture: "arm64" } });
    expect(arm.manifestDigest).toBe((await client.headManifest(parseReference(multi.arm64)))!.digest);
  });

  test("fan-out: per-platform tags of one repository, then the index beside them", async () => {
    const repo = `${reg.host}/platforms/fan`;
    for (const [arch, src] of [["amd64", multi.amd64], ["arm64", multi.arm64]] as const) {
      await pushImage(client, await fetchImage(client, parseReference(src)), parseReference(`${repo}:1-${arch}`), { mountFrom: [parseReference(src)] });
    }
    const res = await createIndex(`${repo}:1`, [`${repo}:1-amd64`, `${repo}:1-arm64`]);
    expect(res.blobs.every((b) => b.action === "exists")).toBe(true);
    const raw = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${repo}:1`));
    expect(raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
  });

  test("--image-format docker: a manifest list of v2s2 children (converted where they were OCI)", async () => {
    const res = await createIndex(`${reg.host}/platforms/app:docker`, [refs.busyboxV2s2, multi.arm64], { format: "docker" });
    expect(res.mediaType).toBe(DOCKER_MANIFEST_LIST);
    const raw = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/platforms/app:docker`));
    expect(raw.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(raw.manifests.map((m: { mediaType: string }) => m.mediaType)).toEqual([DOCKER_MANIFEST, DOCKER_MANIFEST]);
    expect(raw.manifests[0].digest).toBe((await client.headManifest(parseReference(refs.busyboxV2s2)))!.digest);
    const arm = JSON.parse(skopeo("inspect", "--tls-verify=false", "--override-arch=arm64", `docker://${reg.host}/platforms/app:docker`));
    expect(arm.Layers).toEqual([arm64Layer]);
    // Without the flag, all-v2s2 sources give a manifest list, mixed ones an OCI index.
    const v2Only = await createIndex(`${reg.host}/platforms/app:v2only`, [refs.busyboxV2s2]);
    expect(v2Only.mediaType).toBe(DOCKER_MANIFEST_LIST);
    const mixed = await createIndex(`${reg.host}/platforms/app:mixed`, [refs.busyboxV2s2, multi.arm64]);
    expect(mixed.mediaType).toBe(OCI_INDEX);
    expect(JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/platforms/app:mixed`)).manifests[1].mediaType).toBe(OCI_MANIFEST);
  });

  test("bad input: a clear error and nothing pushed", async () => {
    const cases: [string, string[], typeof KilnError, string][] = [
      ["missing", [multi.amd64, `${reg.host}/platforms/nope:1`], KilnError, `SRC ${reg.host}/platforms/nope:1: no such image in the registry`],
      ["index", [multi.index], KilnError, `SRC ${multi.index} is itself an index (linux/amd64, linux/arm64/v8); name one image of it by digest`],
      ["same platform", [multi.amd64, multi.arm64, refs.busyboxV2s2], KilnError, `SRC ${multi.amd64} and SRC ${refs.busyboxV2s2} are both linux/amd64: an index holds one image per platform`],
      ["malformed", [multi.amd64, "Bad::Ref"], UsageError, 'SRC invalid image reference "Bad::Ref"'],
      ["other registry", [multi.amd64, "registry.invalid/x:1"], UsageError, "SRC registry.invalid/x:1: on registry registry.invalid"],
    ];
    for (const [name, sources, kind, message] of cases) {
      const target = `${reg.host}/platforms/bad-${name.replace(" ", "-")}:1`;
      const from = logSize(reg.logFile);
      const err = await createIndex(target, sources).then(() => undefined, (e: Error) => e);
      expect(err, name).toBeInstanceOf(kind);
      expect(err!.message, name).toStartWith(message);
      expect(err!.message.includes("\n"), name).toBe(false);
      const writes = accessLog(reg.logFile, from).filter((l) => /"(PUT|POST|PATCH) /.test(l));
      expect(writes, name).toEqual([]);
    }
    await expect(createIndex(`${reg.host}/platforms/x@sha256:${"a".repeat(64)}`, [multi.amd64])).rejects.toThrow("name the index with a tag, not a digest");
    await expect(createIndex(`${reg.host}/platforms/x:1`, [])).rejects.toThrow("give at least one SRC");
  });

  test("the CLI: digest on stdout, one line per platform, exit codes 0 / 1 / 2", () => {
    const kiln = (...args: string[]) => {
      const r = spawnSync(join(root, "node_modules/.bin/bun"), [join(root, "mod.ts"), "index", "create", ...args], { encoding: "utf8", cwd: root });
      return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    const digestFile = join(tmp, "digest");
    const ok = kiln(`${reg.host}/platforms/cli:1`, multi.amd64, multi.arm64, "--digest-file", digestFile);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(readFileSync(digestFile, "utf8")).toBe(ok.out);
    expect(ok.err).toContain(`linux/arm64/v8`);
    expect(ok.err).toContain(`pushed ${reg.host}/platforms/cli:1@${ok.out}`);
    // Deno runs the same command (fetch, registry transport).
    const deno = spawnSync(join(root, "node_modules/.bin/deno"), ["run", "-A", join(root, "mod.ts"), "index", "create", `${reg.host}/platforms/cli-deno:1`, multi.amd64, multi.arm64], { encoding: "utf8", cwd: root });
    expect({ code: deno.status, out: deno.stdout.trim() }).toEqual({ code: 0, out: ok.out });
    const bad = kiln(`${reg.host}/platforms/cli:2`, multi.index);
    expect(bad).toMatchObject({ code: 1, out: "" });
    expect(bad.err).toStartWith(`kiln: SRC ${multi.index} is itself an index`);
    expect(kiln(`${reg.host}/platforms/cli:3`).code).toBe(2);
    expect(kiln(`${reg.host}/platforms/cli:3`, multi.amd64, "--annotation", "nokey").err).toBe('kiln: flag --annotation: want key=value, got "nokey"');
  });
});
