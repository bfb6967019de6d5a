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
});
