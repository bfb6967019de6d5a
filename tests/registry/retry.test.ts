// Retries: a loopback fault proxy (tests/hardening/proxy.ts) in front of the real registry injects
// 503 / 429 answers.
import { afterAll, describe, expect, test } from "bun:test";
import { baseImages, registry } from "../env.ts";
import { startFaultProxy, type Fault } from "../hardening/proxy.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";

describe("retries", async () => {
  const reg = await registry();
  const refs = await baseImages();
  const proxy = await startFaultProxy(reg.host);
  afterAll(() => proxy.close());
  const host = proxy.host;
  const ref = parseReference(`${host}/${parseReference(refs.busybox).repository}:latest`);
  // Each fault answers one request after the ping (/v2/), in order; the log counts every request.
  const inject = (...faults: Fault[]) => {
    for (const fault of faults) proxy.add({ path: /^\/v2\/./, fault, times: 1 });
  };
  const seen = () => proxy.log.length;

  test("5xx and 429 are retried, Retry-After is honoured", async () => {
    const client = new RegistryClient({ retryDelayMs: 10 });
    await client.ping(host);
    proxy.reset();
    inject({ kind: "status", status: 503 }, { kind: "status", status: 429, headers: { "retry-after": "1" } }, { kind: "status", status: 502 });
    const t0 = Date.now();
    const m = await client.getManifest(ref);
    expect(m.digest).toMatch(/^sha256:/);
    expect(seen()).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  test("other 4xx are not retried; giving up names the registry", async () => {
    const client = new RegistryClient({ retryDelayMs: 1, retries: 2 });
    await client.ping(host);
    proxy.reset();
    inject({ kind: "status", status: 400 });
    await expect(client.getManifest(ref)).rejects.toThrow(new RegExp(`registry ${host.replace(/\./g, "\\.")} answered 400`));
    expect(seen()).toBe(1);
    inject({ kind: "status", status: 500 }, { kind: "status", status: 500 }, { kind: "status", status: 500 });
    await expect(client.getManifest(ref)).rejects.toThrow(/answered 500/);
  });

  test("a manifest PUT answered DIGEST_INVALID or MANIFEST_BLOB_UNKNOWN is asked again, twice at most", async () => {
    // What distribution answers while a concurrent upload of a named blob rewrites its link file.
    const client = new RegistryClient({ retryDelayMs: 1 });
    await client.ping(host);
    const m = await client.getManifest(ref);
    const to = ref.withTag(`race-${Date.now()}`);
    const putFault = (code: string) => proxy.add({ method: "PUT", path: /\/manifests\//, fault: { kind: "status", status: 400, code }, times: 1 });
    proxy.reset();
    putFault("DIGEST_INVALID");
    putFault("MANIFEST_BLOB_UNKNOWN");
    expect(await client.putManifest(to, m.bytes, m.mediaType)).toBe(m.digest);
    expect(proxy.log.map((l) => l.outcome)).toEqual(["fault 400", "fault 400", "201"]);
    expect((await client.getManifest(to)).digest).toBe(m.digest);
    proxy.reset();
    for (let i = 0; i < 3; i++) putFault("DIGEST_INVALID");
    await expect(client.putManifest(to, m.bytes, m.mediaType)).rejects.toThrow(/answered 400 \(DIGEST_INVALID/);
    expect(proxy.log).toHaveLength(3);
    proxy.reset();
    putFault("MANIFEST_INVALID");
    await expect(client.putManifest(to, m.bytes, m.mediaType)).rejects.toThrow(/MANIFEST_INVALID/);
    expect(proxy.log).toHaveLength(1);
  });
});
