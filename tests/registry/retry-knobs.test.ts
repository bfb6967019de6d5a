// kaniko's retry and pull/push knobs on the registry client: --push-retry, --image-download-retry,
// --image-fs-extract-retry, --push-ignore-immutable-tag-errors, --insecure-pull,
// --skip-tls-verify-pull, and negative counts refused. Faults come from the loopback fault proxy
// (tests/hardening/proxy.ts) in front of the real registry; transport retries are off (retries: 0)
// so every extra attempt seen is the knob's.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseLayouts, registry, tlsRegistry } from "../env.ts";
import { startFaultProxy, type Fault } from "../hardening/proxy.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import type { Layer } from "../../src/image/image.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { unpackLayers } from "../../src/executor/images.ts";
import { recordingLogger } from "./build-options.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-knobs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("retry knobs", async () => {
  const reg = await registry();
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  const proxy = await startFaultProxy(reg.host);
  afterAll(() => proxy.close());
  const src = parseReference(`${proxy.host}/knobs/busybox:latest`);
  await pushImage(new RegistryClient(), img, src);
  const fault = (method: string, path: RegExp, f: Fault, times: number) => proxy.add({ method, path, fault: f, times });
  const outcomes = (method: string, path: RegExp) => proxy.log.filter((l) => l.method === method && path.test(l.path)).map((l) => l.outcome);
  const MANIFEST = /\/manifests\//;
  const quick = { retries: 0, retryDelayMs: 1 };

  test("--image-download-retry: the download is tried again after 5xx, as many times as asked", async () => {
    proxy.reset();
    fault("GET", MANIFEST, { kind: "status", status: 503 }, 2);
    expect((await fetchImage(new RegistryClient({ ...quick, imageDownloadRetry: 2 }), src)).manifestDigest).toBe(img.manifestDigest);
    expect(outcomes("GET", MANIFEST)).toEqual(["fault 503", "fault 503", "200"]);
    proxy.reset();
    fault("GET", MANIFEST, { kind: "status", status: 503 }, 2);
    await expect(fetchImage(new RegistryClient({ ...quick, imageDownloadRetry: 1 }), src)).rejects.toThrow(/answered 503/);
  });

  test("--image-download-retry does not retry a missing image", async () => {
    proxy.reset();
    await expect(fetchImage(new RegistryClient({ ...quick, imageDownloadRetry: 3 }), src.withTag("missing"))).rejects.toThrow(/manifest unknown/);
    expect(outcomes("GET", MANIFEST)).toEqual(["404"]);
  });

  test("--push-retry: a failed push is tried again; blobs already pushed are not sent twice", async () => {
    const dest = parseReference(`${proxy.host}/knobs/pushed:retry`);
    proxy.reset();
    fault("PUT", MANIFEST, { kind: "status", status: 503 }, 1);
    await expect(pushImage(new RegistryClient(quick), img, dest)).rejects.toThrow(/answered 503/);
    proxy.reset();
    fault("PUT", MANIFEST, { kind: "status", status: 503 }, 1);
    expect((await pushImage(new RegistryClient({ ...quick, pushRetry: 1 }), img, dest)).digest).toBe(img.manifestDigest);
    expect(outcomes("PUT", MANIFEST)).toEqual(["fault 503", "201"]);
    expect(outcomes("PUT", /\/blobs\/uploads\//)).toEqual([]);
  });

  test("--push-retry does not retry a refusal", async () => {
    proxy.reset();
    fault("PUT", MANIFEST, { kind: "status", status: 400, code: "MANIFEST_INVALID" }, 5);
    await expect(pushImage(new RegistryClient({ ...quick, pushRetry: 3 }), img, parseReference(`${proxy.host}/knobs/pushed:refused`))).rejects.toThrow(/answered 400/);
    expect(outcomes("PUT", MANIFEST)).toHaveLength(1);
  });

  test("--push-ignore-immutable-tag-errors: an immutable tag counts as pushed, with a warning; other refusals still fail", async () => {
    const dest = parseReference(`${proxy.host}/knobs/pushed:immutable`);
    const ecr = { kind: "status", status: 400, code: "TAG_INVALID", message: "The image tag 'immutable' already exists in the 'knobs/pushed' repository and cannot be overwritten because the repository is immutable." } as const;
    proxy.reset();
    fault("PUT", MANIFEST, ecr, 1);
    await expect(pushImage(new RegistryClient(quick), img, dest)).rejects.toThrow(/TAG_INVALID/);
    const warnings: string[] = [];
    proxy.reset();
    fault("PUT", MANIFEST, { kind: "status", status: 403, code: "DENIED", message: "The tag:immutable is immutable, cannot be overwrite." }, 1);
    const r = await pushImage(new RegistryClient({ ...quick, pushIgnoreImmutableTagErrors: true, warn: (l) => warnings.push(l) }), img, dest);
    expect(r.digest).toBe(img.manifestDigest);
    expect(warnings.join("\n")).toMatch(/immutable.*--push-ignore-immutable-tag-errors/);
    proxy.reset();
    fault("PUT", MANIFEST, { kind: "status", status: 400, code: "TAG_INVALID", message: "bad tag" }, 1);
    await expect(pushImage(new RegistryClient({ ...quick, pushIgnoreImmutableTagErrors: true }), img, dest)).rejects.toThrow(/TAG_INVALID: bad tag/);
  });

  test("negative retry counts are refused, naming the flag", () => {
    expect(() => new RegistryClient({ pushRetry: -1 })).toThrow(/--push-retry: want a whole number of retries ≥ 0, got -1/);
    expect(() => new RegistryClient({ imageDownloadRetry: -2 })).toThrow(/--image-download-retry: .* got -2/);
    expect(() => new RegistryClient({ retries: 1.5 })).toThrow(/retries: .* got 1\.5/);
  });

  test("--image-fs-extract-retry: a failed extraction is tried again; negative is refused", async () => {
    const real = img.layers[0]!;
    let opens = 0;
    // The same bytes, but not on local disk, and the first open fails (a broken-off download).
    const flaky: Layer = { ...real, path: undefined, open: async () => (++opens === 1 ? Promise.reject(new Error("connection reset")) : real.open()) };
    const { log, lines } = recordingLogger();
    const dir = join(tmp, "rootfs");
    for (const d of [dir, join(tmp, "rootfs0"), join(tmp, "blobs0"), join(tmp, "blobs")]) mkdirSync(d);
    await expect(unpackLayers([flaky], join(tmp, "rootfs0"), join(tmp, "blobs0"), log)).rejects.toThrow(/connection reset/);
    opens = 0;
    await unpackLayers([flaky], dir, join(tmp, "blobs"), log, { extractRetries: 1 });
    expect(opens).toBe(2);
    expect(existsSync(join(dir, "bin", "busybox"))).toBe(true);
    expect(lines.join("\n")).toContain("--image-fs-extract-retry 1 of 1");
    await expect(unpackLayers([flaky], dir, join(tmp, "blobs"), log, { extractRetries: -1 })).rejects.toThrow(/--image-fs-extract-retry: .* got -1/);
  });
});

describe("pull-only transport settings", async () => {
  const reg = await registry();
  const tls = await tlsRegistry();
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  const onPlain = parseReference(`${reg.host}/knobs/insecure-pull:1`);
  const onTls = parseReference(`${tls.host}/knobs/tls-pull:1`);
  await pushImage(new RegistryClient(), img, [onPlain]);
  await pushImage(new RegistryClient(), img, [onTls]);
  // secureLoopback: the loopback registries are treated as remote ones (verified TLS, no plain HTTP).
  const strict = { secureLoopback: true, retries: 0 };

  test("--insecure-pull: pulls may use plain HTTP, pushes may not", async () => {
    await expect(fetchImage(new RegistryClient(strict), onPlain)).rejects.toThrow(/cannot reach registry/);
    const client = new RegistryClient({ ...strict, insecurePull: true });
    expect((await fetchImage(client, onPlain)).manifestDigest).toBe(img.manifestDigest);
    await expect(pushImage(client, img, onPlain.withTag("pushed"))).rejects.toThrow(/cannot reach registry/);
  });

  test("--skip-tls-verify-pull: pulls skip verification, pushes do not", async () => {
    await expect(fetchImage(new RegistryClient(strict), onTls)).rejects.toThrow(/--registry-certificate/);
    const client = new RegistryClient({ ...strict, skipTlsVerifyPull: true });
    expect((await fetchImage(client, onTls)).manifestDigest).toBe(img.manifestDigest);
    await expect(pushImage(client, img, onTls.withTag("pushed"))).rejects.toThrow(/--registry-certificate/);
  });
});
