// Retries: a loopback proxy in front of the real registry injects 503 / 429 answers.
import { afterAll, describe, expect, test } from "bun:test";
import { createServer } from "node:http";
import { baseImages, registry } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";

describe("retries", async () => {
  const reg = await registry();
  const refs = await baseImages();
  const faults: { status: number; headers?: Record<string, string> }[] = [];
  let seen = 0;
  const proxy = createServer(async (req, res) => {
    seen++;
    const f = req.url !== "/v2/" ? faults.shift() : undefined;
    if (f) return void res.writeHead(f.status, f.headers ?? {}).end("{}");
    const up = await fetch(`http://${reg.host}${req.url}`, { method: req.method, headers: { accept: String(req.headers.accept ?? "*/*") } });
    const headers: Record<string, string> = {};
    up.headers.forEach((v, k) => (headers[k] = v));
    delete headers["content-encoding"];
    res.writeHead(up.status, headers).end(req.method === "HEAD" ? undefined : Buffer.from(await up.arrayBuffer()));
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  afterAll(() => void proxy.close());
  const host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const ref = parseReference(`${host}/${parseReference(refs.busybox).repository}:latest`);

  test("5xx and 429 are retried, Retry-After is honoured", async () => {
    const client = new RegistryClient({ retryDelayMs: 10 });
    await client.ping(host);
    faults.push({ status: 503 }, { status: 429, headers: { "retry-after": "1" } }, { status: 502 });
    const t0 = Date.now();
    seen = 0;
    const m = await client.getManifest(ref);
    expect(m.digest).toMatch(/^sha256:/);
    expect(seen).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  test("other 4xx are not retried; giving up names the registry", async () => {
    const client = new RegistryClient({ retryDelayMs: 1, retries: 2 });
    await client.ping(host);
    faults.push({ status: 400 });
    seen = 0;
    await expect(client.getManifest(ref)).rejects.toThrow(new RegExp(`registry ${host.replace(/\./g, "\\.")} answered 400`));
    expect(seen).toBe(1);
    faults.push({ status: 500 }, { status: 500 }, { status: 500 });
    await expect(client.getManifest(ref)).rejects.toThrow(/answered 500/);
  });
});
