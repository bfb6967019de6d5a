// --registry-mirror, --registry-map and --skip-default-registry-fallback: pure candidate
// resolution, then real pulls from a second local registry that holds images under docker.io's
// names (library/busybox). Fallbacks are tested with a loopback original, never docker.io itself.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseLayouts, mirrorRegistry, registry } from "../env.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { parseReference } from "../../src/image/reference.ts";
import { readAll } from "../../src/image/digest.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { onMirror, pullCandidates } from "../../src/registry/mirrors.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { build } from "../../src/executor/index.ts";
import { runCopy } from "../../src/registry/copy.ts";
import { accessLog, logSize } from "./helpers.ts";
import { buildOptions, recordingLogger, writeContext } from "./build-options.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-mirrors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("pull candidates (pure)", () => {
  const hub = parseReference("busybox:1.36");
  test("docker.io mirrors in order, prefix before the repository, tag kept", () => {
    const p = pullCandidates(hub, { registryMirrors: ["mirror.example", "https://m2.example:5000/hub/"] });
    expect(p.mirrors.map(String)).toEqual(["mirror.example/library/busybox:1.36", "m2.example:5000/hub/library/busybox:1.36"]);
    expect(p.fallback).toBe(true);
  });
  test("mirrors apply to docker.io only; maps to any registry, before the mirrors", () => {
    expect(pullCandidates(parseReference("ghcr.io/a/b:1"), { registryMirrors: ["mirror.example"] }).mirrors).toEqual([]);
    const maps = { "ghcr.io": ["r1.example", "r2.example/p"], "index.docker.io": ["hubmap.example"] };
    expect(pullCandidates(parseReference("ghcr.io/a/b:1"), { registryMaps: maps }).mirrors.map(String)).toEqual(["r1.example/a/b:1", "r2.example/p/a/b:1"]);
    expect(pullCandidates(hub, { registryMaps: maps, registryMirrors: ["m.example"] }).mirrors.map(String)).toEqual(["hubmap.example/library/busybox:1.36", "m.example/library/busybox:1.36"]);
  });
  test("skip-default-registry-fallback only matters when there is a mirror", () => {
    expect(pullCandidates(hub, { registryMirrors: ["m.example"], skipDefaultRegistryFallback: true }).fallback).toBe(false);
    expect(pullCandidates(parseReference("ghcr.io/a/b"), { registryMirrors: ["m.example"], skipDefaultRegistryFallback: true }).fallback).toBe(true);
  });
  test("a digest survives the remap; a bad mirror is a usage error naming the flag", () => {
    const d = `sha256:${"a".repeat(64)}`;
    expect(onMirror(parseReference(`busybox@${d}`), "127.0.0.1:5000").toString()).toBe(`127.0.0.1:5000/library/busybox@${d}`);
    expect(() => onMirror(hub, "bad host!")).toThrow(/--registry-mirror bad host!: .* not a registry host/);
    expect(() => onMirror(hub, "m.example/Bad_Prefix", "--registry-map")).toThrow(/--registry-map .*not a repository path/);
  });
});

describe("mirrors against real registries", async () => {
  const reg = await registry();
  const mirror = await mirrorRegistry();
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  const plain = new RegistryClient();
  // The mirror holds busybox under docker.io's names, plain and under a path prefix.
  await pushImage(plain, img, [parseReference(`${mirror.host}/library/busybox:latest`), parseReference(`${mirror.host}/hub/library/busybox:latest`)]);
  // The "original" for the fallback tests: a loopback registry, never docker.io.
  const original = parseReference(`${reg.host}/mirrortest/busybox:latest`);
  await pushImage(plain, img, original);
  const manifestGets = (log: string[], repo: string) => log.filter((l) => l.includes(`GET /v2/${repo}/manifests/`));

  test("mirror hit: docker.io's busybox comes from the mirror, layers too", async () => {
    const from = logSize(mirror.logFile);
    const client = new RegistryClient({ registryMirrors: [mirror.host] });
    const got = await fetchImage(client, parseReference("busybox"));
    expect(got.manifestDigest).toBe(img.manifestDigest);
    const layer = got.layers[0]!;
    expect((await readAll(await layer.open())).length).toBe(layer.size);
    expect(layer.sources.map((s) => s.context())).toEqual([`${mirror.host}/library/busybox`]);
    const log = accessLog(mirror.logFile, from);
    expect(manifestGets(log, "library/busybox").length).toBeGreaterThan(0);
    expect(log.some((l) => l.includes(`GET /v2/library/busybox/blobs/${layer.digest}`))).toBe(true);
  });

  test("mirrors are tried in order: a miss warns and the next one (with a path prefix) answers", async () => {
    const warnings: string[] = [];
    const client = new RegistryClient({ registryMirrors: [`${mirror.host}/nothere`, `${mirror.host}/hub`], warn: (l) => warnings.push(l), retries: 0 });
    expect((await fetchImage(client, parseReference("busybox:latest"))).manifestDigest).toBe(img.manifestDigest);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`mirror ${mirror.host}/nothere/library/busybox failed`);
    expect(warnings[0]).toContain("trying the next mirror");
  });

  test("mirror miss with fallback: the original registry answers", async () => {
    const warnings: string[] = [];
    const fromMirror = logSize(mirror.logFile);
    const fromReg = logSize(reg.logFile);
    const client = new RegistryClient({ registryMaps: { [reg.host]: [mirror.host] }, warn: (l) => warnings.push(l) });
    expect((await fetchImage(client, original)).manifestDigest).toBe(img.manifestDigest);
    expect(manifestGets(accessLog(mirror.logFile, fromMirror), "mirrortest/busybox").length).toBeGreaterThan(0);
    expect(manifestGets(accessLog(reg.logFile, fromReg), "mirrortest/busybox").length).toBeGreaterThan(0);
    expect(warnings.join("\n")).toContain(`falling back to ${reg.host}`);
  });

  test("mirror miss without fallback: a clear error, the original is never asked", async () => {
    const fromReg = logSize(reg.logFile);
    const client = new RegistryClient({ registryMaps: { [reg.host]: [mirror.host] }, skipDefaultRegistryFallback: true });
    await expect(fetchImage(client, original)).rejects.toThrow(
      new RegExp(`${original.toString().replace(/[.]/g, "\\.")}: not found on any mirror and --skip-default-registry-fallback is set \\(tried ${mirror.host.replace(/[.]/g, "\\.")}/mirrortest/busybox: manifest unknown`),
    );
    expect(manifestGets(accessLog(reg.logFile, fromReg), "mirrortest/busybox")).toEqual([]);
  });

  test("pushes never go to a mirror", async () => {
    const fromMirror = logSize(mirror.logFile);
    const client = new RegistryClient({ registryMaps: { [reg.host]: [mirror.host] }, skipDefaultRegistryFallback: true });
    const dest = parseReference(`${reg.host}/mirrortest/pushed:1`);
    expect((await pushImage(client, img, dest)).digest).toBe(img.manifestDigest);
    expect((await plain.headManifest(dest))?.digest).toBe(img.manifestDigest);
    expect(accessLog(mirror.logFile, fromMirror)).toEqual([]);
  });

  test("kiln copy: the source is pulled through the mirror", async () => {
    const from = logSize(mirror.logFile);
    const digest = await runCopy("docker://busybox:latest", `oci:${join(tmp, "copied")}:latest`, { registryMirrors: [mirror.host], skipDefaultRegistryFallback: true });
    expect(digest).toBe(img.manifestDigest);
    expect(manifestGets(accessLog(mirror.logFile, from), "library/busybox").length).toBeGreaterThan(0);
  });

  test("kiln build: FROM and COPY --from of docker.io's busybox come from the mirror", async () => {
    const ctx = writeContext(join(tmp, "hit"), "FROM busybox\nCOPY --from=busybox:latest /bin/busybox /copied-busybox\nCOPY f.txt /f.txt\n", { "f.txt": "x\n" });
    const dest = `${reg.host}/mirrortest/built:1`;
    const from = logSize(mirror.logFile);
    const { log } = recordingLogger();
    const r = await build(buildOptions({ context: ctx, destinations: [dest], registryMirrors: [mirror.host], skipDefaultRegistryFallback: true }), log);
    expect((await plain.headManifest(parseReference(dest)))?.digest).toBe(r.digest);
    expect(manifestGets(accessLog(mirror.logFile, from), "library/busybox").length).toBeGreaterThan(0);
  });

  test("kiln build: a miss without fallback fails naming the image, nothing is pushed", async () => {
    const ctx = writeContext(join(tmp, "miss"), `FROM ${original}\nCOPY f.txt /f.txt\n`, { "f.txt": "x\n" });
    const dest = parseReference(`${reg.host}/mirrortest/never:1`);
    const { log } = recordingLogger();
    const opts = buildOptions({ context: ctx, destinations: [dest.toString()], registryMaps: { [reg.host]: [mirror.host] }, skipDefaultRegistryFallback: true });
    await expect(build(opts, log)).rejects.toThrow(/not found on any mirror and --skip-default-registry-fallback is set/);
    expect(await plain.headManifest(dest)).toBeUndefined();
  });
});
