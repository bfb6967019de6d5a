// --registry-client-cert: mutual TLS against a registry that requires a client certificate
// (distribution's http.tls.clientcas), on Bun in-process and on Deno through kiln copy.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { baseLayouts, mtlsRegistry } from "../env.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { parseReference } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";

const root = join(import.meta.dir, "..", "..");

describe("mutual TLS", async () => {
  const reg = await mtlsRegistry();
  const cc = reg.clientCert!;
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  const ref = parseReference(`${reg.host}/mtls/busybox:1`);
  const withCert = { secureLoopback: true, registryCertificates: { [reg.host]: reg.caFile! }, registryClientCerts: { [reg.host]: { cert: cc.certFile, key: cc.keyFile } } };

  test("without a client certificate the registry refuses the connection", async () => {
    const client = new RegistryClient({ secureLoopback: true, registryCertificates: { [reg.host]: reg.caFile! }, retries: 0 });
    await expect(client.ping(reg.host)).rejects.toThrow(new RegExp(`cannot reach registry ${reg.host.replace(/\./g, "\\.")}`));
  });

  test("with --registry-client-cert: push and pull", async () => {
    const client = new RegistryClient(withCert);
    expect((await pushImage(client, img, ref)).digest).toBe(img.manifestDigest);
    const got = await fetchImage(new RegistryClient(withCert), ref);
    expect(got.manifestDigest).toBe(img.manifestDigest);
  });

  test("the certificate is matched by host:port or host, and applies to pulls with --skip-tls-verify-pull", async () => {
    const byName = { cert: cc.certFile, key: cc.keyFile };
    const client = new RegistryClient({ secureLoopback: true, skipTlsVerifyPull: true, registryClientCerts: { "127.0.0.1": byName } });
    expect((await fetchImage(client, ref)).manifestDigest).toBe(img.manifestDigest);
  });

  test("an unreadable certificate file names the flag and the file", async () => {
    const client = new RegistryClient({ secureLoopback: true, registryClientCerts: { [reg.host]: { cert: "/nonexistent/c.pem", key: cc.keyFile } } });
    await expect(client.ping(reg.host)).rejects.toThrow(/--registry-client-cert for 127\.0\.0\.1:\d+: cannot read \/nonexistent\/c\.pem/);
  });

  test("deno: the same client certificate through Deno's fetch", () => {
    const script = `
      import { RegistryClient } from "${join(root, "src/registry/client.ts")}";
      import { parseReference } from "${join(root, "src/image/reference.ts")}";
      const c = new RegistryClient(${JSON.stringify(withCert)});
      const d = await c.headManifest(parseReference(${JSON.stringify(ref.toString())}));
      console.log(d?.digest);`;
    const r = spawnSync(join(root, "node_modules/.bin/deno"), ["eval", "--ext=ts", script], { encoding: "utf8", cwd: root });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(img.manifestDigest);
  });
});
